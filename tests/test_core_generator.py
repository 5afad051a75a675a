"""The Deep Image Prior parametrisation (jaxinv.core.generator) through the pure solver: the
generator maps its noise into the input range, its weights get the gradient finite differences
give, the optimiser never moves the noise, same key same bits, jit(vmap) over keys equals
separate runs, and DIP inverts average pooling and pretrained SqueezeNet fire5 at reduced size."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxinv
from conftest import shared_weights
from jaxinv.core import InputMap, NormalisedData, Solver, ToInput, input_map
from jaxinv.core.generator import DeepImagePrior, noise_frozen
from jaxinv.images import default_picture, resize

#: a small generator (three levels, 3×3 kernels) that keeps the tests within seconds
SMALL = DeepImagePrior(channels=(8, 16, 16), skip_channels=(4, 4, 4), kernels=(3, 3, 3), noise_channels=8,
                       input_map=InputMap(offset=(-128.0, -128.0, -128.0)))
#: one level: for what does not depend on depth (its programs compile about 3× faster than SMALL's)
ONE_LEVEL = dataclasses.replace(SMALL, channels=(8,), skip_channels=(4,), kernels=(3,))


@functools.lru_cache(maxsize=None)
def pooled_problem(size=32):
    """Average pooling ×2 of a centred picture (x = picture − 128, the prior's input map)."""
    rep = jaxinv.average_pool(factor=2)
    x0 = jnp.asarray(rep.preprocess(resize(default_picture("astronaut"), (size, size))))
    return rep, rep.features(rep.params, x0)


def dip_solver(rep, prior, optimizer, steps, size=32, copies=1):
    return Solver(rep.features, rep.params, NormalisedData().as_objective(), prior, optimizer,
                  schedule=jaxinv.core.Schedule.of([(1.0, steps)]), image_shape=(size, size, 3), copies=copies)


def test_generator_maps_noise_into_the_input_range_and_copies_are_independent():
    variables = SMALL.init(jax.random.key(0), (33, 30, 3), 2)  # odd and even sizes
    assert variables["noise"].shape == (2, 33, 30, 8)
    assert float(variables["noise"].min()) >= 0 and float(variables["noise"].max()) < 0.1
    pictures = np.asarray(SMALL.pictures(variables))
    assert pictures.shape == (2, 33, 30, 3)
    assert pictures.min() > 0 and pictures.max() < 255 and pictures.std() > 1  # sigmoid, not constant
    np.testing.assert_allclose(SMALL.image(variables), pictures - 128.0, atol=1e-4)
    assert np.abs(pictures[0] - pictures[1]).max() > 1  # two generators, two noises
    shapes = SMALL.variable_shape((33, 30, 3), 2)
    assert jax.tree.map(lambda s: s.shape, shapes) == jax.tree.map(jnp.shape, variables)


def test_input_map_plugs_in_as_a_field_or_as_a_wrapper():
    rep, _ = pooled_problem()
    plain = dataclasses.replace(ONE_LEVEL, input_map=InputMap())
    variables = plain.init(jax.random.key(5), (8, 8, 3), 1)
    centred = dataclasses.replace(ONE_LEVEL, input_map=input_map(rep))
    np.testing.assert_allclose(centred.image(variables), plain.image(variables) - 128.0, atol=1e-4)
    np.testing.assert_allclose(ToInput(plain, input_map(rep)).image(variables), centred.image(variables), atol=1e-4)
    hash(centred)  # a static argument of jax.jit


def test_bad_options_are_refused():
    with pytest.raises(jaxinv.JaxinvError, match="one value per level"):
        DeepImagePrior(channels=(8, 8), skip_channels=(4,), kernels=(3, 3))
    with pytest.raises(jaxinv.JaxinvError, match="odd"):
        DeepImagePrior(channels=(8, 8), skip_channels=(4, 4), kernels=(3, 4))
    with pytest.raises(jaxinv.JaxinvError, match="3-channel"):
        SMALL.init(jax.random.key(0), (16, 16, 1), 1)


def test_weights_get_the_finite_difference_gradient_and_the_noise_none():
    rep, target = pooled_problem()
    solver = dip_solver(rep, SMALL, optax.adam(1e-2), 1)
    variables = solver.init(jax.random.key(1)).variables
    with jax.default_matmul_precision("highest"):
        value_and_grad = jax.jit(jax.value_and_grad(lambda v: solver.energy(v, target)[0]))
        _, grad = value_and_grad(variables)
        kernels = [g for path, g in jax.tree_util.tree_leaves_with_path(grad["params"]) if "kernel" in str(path)]
        assert kernels and all(np.all(np.isfinite(k)) and np.abs(k).max() > 0 for k in kernels)
        assert not np.any(np.asarray(grad["noise"]))
        norm = np.sqrt(sum(float(jnp.sum(g ** 2)) for g in jax.tree.leaves(grad["params"])))
        h = 1e-3
        step = lambda s: jax.tree.map(lambda v, g: v + s * h * g / norm, variables, grad)  # noqa: E731
        finite = (float(value_and_grad(step(1.0))[0]) - float(value_and_grad(step(-1.0))[0])) / (2 * h)
    assert finite == pytest.approx(norm, rel=0.05)


def test_dip_inverts_average_pooling_same_key_same_bits_and_never_moves_the_noise():
    rep, target = pooled_problem()
    solver = dip_solver(rep, SMALL, optax.adam(1e-2), 100)
    run = jax.jit(solver.run)
    state, energies = run(jax.random.key(2), target)
    again, energies_again = run(jax.random.key(2), target)
    assert np.array_equal(energies, energies_again)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(state.variables), jax.tree.leaves(again.variables)))
    error = float(solver.evaluate(state.variables, target)[2][0])
    assert float(energies[0, -1]) > 0.5 and error < 1e-2 and int(state.rejected) == 0
    assert np.array_equal(state.variables["noise"], solver.init(jax.random.key(2)).variables["noise"])
    # an optimiser that moves parameters without a gradient (decoupled weight decay) is wrapped
    frozen = dip_solver(rep, ONE_LEVEL, noise_frozen(optax.adamw(1e-2, weight_decay=0.5)), 2)
    start, (decayed, _) = frozen.init(jax.random.key(2)), jax.jit(frozen.run)(jax.random.key(2), target)
    assert np.array_equal(decayed.variables["noise"], start.variables["noise"])
    kernel = lambda state: state.variables["params"]["to_rgb"]["kernel"]  # noqa: E731
    assert not np.array_equal(kernel(decayed), kernel(start))


