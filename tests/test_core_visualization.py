"""The pure pieces of activation maximisation and caricatures (jaxinv.core.visualization).

References: hand computations of the authors' formulas (``exp_maximization.m``), their grid
written as MATLAB's column-major linear index, numpy loops; no pretrained weights needed.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinv import JaxinvError
from jaxinv.core import visualization as V
from jaxinv.core.parametrisations import BallPixels
from jaxinv.core.presets import ijcv_preset
from jaxinv.core.terms import BoundedAlphaNorm, BoundedTotalVariation, InnerProduct, L2ToPicture, TermInputs
from jaxinv.networks import spec
from jaxinv.networks.graph import infer_shapes
from jaxinv.core.settings import IJCVObjective
@pytest.mark.parametrize("field, stride, count, spacing", [
    (207, 16, 1, 15),   # 1.1·207/16 = 14.23 → 14, even → 15 (SqueezeNet fire9)
    (207, 16, 25, 15),  # several units: max(14, 4) → 15
    (23, 4, 1, 7),      # 6.325 → 6 → 7 (fire3)
    (19, 4, 4, 5),      # 5.225 → 5, max(5, 4) = 5, odd
    (10, 8, 4, 5),      # 1.375 → 1, max(1, 4) = 4 → 5
    (10, 8, 1, 1),      # one unit: no floor of 4
    (25, 11, 1, 3),     # 2.5 rounds half away from zero (MATLAB) → 3, odd
])
def test_grid_spacing_by_hand(field, stride, count, spacing):
    assert V.grid_spacing(field, stride, count=count) == spacing


def test_unit_weight_by_hand():
    # (10000 / 207²) / 1 / 325.47 = 0.2333776 / 325.47 = 7.17048e-4
    assert V.unit_weight(207, 1, 325.47) == pytest.approx(7.17048e-4, rel=1e-5)
    # k = 4 units share the budget: a quarter each; per-unit maxima as an array
    np.testing.assert_allclose(V.unit_weight(363, 4, np.array([10.0, 20.0])),
                               [10000 / 363 ** 2 / 4 / 10, 10000 / 363 ** 2 / 4 / 20], rtol=1e-12)


def _matlab_grid(channels, reps, depth):
    """``exp_maximization.m``'s loop, verbatim in its indices: a column-major linear index into
    (reps·kx, reps·ky, depth), then ``permute(ref, [2 1 3])``; returns 0-based (y, x, channel)."""
    k = len(channels)
    kx = ky = int(np.ceil(np.sqrt(k)))
    ref = np.zeros(reps * kx * reps * ky * depth)
    for i in range(1, k + 1):
        b = (i - 1) // kx
        a = i - 1 - b * kx
        a = a * reps + (reps - 1) / 2
        b = b * reps + (reps - 1) / 2
        ref[int(1 + a + b * (reps * kx) + (channels[i - 1] - 1) * (reps * reps * kx * ky)) - 1] = 1
    ref = ref.reshape((reps * kx, reps * ky, depth), order="F").transpose(1, 0, 2)
    return sorted(zip(*np.nonzero(ref)))


@pytest.mark.parametrize("count", [1, 3, 4, 7])
def test_grid_positions_are_the_authors_layout(count):
    spacing, depth = 5, 9
    channels = [c + 1 for c in range(count)]  # MATLAB's 1-based channels
    e = V.mosaic_direction((spacing * 3, spacing * 3, depth), [c - 1 for c in channels], spacing, 1.0)
    found = sorted(zip(*np.nonzero(np.asarray(e))))
    assert found == _matlab_grid(channels, spacing, depth)


def test_input_size_for_grid_by_hand():
    # a stride-2, kernel-3 layer: code side (n − 3)//2 + 1; a grid of 15 fits n = 31 (15), not 32 (15), 33 (16)
    side = lambda n: (n - 3) // 2 + 1  # noqa: E731
    assert V.input_size_for_grid(15, side) == 32
    squeezenet = spec("squeezenet1_1")
    code = lambda n: infer_shapes(squeezenet.nodes, (n, n, 3))["fire9/expand3x3"][0]  # noqa: E731
    size = V.input_size_for_grid(V.grid_spacing(207, 16), code)
    assert (code(size), code(size + 1)) == (15, 16) and size == 256


def test_directions_by_hand_and_refusals():
    shape = (5, 7, 4)
    e = np.asarray(V.neuron_direction(shape, 2))
    assert e[2, 3, 2] == 1 and e.sum() == 1  # the centre ((5−1)//2, (7−1)//2)
    assert np.asarray(V.neuron_direction(shape, 1, position=(0, 6)))[0, 6, 1] == 1
    mean = np.asarray(V.channel_direction(shape, 3))
    np.testing.assert_allclose(mean[..., 3], 1 / 35) and np.testing.assert_array_equal(mean[..., :3], 0)
    v = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
    np.testing.assert_array_equal(np.asarray(V.vector_direction(shape, v, position=(4, 0)))[4, 0], v)
    np.testing.assert_allclose(np.asarray(V.vector_direction(shape, v, average=True)).sum(axis=(0, 1)), v, rtol=1e-6)
    with pytest.raises(JaxinvError, match="channel 4 is out of range"):
        V.neuron_direction(shape, 4)
    with pytest.raises(JaxinvError, match="neuron row 5"):
        V.neuron_direction(shape, 0, position=(5, 0))
    with pytest.raises(JaxinvError, match="length 4"):
        V.vector_direction(shape, np.ones(3))
    with pytest.raises(JaxinvError, match="outside"):
        V.mosaic_direction((4, 4, 4), [0, 1], 5, 1.0)


def test_builders_jit_and_vmap_equal_their_loop():
    shape = (3, 3, 6)
    channels = jnp.arange(6)
    batched = jax.jit(jax.vmap(lambda c: V.neuron_direction(shape, c)))(channels)
    loop = np.stack([np.asarray(V.neuron_direction(shape, int(c))) for c in channels])
    np.testing.assert_array_equal(np.asarray(batched), loop)
    means = jax.vmap(lambda c: V.channel_direction(shape, c))(channels)
    np.testing.assert_array_equal(np.asarray(means), np.stack([np.asarray(V.channel_direction(shape, int(c)))
                                                                for c in channels]))
    code = jax.random.normal(jax.random.key(0), (4, 3, 3, 6))
    np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(V.caricature_direction))(code)),
                               np.stack([np.asarray(V.caricature_direction(c)) for c in code]), rtol=1e-6)


def test_caricature_direction_by_hand():
    code = np.array([[[3.0, -1.0, 4.0]]], np.float32)
    e = np.asarray(V.caricature_direction(jnp.asarray(code)))
    np.testing.assert_allclose(e, [[[3 / 25, 0, 4 / 25]]], rtol=1e-6)
    assert float(np.sum(np.maximum(code, 0) * e)) == pytest.approx(1.0)
    assert not np.any(np.asarray(V.caricature_direction(-jnp.ones((2, 2, 3)))))  # no positive value: e = 0


def _inputs(code):
    image = jnp.zeros((code.shape[0], 4, 4, 3))
    return TermInputs(code, jnp.zeros(code.shape[1:]), None, image, image)


def test_diversity_against_a_numpy_loop():
    rng = np.random.default_rng(0)
    code = rng.normal(size=(3, 2, 2, 5)).astype(np.float32)
    grams = [c.reshape(4, 5).T @ c.reshape(4, 5) / 4 for c in code]
    unit = [g.ravel() / np.linalg.norm(g) for g in grams]
    expected = np.mean([unit[i] @ unit[j] for i in range(3) for j in range(3) if i != j])
    assert float(V.Diversity()(_inputs(jnp.asarray(code)))) == pytest.approx(expected, rel=1e-5)
    same = jnp.broadcast_to(jnp.asarray(code[:1]), code.shape)
    assert float(V.Diversity()(_inputs(same))) == pytest.approx(1.0, rel=1e-5)
    assert float(V.Diversity()(_inputs(jnp.asarray(code[:1])))) == 0.0
    grad = jax.jit(jax.grad(lambda c: V.Diversity()(_inputs(c))))(jnp.asarray(code))
    assert np.all(np.isfinite(np.asarray(grad))) and np.any(np.asarray(grad))


def test_presets_are_ijcv_with_an_inner_product():
    config = IJCVObjective()
    preset = V.maximization_preset((32, 32, 3), stride=16, copies=3, iterations=40, diversity=0.5)
    terms = preset.objective.terms
    assert isinstance(terms[0], InnerProduct) and preset.objective.weights[0] == -3.0
    assert {type(t) for t in terms[1:3]} == {BoundedAlphaNorm, BoundedTotalVariation}
    assert isinstance(terms[3], V.Diversity) and preset.objective.weights[3] == 0.5
    assert preset.schedule.total == 40 and preset.parametrisation == BallPixels(jitter=4)  # round(16/4)
    reference = ijcv_preset(config, preset.schedule, (32, 32, 3), jitter=4)
    assert preset.optimizer is reference.optimizer  # the IJCV step at LR = 0.05 B² HW / α, shared
    tethered = V.caricature_preset((8, 8, 3), stride=1, picture=np.zeros((8, 8, 3)), tether=0.01)
    assert isinstance(tethered.objective.terms[-1], L2ToPicture) and tethered.objective.weights[-1] == 0.01
    assert tethered.objective.weights[0] == -1.0 and tethered.parametrisation.jitter == 1
    with pytest.raises(JaxinvError, match="picture"):
        V.caricature_preset((8, 8, 3), stride=1, tether=0.01)


def _linear_features(params, x):
    return jnp.einsum("hwc,cd->hwd", x, params)


def test_start_from_puts_the_picture_in_the_centre_and_runs():
    preset = V.caricature_preset((6, 6, 3), stride=8, iterations=5)  # J = 2: one pixel of margin
    solver = preset.solver(_linear_features, jnp.eye(3), image_shape=(6, 6, 3))
    picture = 2.0 + jnp.arange(108, dtype=jnp.float32).reshape(1, 6, 6, 3) / 100  # smooth, small: the data term leads
    state = jax.jit(V.start_from)(solver, jax.random.key(0), picture)
    assert state.variables.shape == (1, 7, 7, 3)
    np.testing.assert_array_equal(np.asarray(solver.image(state)), np.asarray(picture))
    assert float(jnp.abs(state.variables).sum() - jnp.abs(picture).sum()) == 0  # zero margin
    e = V.caricature_direction(_linear_features(jnp.eye(3), picture[0]))
    final, energy = jax.jit(solver.advance, static_argnums=2)(state, e, 5)
    assert np.all(np.isfinite(np.asarray(energy)))
    grown = float(jnp.sum(_linear_features(jnp.eye(3), solver.image(final)[0]) * e))
    assert grown > 1.0  # the inner product rose from the picture's own 1
