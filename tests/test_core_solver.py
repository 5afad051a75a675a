"""The pure solver on pretrained SqueezeNet fire5 (ReLUs and max pooling on the way): jit(vmap)
over keys equals separate runs, jax.grad with respect to λ_V matches finite differences, and a
user's own term and optax optimisers work."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxinv
from conftest import shared_weights
from jaxinv import core
from jaxinv.core import NormalisedData, Solver, TotalVariation, run_in_chunks, staged
from jaxinv.errors import JaxinvError
from jaxinv.images import default_picture
from test_core_terms import HuberTV


@functools.lru_cache(maxsize=None)
def fire5():
    rep = jaxinv.cnn("squeezenet1_1", layer="fire5",
                     weights=shared_weights() / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel")
    x0 = jnp.asarray(rep.preprocess(default_picture("astronaut")))
    return rep, rep.features(rep.params, x0)


def test_jit_vmap_over_8_keys_equals_8_runs():
    rep, target = fire5()
    solver = core.solver(rep, "paper", schedule=[(0.004, 3)])
    keys = jax.random.split(jax.random.key(5), 8)
    with jax.default_matmul_precision("highest"):
        states, energies = jax.jit(jax.vmap(solver.run, in_axes=(0, None)))(keys, target)
        single = jax.jit(solver.run)
        for i in range(8):
            state, energy = single(keys[i], target)
            np.testing.assert_allclose(states.variables[i], state.variables, rtol=1e-5, atol=1e-9)
            np.testing.assert_allclose(energies[i], energy, rtol=1e-5)
    assert energies.shape == (8, 3, 4) and not np.any(np.asarray(states.rejected))
    # vmap over targets and keys at once: two pictures, two keys each
    targets = jnp.stack([target, target * 0.5])
    both = jax.jit(jax.vmap(jax.vmap(solver.run, in_axes=(0, None)), in_axes=(None, 0)))(keys[:2], targets)
    np.testing.assert_allclose(both[0].variables[0], states.variables[:2], rtol=1e-4, atol=1e-8)


def with_tv(solver: Solver, lambda_tv) -> Solver:
    weights = list(solver.objective.weights)
    weights[solver.objective.names.index("tv")] = lambda_tv
    return solver.replace(objective=solver.objective.replace(weights=tuple(weights)))


def test_a_sweep_over_lambda_tv_compiles_once_and_vmaps():
    rep, target = fire5()
    solver = core.solver(rep, "paper", schedule=[(0.004, 3)])
    key, lambdas, traces = jax.random.key(0), (0.5, 5.0, 50.0), []

    def final_total(s: Solver) -> jax.Array:
        traces.append(s)
        return s.run(key, target)[1][-1, -1]

    with jax.default_matmul_precision("highest"):
        run = jax.jit(final_total)
        totals = [float(run(with_tv(solver, lam))) for lam in lambdas]
        swept = jax.jit(jax.vmap(lambda lam: final_total(with_tv(solver, lam))))(jnp.asarray(lambdas))
    assert len(traces) == 2  # one trace for the three calls, one for the vmapped sweep
    assert len(set(totals)) == 3
    np.testing.assert_allclose(swept, totals, rtol=1e-5)


def test_grad_with_respect_to_lambda_tv_matches_finite_differences():
    rep, target = fire5()
    solver = core.solver(rep, "paper", schedule=[(0.004, 2)])

    def final_error(lambda_tv):
        s = with_tv(solver, lambda_tv)
        state, _ = s.run(jax.random.key(0), target)
        return s.evaluate(state.variables, target)[2][0]

    with jax.default_matmul_precision("highest"):
        grad = float(jax.jit(jax.grad(final_error))(5.0))
        value = jax.jit(final_error)
        h = 0.5
        finite = float((value(5.0 + h) - value(5.0 - h)) / (2 * h))
    assert np.isfinite(grad) and grad != 0
    assert grad == pytest.approx(finite, rel=0.05)


def test_a_users_term_and_optax_optimisers_invert_fire5():
    rep, target = fire5()
    base = core.solver(rep, "paper", schedule=[(0.004, 30)])
    objective = NormalisedData() + 5.0 * HuberTV(delta=0.01) + 0.0 * TotalVariation()
    cases = {
        "adam, staged": staged(optax.adam, [(0.01, 20), (0.001, 10)]),
        "l-bfgs": optax.lbfgs(),
        "momentum, paper": base.optimizer,
    }
    for name, optimizer in cases.items():
        solver = Solver(rep.features, rep.params, objective, base.parametrisation, optimizer,
                        schedule=jaxinv.core.Schedule.of([(1.0, 30)]), image_shape=base.image_shape)
        state, energies = jax.jit(solver.run)(jax.random.key(1), target)
        error = float(solver.evaluate(state.variables, target)[2][0])
        assert np.all(np.isfinite(energies)), name
        assert error < 0.5 * float(energies[0, 0]), (name, error, float(energies[0, 0]))


def test_steps_taken_one_at_a_time_equal_one_loop_of_them():
    """`advance` of one step is no loop (what `Solver.stepwise` solvers are driven by): three
    host-driven single steps reach the states and energies of one three-step `lax.scan`."""
    rep, target = fire5()
    solver = core.solver(rep, "paper", schedule=[(0.004, 3)])
    assert solver.chunk is None and solver.replace(stepwise=True).chunk == 1
    with jax.default_matmul_precision("highest"):
        looped, energies = jax.jit(lambda s: solver.advance(s, target, 3))(solver.init(jax.random.key(1)))
        one = jax.jit(lambda s: solver.advance(s, target, 1))
        state, single = solver.init(jax.random.key(1)), []
        for _ in range(3):
            state, energy = one(state)
            single.append(energy)
    np.testing.assert_allclose(state.variables, looped.variables, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.concatenate(single), energies, rtol=1e-5)
    assert int(state.step) == int(looped.step) == 3 and np.concatenate(single).shape == (3, 4)
    assert "scan[" not in str(jax.make_jaxpr(lambda s: solver.advance(s, target, 1))(state))
    assert "scan[" in str(jax.make_jaxpr(lambda s: solver.advance(s, target, 2))(state))


def test_run_in_chunks_reaches_the_whole_schedule_of_one_loop():
    """Five steps in chunks of two from the host (the last chunk runs past the schedule's end,
    where steps change nothing) equal one five-step loop, for two vmapped seeds."""
    rep, target = fire5()
    solver = core.solver(rep, "paper", schedule=[(0.004, 5)])
    keys = jax.random.split(jax.random.key(2), 2)
    advance = jax.jit(jax.vmap(lambda s, n: solver.advance(s, target, n), in_axes=(0, None)), static_argnums=1)
    done = []
    with jax.default_matmul_precision("highest"):
        looped, energies = jax.jit(jax.vmap(solver.run, in_axes=(0, None)))(keys, target)
        states, chunked = run_in_chunks(advance, jax.vmap(solver.init)(keys), solver.schedule.total, 2,
                                        on_chunk=done.append)
    assert done == [2, 4, 5] and chunked.shape == energies.shape == (2, 5, 4)
    np.testing.assert_allclose(chunked, energies, rtol=1e-5)
    # float noise only: one step moves these pixels (|x| < 0.01) by up to 2.6e-3
    np.testing.assert_allclose(states.variables, looped.variables, rtol=1e-5, atol=2e-5)
    with pytest.raises(JaxinvError, match="chunk=0"):
        run_in_chunks(advance, states, 5, 0)
