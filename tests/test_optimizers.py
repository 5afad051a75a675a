"""The optimisers against plain numpy loops of METHOD.md §2.1 / §2.3 on the same gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxinv import program
from jaxinv.core import adagrad_momentum, heavy_ball, solver, staged_tables
from jaxinv.core.schedules import PRESETS, Schedule, resolve_schedule
from jaxinv.core.settings import IJCVObjective, PaperObjective
from jaxinv.errors import JaxinvError
from jaxinv.representations.pooling import average_pool

STAGES = Schedule.of([(0.004, 10), (0.0004, 20), (0.00004, 10)])


def _problem(objective, schedule=STAGES, chunk=10):
    """The representation and the solver of one problem under ``objective``'s preset."""
    rep = average_pool(factor=2)
    name = "ijcv" if isinstance(objective, IJCVObjective) else "paper"
    return rep, solver(rep, name, image_shape=(16, 16, 3), schedule=schedule, config=objective)


def _target(rep):
    picture = np.asarray(jax.random.uniform(jax.random.key(3), (16, 16, 3)) * 255)
    return rep.code(rep.preprocess(picture))


def _run_stage_ends(problem, rep, target, carry, chunk=10):
    """The variable after each chunk of the runner's program (chunk = 10 steps, stages end at 10, 30, 40)."""
    skeleton, arrays = program.split_solver(problem)
    prog = program.Program(skeleton, chunk=chunk, steps=problem.schedule.total)
    ends = []
    carries = jax.tree.map(lambda a: a[None], carry)
    for t0 in range(0, problem.schedule.total, chunk):
        carries, _ = program.advance_chunk(prog, arrays, target[None], None, carries, jnp.int32(t0))
        ends.append(np.asarray(carries.variables[0]))
    return ends


def test_momentum_with_reset_matches_numpy_loop():
    rep, problem = _problem(PaperObjective(lambda_tv=0.5))
    target = _target(rep)
    carry = problem.init(jax.random.key(0))
    grad = jax.jit(jax.grad(lambda v: problem.energy(v, target)[0]))
    got = _run_stage_ends(problem, rep, target, carry)

    x = np.asarray(carry.variables, np.float64)
    v = np.zeros_like(x)
    expected = []
    for lr, n in [(0.004, 10), (0.0004, 20), (0.00004, 10)]:
        v[:] = 0.0  # the momentum buffer is zeroed whenever the learning rate changes
        for _ in range(n):
            v = 0.9 * v - lr * np.asarray(grad(jnp.asarray(x, jnp.float32)), np.float64)
            x = x + v
        expected.append(x.copy())
    for index, want in zip([0, 2, 3], expected):
        rel = np.linalg.norm(got[index] - want) / np.linalg.norm(want)
        assert rel < 1e-5, (index, rel)


def test_adagrad_momentum_matches_numpy_loop():
    rep, problem = _problem(IJCVObjective(jitter=1, data_weight=10.0))
    target = _target(rep)
    carry = problem.init(jax.random.key(1))
    grad = jax.jit(jax.grad(lambda v: problem.energy(v, target)[0]))
    got = _run_stage_ends(problem, rep, target, carry)
    base = 16 * 16 * 0.05 * 80.0 ** 2 / 6.0
    x = np.asarray(carry.variables, np.float64)
    v = np.zeros_like(x)
    g2 = np.zeros_like(x)
    expected = []
    for mult, n in [(0.004, 10), (0.0004, 20), (0.00004, 10)]:
        v[:] = 0.0  # G is not reset: the authors' `adagraD` typo
        lr = base * mult
        for _ in range(n):
            g = np.asarray(grad(jnp.asarray(x, jnp.float32)), np.float64)
            g2 = 0.9 * g2 + g * g
            v = 0.9 * v - g / (1 / lr + np.sqrt(g2))
            x = x + v
            norm = np.linalg.norm(x, axis=-1, keepdims=True)
            x = x * np.minimum(1.0, 160.0 / np.maximum(norm, 160.0))
        expected.append(x.copy())
    for index, want in zip([0, 2, 3], expected):
        rel = np.linalg.norm(got[index] - want) / np.linalg.norm(want)
        assert rel < 1e-5, (index, rel)


def test_optax_trace_differs_without_reset():
    """Why the custom transformation: optax.sgd carries the velocity across a rate change."""
    rates = np.array([1.0, 1.0, 0.1, 0.1], np.float32)
    starts = np.array([True, False, True, False])
    tx = staged_tables(heavy_ball, rates, starts)
    params = jnp.zeros(())
    state = tx.init(params)
    ups = []
    for _ in range(4):
        u, state = tx.update(jnp.ones(()), state)
        ups.append(float(u))
    np.testing.assert_allclose(ups, [-1.0, -1.9, -0.1, -0.19], rtol=1e-6)
    sgd = optax.sgd(optax.piecewise_constant_schedule(1.0, {2: 0.1}), momentum=0.9)
    s2 = sgd.init(params)
    u2 = []
    for _ in range(4):
        u, s2 = sgd.update(jnp.ones(()), s2)
        u2.append(float(u))
    assert abs(u2[2] - ups[2]) > 0.05


def test_adagrad_momentum_state_is_a_pytree_and_jits():
    tx = staged_tables(adagrad_momentum, np.ones(3, np.float32), np.array([True, False, False]))
    params = {"a": jnp.ones(2), "b": jnp.zeros(())}
    state = tx.init(params)
    update = jax.jit(tx.update)
    u, state = update(params, state)
    assert set(u) == {"a", "b"} and int(state.count) == 1


def test_schedule_presets_and_validation():
    assert PRESETS["cnn"].total == 400
    assert PRESETS["shallow"].total == 800
    rates, starts, _ = PRESETS["cnn"].per_step()
    assert np.flatnonzero(starts).tolist() == [0, 100, 300]
    np.testing.assert_allclose(rates[[0, 100, 300]], [0.004, 0.0004, 0.00004], rtol=1e-6)
    assert resolve_schedule([(0.1, 3)]).total == 3
    for bad in ([(0.1, 0)], [(0.1, -5)], [(-0.1, 3)], "nope", []):
        with pytest.raises(JaxinvError):
            resolve_schedule(bad)


def test_shortened_scales_iterations_and_keeps_the_rest():
    """Scripts call ``shortened`` unconditionally, so factor 1 must give back an equal schedule."""
    for schedule in PRESETS.values():
        assert schedule.shortened(1.0) == schedule
    short = PRESETS["cnn"].shortened(0.1)
    assert [s.iterations for s in short.stages] == [10, 20, 10]
    assert [s.learning_rate for s in short.stages] == [s.learning_rate for s in PRESETS["cnn"].stages]
    assert all(s.iterations == 1 for s in PRESETS["cnn"].shortened(1e-6).stages)


def test_the_0_1_optimisers_warn_and_are_the_staged_ones():
    from jaxinv import optimizers

    rates, starts = np.array([1.0, 0.5, 0.1], np.float32), np.array([True, False, True])
    with pytest.warns(DeprecationWarning, match="jaxinv.core"):
        old = optimizers.momentum_with_reset(rates, starts)
    new = staged_tables(heavy_ball, rates, starts)

    def updates(tx):
        state, seen = tx.init(jnp.zeros(2)), []
        for _ in range(3):
            update, state = tx.update(jnp.ones(2), state)
            seen.append(np.asarray(update))
        return np.stack(seen)

    np.testing.assert_array_equal(updates(old), updates(new))
    with pytest.warns(DeprecationWarning):
        optimizers.adagrad_momentum_with_reset(rates, starts)
