"""Fourier and MACO parametrisations: exact inverse, the 1/f scale by hand, MACO's fixed
amplitude through Adam steps, inversion of a linear representation, jit/vmap, same key same bits."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxinv
from jaxinv.core import (DecorrelatedColour, Fourier, Maco, NormalisedData, Solver, ToInput, TotalVariation,
                         input_map, staged)
from jaxinv.images import default_picture, resize
from jaxinv.core.schedules import Schedule, Stage

SIZE = 32


@functools.lru_cache(maxsize=None)
def avgpool_problem():
    """2×2 average pooling of a 32×32 astronaut (the linear test bed) and its code."""
    rep = jaxinv.average_pool(factor=2)
    picture = resize(default_picture("astronaut"), (SIZE, SIZE))
    return rep, picture, rep.features(None, jnp.asarray(rep.preprocess(picture)))


def avgpool_solver(parametrisation, *, rate: float, steps: int, tv: float = 1e-10, random_views: int = 0) -> Solver:
    """Adam in two stages (rate, rate/10), NormalisedData + tv · TV² on the RGB picture; with
    ``random_views`` > 0 a first stage of that length at ``rate`` with random views, and the
    two stages without them."""
    rep, _, _ = avgpool_problem()
    views = random_views > 0
    stages = [Stage(rate, random_views)] if views else []
    stages += [Stage(rate, steps, jitter=not views), Stage(rate * 0.1, steps, jitter=not views)]
    schedule = Schedule(tuple(stages))
    objective = NormalisedData() + tv * TotalVariation(beta=2.0)
    return Solver(rep.features, None, objective, parametrisation, staged(optax.adam, schedule),
                  schedule=schedule, image_shape=(SIZE, SIZE, 3))


def final_error(solver: Solver, target, key=0) -> float:
    state, _ = jax.jit(solver.run)(jax.random.key(key), target)
    assert int(state.rejected) == 0
    return float(solver.evaluate(state.variables, target)[2][0])


def check_jit_vmap_and_bits(parametrisation) -> None:
    """jit(vmap over 2 keys × 2 targets) of a 3-step run equals the separate runs; same key, same bits.

    Adam's first steps are ±rate wherever a gradient is tiny, so the batched program's other
    summation order shows at ~rate/10 in [0, 255] units: the tolerance is 1e-2 at rate 0.01."""
    _, _, target = avgpool_problem()
    solver = avgpool_solver(parametrisation, rate=0.01, steps=2)
    solver = solver.replace(schedule=Schedule.of([(0.01, 3)]), optimizer=staged(optax.adam, [(0.01, 3)]))
    keys = jax.random.split(jax.random.key(3), 2)
    targets = jnp.stack([target, 0.5 * target])
    with jax.default_matmul_precision("highest"):
        both = jax.jit(jax.vmap(jax.vmap(solver.run, in_axes=(0, None)), in_axes=(None, 0)))(keys, targets)[0]
        single = jax.jit(solver.run)
        for i in range(2):
            for j in range(2):
                one = single(keys[j], targets[i])[0]
                np.testing.assert_allclose(solver.image(jax.tree.map(lambda a: a[i, j], both.variables)),
                                           solver.image(one), rtol=0, atol=1e-2)
        again = single(keys[1], targets[1])[0]
        np.testing.assert_array_equal(np.asarray(solver.image(one)), np.asarray(solver.image(again)))
        other = single(keys[0], targets[1])[0]
        assert not np.array_equal(np.asarray(solver.image(one)), np.asarray(solver.image(other)))


@pytest.mark.parametrize("shape", [(16, 20), (15, 21)])
@pytest.mark.parametrize("decay", [1.0, 1.5])
def test_fourier_map_and_its_inverse_round_trip_a_picture(shape, decay):
    picture = resize(default_picture("astronaut"), shape)[None]
    fourier = Fourier(decay=decay)
    variables = fourier.variables_for(picture)
    assert variables.shape == fourier.variable_shape((*shape, 3), 1)
    np.testing.assert_allclose(fourier.image(variables), picture, atol=2e-3)
    z = jax.random.normal(jax.random.key(0), variables.shape)  # and every variable is an image's
    np.testing.assert_allclose(fourier.variables_for(fourier.image(z)), z, atol=1e-4)


def test_a_single_frequency_variable_is_the_cosine_the_docstring_says():
    h, w, ky, kx = 16, 20, 2, 3
    f0 = 1.0 / 20                                   # the lowest frequency, 1/max(H, W)
    f = np.hypot(ky / h, kx / w)
    y, x = np.mgrid[:h, :w]
    phase = 2 * np.pi * (ky * y / h + kx * x / w)
    for decay in (1.0, 2.0):
        amplitude = 2 * (f0 / f) ** decay
        real = np.zeros((1, 3, h, w), np.float32)
        real[0, 1, ky, kx] = 1.0                    # the real part of coefficient (ky, kx)
        image = np.asarray(Fourier(decay=decay).image(jnp.asarray(real)))
        np.testing.assert_allclose(image[0, :, :, 1], amplitude * np.cos(phase), atol=1e-6)
        assert np.abs(image[..., [0, 2]]).max() == 0.0
        imag = np.zeros_like(real)
        imag[0, 1, ky, w // 2 + 1 + kx - 1] = 1.0   # its imaginary part
        image = np.asarray(Fourier(decay=decay).image(jnp.asarray(imag)))
        np.testing.assert_allclose(image[0, :, :, 1], -amplitude * np.sin(phase), atol=1e-6)
    dc = np.zeros((1, 3, h, w), np.float32)
    dc[0, 0, 0, 0] = 1.0                            # the guard: DC has the lowest frequency's scale, not 1/0
    np.testing.assert_allclose(Fourier().image(jnp.asarray(dc))[..., 0], 1.0, rtol=1e-6)


def maco_amplitudes(maco: Maco, variables) -> np.ndarray:
    return np.abs(np.fft.rfft2(np.moveaxis(np.asarray(maco.image(variables), np.float64), -1, -3), norm="ortho"))


def test_maco_keeps_the_amplitude_fixed_through_adam_steps():
    rep, _, target = avgpool_problem()
    maco = Maco()
    parametrisation = ToInput(DecorrelatedColour(maco), input_map(rep))
    solver = avgpool_solver(parametrisation, rate=0.1, steps=10)
    state = solver.init(jax.random.key(0))
    after, _ = jax.jit(lambda s: solver.advance(s, target, 20))(state)
    before_a, after_a = maco_amplitudes(maco, state.variables), maco_amplitudes(maco, after.variables)
    expected = maco.amplitude(SIZE, SIZE, 3)
    not_dc = np.ones_like(expected, bool)
    not_dc[:, 0, 0] = False
    np.testing.assert_allclose(before_a[0][not_dc], expected[not_dc], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(after_a[0][not_dc], expected[not_dc], rtol=1e-4, atol=1e-5)
    moved = np.abs(np.asarray(maco.image(after.variables) - maco.image(state.variables))).mean()
    assert moved > 0.1                              # the phases (and the picture) did move
    errors = solver.evaluate(after.variables, target)[2]
    assert float(errors[0]) < float(solver.evaluate(state.variables, target)[2][0])


def test_fourier_with_decorrelated_colour_inverts_average_pooling():
    rep, _, target = avgpool_problem()
    parametrisation = ToInput(DecorrelatedColour(Fourier()), input_map(rep))
    assert final_error(avgpool_solver(parametrisation, rate=0.05, steps=100), target) < 1e-2


def test_maco_inverts_average_pooling_of_a_maco_picture():
    """MACO's pictures all have natural pictures' mean amplitude, so the code of a photograph,
    whose amplitude differs, is out of its reach (about 0.23 here); a MACO picture's is not."""
    rep, _, _ = avgpool_problem()
    parametrisation = ToInput(DecorrelatedColour(Maco()), input_map(rep))
    picture_variables = Maco().init(jax.random.key(42), (SIZE, SIZE, 3), 1)
    target = rep.features(None, parametrisation.image(picture_variables)[0])
    assert final_error(avgpool_solver(parametrisation, rate=0.1, steps=150), target) < 1e-2


def test_maco_under_jit_and_vmap_same_key_same_bits():
    """(Fourier, decorrelated colour, the sigmoid, ToInput: the chain in test_core_transforms.py.)"""
    rep, _, _ = avgpool_problem()
    check_jit_vmap_and_bits(ToInput(DecorrelatedColour(Maco()), input_map(rep)))
    assert hash(Maco()) == hash(Maco()) and hash(Fourier(decay=1.5)) == hash(Fourier(decay=1.5))  # static
