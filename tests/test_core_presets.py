"""The fast preset: the paper's objective and start on another path (`jaxinv.core.presets.fast_preset`)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxinv
from jaxinv.core import Fourier, PaperObjective, fast_preset, paper_preset, prior
from jaxinv.core.presets import FAST_SCHEDULES
from jaxinv.core.priors import fast_schedule
from jaxinv.core.schedules import resolve_schedule
from jaxinv.images import default_picture, resize


@functools.lru_cache(maxsize=None)
def astronaut(size: int) -> np.ndarray:
    return resize(default_picture("astronaut"), (size, size))


def test_fast_objective_is_the_papers_at_the_same_picture():
    """Same function: at any u the fast preset's energy (each term and the total) is the paper's."""
    rep = jaxinv.registry.get("hog")
    shape = (40, 48, 1)
    config = PaperObjective(lambda_tv=rep.lambda_tv, lambda_alpha=rep.lambda_alpha)
    paper = paper_preset(config, resolve_schedule("shallow"), shape).solver(rep.features, rep.params, image_shape=shape)
    fast = fast_preset(config, fast_schedule("shallow"), shape).solver(rep.features, rep.params, image_shape=shape)
    assert fast.objective == paper.objective
    target = rep.features(rep.params, jnp.asarray(rep.preprocess(astronaut(64)[:40, :48])))
    u = paper.init(jax.random.key(7)).variables + 0.002 * jax.random.normal(jax.random.key(8), (1, *shape))
    with jax.default_matmul_precision("highest"):
        total_p, terms_p = paper.energy(u, target)
        total_f, terms_f = fast.energy(Fourier().variables_for(u), target)
    np.testing.assert_allclose(terms_f, terms_p, rtol=1e-4)
    np.testing.assert_allclose(total_f, total_p, rtol=1e-4)
    np.testing.assert_allclose(fast.image(fast.init(jax.random.key(7))), paper.image(paper.init(jax.random.key(7))),
                               rtol=0, atol=1e-3)  # the same start picture (σ ≈ 27098 grey levels per unit of u)


def test_fast_is_the_paper_prior_with_its_lambdas_and_a_short_schedule():
    rep = jaxinv.registry.get("dsift")
    chosen = prior("fast", rep, image_shape=(64, 64, 1), lambda_tv=2.0)
    assert chosen.name == "fast" and chosen.schedule == fast_schedule("shallow")
    assert chosen.schedule.total * 4 == resolve_schedule("shallow").total
    assert chosen.objective == prior("paper", rep, image_shape=(64, 64, 1), lambda_tv=2.0).objective
    cnn = jaxinv.cnn("squeezenet1_1", layer="fire5", weights=None)
    assert prior("fast", cnn).schedule == fast_schedule("cnn") and fast_schedule("cnn").total == 150
    with pytest.raises(jaxinv.JaxinvError, match="takes no option data_weight"):
        prior("fast", rep, image_shape=(64, 64, 1), data_weight=1.0)


def test_fast_is_deterministic_for_a_key_and_runs_under_jit_vmap_over_keys():
    rep = jaxinv.average_pool(factor=2)
    shape = (32, 32, 3)
    solver = prior("fast", rep, image_shape=shape, schedule=[(5e-5, 12), (5e-6, 8)]).solver(
        rep.features, None, image_shape=shape)
    target = rep.features(None, jnp.asarray(rep.preprocess(astronaut(32))))
    keys = jax.random.split(jax.random.key(4), 3)
    states, energies = jax.jit(jax.vmap(solver.run, in_axes=(0, None)))(keys, target)
    again, _ = jax.jit(jax.vmap(solver.run, in_axes=(0, None)))(keys, target)
    np.testing.assert_array_equal(np.asarray(states.variables), np.asarray(again.variables))
    one, one_energy = jax.jit(solver.run)(keys[1], target)
    np.testing.assert_allclose(np.asarray(one_energy), np.asarray(energies[1]), rtol=1e-5)
    assert energies.shape == (3, 20, 4) and np.all(np.isfinite(energies))
    assert not np.allclose(np.asarray(states.variables[0]), np.asarray(states.variables[1]))


def test_fast_reaches_the_papers_final_error_on_dsift_in_a_quarter_of_the_steps():
    """64×64 astronaut, the presets' own schedules: 200 fast steps end at 0.00064, 800 paper steps at 0.00136."""
    rep = jaxinv.registry.get("dsift")
    paper = jaxinv.invert(rep, astronaut(64), prior="paper", key=jax.random.key(0))
    fast = jaxinv.invert(rep, astronaut(64), prior="fast", key=jax.random.key(0))
    assert fast.prior == "fast" and fast.energy.shape[1] * 4 == paper.energy.shape[1]
    assert float(fast.errors[0]) <= float(paper.errors[0])


def test_fast_descends_hog_along_bilinear_binnings_derivative():
    """Hard-binned HOG, 64×64 astronaut: the fast prior's energy is HOG's, its path HOGb's derivative's,
    and its 200 steps end below the paper's 800 (its own derivative's 200 do not)."""
    rep = jaxinv.registry.get("hog")
    fast = prior("fast", rep, image_shape=(64, 64, 1))
    exact = prior("fast", rep, image_shape=(64, 64, 1), smooth=False)
    assert fast.objective == exact.objective and exact.descent is None
    assert fast.solver(rep.features, None, image_shape=(64, 64, 1)).features == rep.features.smooth_gradient()
    errors = {name: float(jaxinv.invert(rep, astronaut(64), prior=chosen, key=jax.random.key(0)).errors[0])
              for name, chosen in (("paper", "paper"), ("fast", fast), ("exact", exact))}
    assert errors["fast"] < errors["paper"] < errors["exact"], errors


def test_a_representation_may_have_its_own_fast_schedule():
    fire9 = jaxinv.cnn("squeezenet1_1", layer="fire9", weights=None)
    assert fast_schedule(fire9) == FAST_SCHEDULES["squeezenet1_1:fire9/concat"] != fast_schedule("cnn")
    assert prior("fast", fire9).schedule.total == 200
    assert fast_schedule(jaxinv.cnn("squeezenet1_1", layer="fire5", weights=None)) == fast_schedule("cnn")
    assert fast_schedule(jaxinv.registry.get("hogb")) == fast_schedule("shallow") == FAST_SCHEDULES["shallow"]
