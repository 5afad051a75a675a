"""Staged optax optimisers: rates per step from the schedule, state reset at stage starts."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxinv.core import paper_momentum, staged
from jaxinv.core.schedules import Schedule


def trajectory(tx, steps, x0):
    """Minimise ½‖Ax − b‖² for ``steps`` steps; the iterates."""
    a = jnp.asarray(np.random.default_rng(0).normal(size=(6, 4)), jnp.float32)
    b = jnp.ones(6, jnp.float32)
    grad = jax.grad(lambda x: 0.5 * jnp.sum((a @ x - b) ** 2))
    x, state, out = x0, tx.init(x0), []
    for _ in range(steps):
        updates, state = tx.update(grad(x), state, x)
        x = optax.apply_updates(x, updates)
        out.append(np.asarray(x))
    return np.stack(out)


def test_staged_sgd_momentum_is_the_papers_momentum():
    """optax's v ← g + μv, x ← x − ηv equals the authors' v ← μv − ηg within a stage of constant
    rate; with the state reset at each stage start, across stages too."""
    schedule = Schedule.of([(0.01, 7), (0.001, 5), (0.0001, 4)])
    x0 = jnp.ones(4, jnp.float32)
    ours = trajectory(staged(lambda learning_rate: optax.sgd(learning_rate, momentum=0.9), schedule), 16, x0)
    authors = trajectory(paper_momentum(schedule), 16, x0)
    np.testing.assert_allclose(ours, authors, rtol=1e-5)


def test_without_reset_the_velocity_carries_over():
    schedule = Schedule.of([(0.01, 5), (0.001, 5)])
    x0 = jnp.ones(4, jnp.float32)
    make = lambda learning_rate: optax.sgd(learning_rate, momentum=0.9)  # noqa: E731
    reset = trajectory(staged(make, schedule), 10, x0)
    carried = trajectory(staged(make, schedule, reset=False), 10, x0)
    np.testing.assert_array_equal(reset[:5], carried[:5])
    assert np.abs(reset[5:] - carried[5:]).max() > 1e-6


def test_rates_follow_the_schedule():
    schedule = Schedule.of([(0.5, 2), (0.25, 2)])
    tx = staged(optax.sgd, schedule)
    state = tx.init(jnp.zeros(1))
    seen = []
    for _ in range(4):
        updates, state = tx.update(jnp.ones(1), state, jnp.zeros(1))
        seen.append(float(-updates[0]))
    assert seen == [0.5, 0.5, 0.25, 0.25]


def test_a_restart_flag_and_a_state_reset_are_the_same_numbers():
    """The authors' transformations reset themselves (``reset="restart"``, their arithmetic to the
    bit); setting their state back to zeros instead (``reset=True``) is the same rule."""
    from jaxinv.core import heavy_ball

    schedule = Schedule.of([(0.01, 6), (0.001, 6)])
    x0 = jnp.ones(4, jnp.float32)
    restarted = trajectory(staged(heavy_ball, schedule, reset="restart"), 12, x0)
    zeroed = trajectory(staged(heavy_ball, schedule), 12, x0)
    np.testing.assert_allclose(restarted, zeroed, rtol=1e-6)
    carried = trajectory(staged(heavy_ball, schedule, reset=False), 12, x0)
    assert np.abs(carried[6:] - restarted[6:]).max() > 1e-6


def test_an_unknown_reset_is_refused():
    import pytest

    from jaxinv.errors import JaxinvError

    with pytest.raises(JaxinvError, match="reset='sometimes'; use True, False or 'restart'"):
        staged(optax.sgd, Schedule.of([(0.1, 2)]), reset="sometimes")
