"""Decorrelated colour, the bounded output and the picture-to-input map.

The stored statistics are the script's on the first 50 shared pictures; on the other 50 the
whitening is measured with `colour_moments` (every picture weighing the same): C_t, the
covariance of t = S⁻¹(p − μ). It is not within 5% of the identity there — the 50/50 split in
file-name order is by synset (animals, then objects and scenes), and the chromatic directions'
variance differs between the halves (max |C_t − I| = 0.44, eigenvalues 0.80 … 1.97) — so the
test asserts what the whitening does achieve on them: C_t's condition number falls from 81 to
2.5 and the largest colour correlation from 0.93 to 0.34.
"""

import functools
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxinv
from conftest import REPO, shared_weights
from jaxinv import images
from jaxinv.core import Bounded, DecorrelatedColour, Fourier, ScaledPixels, ToInput, input_map, natural_statistics
from jaxinv.core.colour import colour_moments
from jaxinv.errors import JaxinvError
from jaxinv.representation import Representation
from test_core_fourier import SIZE, avgpool_problem, avgpool_solver, final_error
from test_imagenet100 import pictures_folder

STATISTICS = REPO / "jaxinv" / "data" / "natural_statistics.json"


@functools.lru_cache(maxsize=None)
def halves() -> tuple[list[np.ndarray], list[np.ndarray]]:
    files = sorted(pictures_folder().glob("*.JPEG"))
    pictures = [images.load(f) for f in files]
    return pictures[:50], pictures[50:]


def correlation(covariance: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.diag(covariance))
    return covariance / np.outer(d, d)


def test_stored_statistics_are_the_scripts_on_the_first_50_pictures():
    stored = json.loads(STATISTICS.read_text())
    assert stored["script"] == "scripts/natural_statistics.py" and STATISTICS.stat().st_size < 1_000_000
    assert stored["files"] == [f.name for f in sorted(pictures_folder().glob("*.JPEG"))[:50]]
    first, _ = halves()
    mean, covariance = colour_moments(first)
    np.testing.assert_allclose(natural_statistics().colour_mean, mean, rtol=1e-6)
    np.testing.assert_allclose(natural_statistics().colour_covariance, covariance, rtol=1e-6)
    root = np.asarray(natural_statistics().colour_sqrt_covariance)
    np.testing.assert_allclose(root @ root, covariance, rtol=1e-5)
    np.testing.assert_allclose(root, root.T)