def test_jit_vmap_over_keys_equals_separate_runs_with_the_noise_perturbed():
    rep, target = pooled_problem(size=16)
    prior = dataclasses.replace(ONE_LEVEL, noise_perturbation=1 / 30)
    solver = dip_solver(rep, prior, optax.adam(1e-2), 3, size=16)
    keys = jax.random.split(jax.random.key(3), 2)
    with jax.default_matmul_precision("highest"):
        states, energies = jax.jit(jax.vmap(solver.run, in_axes=(0, None)))(keys, target)
        single = jax.jit(solver.run)
        for i in range(2):
            state, energy = single(keys[i], target)
            np.testing.assert_allclose(solver.image(jax.tree.map(lambda a: a[i], states.variables)),
                                       solver.image(state), rtol=1e-4, atol=1e-3)
            np.testing.assert_allclose(energies[i], energy, rtol=1e-4)
    assert not np.allclose(energies[0], energies[1])  # two keys, two problems
    variables = prior.init(keys[0], (16, 16, 3), 1)
    assert not np.allclose(prior.image(variables, key=keys[1]), prior.image(variables))  # the step's noise
    np.testing.assert_array_equal(prior.image(variables, key=keys[1], active=False), prior.image(variables))


def test_dip_brings_pretrained_squeezenet_fire5_error_down_tenfold():
    """At 64×64 (fire5 sees 7×7 positions): 100 Adam steps at 1e-2."""
    rep = jaxinv.cnn("squeezenet1_1", layer="fire5",
                     weights=shared_weights() / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel")
    caffe = input_map(rep)  # BGR minus the mean pixel
    picture = resize(default_picture("astronaut"), (64, 64))
    target = rep.features(rep.params, caffe(jnp.asarray(picture, jnp.float32)))
    prior = dataclasses.replace(SMALL, input_map=caffe)
    solver = Solver(rep.features, rep.params, NormalisedData().as_objective(), prior, optax.adam(1e-2),
                    schedule=jaxinv.core.Schedule.of([(1.0, 100)]), image_shape=(64, 64, 3))
    state, energies = jax.jit(solver.run)(jax.random.key(4), target)
    start = float(solver.evaluate(solver.init(jax.random.key(4)).variables, target)[2][0])
    error = float(solver.evaluate(state.variables, target)[2][0])
    assert np.all(np.isfinite(energies)) and error < start / 10, (start, error)