def test_the_colour_transform_decorrelates_the_other_50_pictures():
    first, other = halves()
    colour = DecorrelatedColour(ScaledPixels(sigma=1.0))
    mean, inverse_root = np.asarray(colour.mean), np.linalg.inv(np.asarray(colour.sqrt_covariance))
    whitened = lambda pictures: colour_moments([(p - mean) @ inverse_root.T for p in pictures])[1]  # noqa: E731
    np.testing.assert_allclose(whitened(first), np.eye(3), atol=1e-4)    # the pictures it was fitted on
    raw, held_out = colour_moments(other)[1], whitened(other)
    assert np.linalg.cond(raw) > 50 and np.linalg.cond(held_out) < 3.0
    off = ~np.eye(3, dtype=bool)
    assert np.abs(correlation(raw)[off]).max() > 0.9 and np.abs(correlation(held_out)[off]).max() < 0.4
    t = np.asarray(colour.unmix(other[0]))                               # unmix is that whitening
    np.testing.assert_allclose(t, (other[0] - mean) @ inverse_root.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(colour.mix(t), other[0], atol=1e-2)      # and mix inverts it


def test_input_map_is_the_representations_preprocessing():
    rep = jaxinv.average_pool(factor=2)
    picture = images.resize(images.default_picture("astronaut"), (8, 9))
    np.testing.assert_allclose(input_map(rep)(jnp.asarray(picture)), rep.preprocess(picture), atol=1e-4)
    cnn = jaxinv.cnn("squeezenet1_1", layer="conv1",
                     weights=shared_weights() / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel")
    picture = images.resize(picture, cnn.input_shape[:2])                # BGR, minus the mean pixel
    mapped = input_map(cnn)
    np.testing.assert_allclose(mapped(jnp.asarray(picture)), cnn.preprocess(picture), atol=1e-3)
    np.testing.assert_allclose(mapped.inverse(cnn.preprocess(picture)), picture, atol=1e-3)
    inputs = ToInput(DecorrelatedColour(Fourier()), mapped)          # regularisers see the input space
    variables = inputs.variables_for(jnp.asarray(cnn.preprocess(picture))[None])
    np.testing.assert_allclose(inputs.pixels(variables)[0], cnn.preprocess(picture), atol=2e-2)
    np.testing.assert_array_equal(inputs.pixels(variables), inputs.image(variables))


def test_input_map_refuses_gray_and_non_affine_inputs():
    with pytest.raises(JaxinvError, match="1-channel inputs"):
        input_map(jaxinv.average_pool(factor=2, channels=1))
    squared = Representation("squared", lambda p, x: x, deprocess=lambda x: np.asarray(x) ** 2)
    with pytest.raises(JaxinvError, match="not a per-pixel affine map"):
        input_map(squared)
    flat = Representation("flat", lambda p, x: x, deprocess=lambda x: np.asarray(x) * 0.0)
    with pytest.raises(JaxinvError, match="singular"):
        input_map(flat)
    with pytest.raises(JaxinvError, match="'sigmoid' or 'ball'"):
        Bounded(ScaledPixels(), kind="tanh")


def test_bounded_outputs_stay_in_range_and_the_sigmoid_inverts():
    pictures = jnp.asarray(np.random.default_rng(0).normal(127.5, 400.0, (1, 6, 7, 3)), jnp.float32)
    raw = ScaledPixels(sigma=1.0)
    sigmoid = Bounded(raw)
    bounded = np.asarray(sigmoid.image(pictures))
    assert bounded.min() > 0.0 and bounded.max() < 255.0
    grad = jax.grad(lambda v: sigmoid.image(v).sum())(jnp.full((1, 1, 1, 3), 127.5))
    np.testing.assert_allclose(grad, 1.0, rtol=1e-5)                      # slope 1 at mid-grey
    inside = jnp.clip(pictures, 5.0, 250.0)                                # picture → variables → picture
    chain = Bounded(DecorrelatedColour(Fourier()))
    np.testing.assert_allclose(chain.image(chain.variables_for(inside)), inside, atol=2e-2)
    ball = Bounded(raw, kind="ball", radius=160.0)
    offsets = np.asarray(ball.image(pictures)) - np.asarray(natural_statistics().colour_mean)
    assert np.linalg.norm(offsets, axis=-1).max() <= 160.0 * (1 + 1e-5)
    small = jnp.asarray(natural_statistics().colour_mean, jnp.float32) + jnp.ones((1, 2, 2, 3))
    np.testing.assert_allclose(ball.image(small), small, rtol=1e-6)


@pytest.mark.parametrize("kind", ["sigmoid", "ball"])
def test_decorrelated_pixels_bounded_invert_average_pooling(kind):
    rep, _, target = avgpool_problem()
    parametrisation = ToInput(Bounded(DecorrelatedColour(ScaledPixels(sigma=1.0)), kind=kind), input_map(rep))
    assert parametrisation.variable_shape((SIZE, SIZE, 3), 1) == (1, SIZE, SIZE, 3)
    assert final_error(avgpool_solver(parametrisation, rate=0.1, steps=150), target) < 1e-2


def test_the_statistics_file_is_package_data():
    text = pathlib.Path(STATISTICS).read_text()
    assert "colour_sqrt_covariance" in text and "amplitude" in text
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"**/*.json"' in pyproject                                    # ships in the wheel
