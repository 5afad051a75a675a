"""Dense SIFT: numerically VLFeat's vl_dsift (through cyvlfeat), differentiable, jit/vmap-able."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import require
from jax.test_util import check_grads

from jaxinv.errors import JaxinvError
from jaxinv.core.settings import LAMBDA_ALPHA
from jaxinv.representations.dsift import (
    PAPER_WINDOW_SIZE,
    DsiftFeatures,
    dsift,
    dsift_descriptors,
    dsift_frames,
    dsift_norms,
    fast_atan2,
    paper_dsift,
)


def _gray(name: str) -> np.ndarray:
    """A scikit-image picture as float32 gray in [0, 1] (rgb2gray for colour pictures)."""
    from skimage import color, data

    picture = getattr(data, name)()
    if picture.ndim == 3:
        picture = color.rgb2gray(picture)
    elif picture.dtype == np.uint8:
        picture = picture / 255.0
    return np.ascontiguousarray(picture, np.float32)


def _vlfeat(image, *, bin_size, step, fast, bounds=None, window_size=None):
    """cyvlfeat dsift with jaxinv's conventions: frames (x, y), norms, raw float descriptors.

    cyvlfeat takes [Y, X] pairs and bounds [YMIN, XMIN, YMAX, XMAX], returns frames [y, x, norm],
    and float descriptors as min(512·raw, 255): divide by 512 and keep a mask of unclipped values.
    """
    sift = require("cyvlfeat.sift")
    kwargs = {}
    if bounds is not None:
        x0, y0, x1, y1 = bounds
        kwargs["bounds"] = [y0, x0, y1, x1]
    if window_size is not None:
        kwargs["window_size"] = window_size
    frames, descrs = sift.dsift(
        image, step=step, size=bin_size, fast=fast, norm=True, float_descriptors=True, **kwargs
    )
    unclipped = descrs < 254.5
    return frames[:, [1, 0]], frames[:, 2], descrs / np.float32(512), unclipped


CASES = [
    # (picture, crop (rows, cols) or None, scale, bin_size, step, fast, bounds, window_size)
    ("astronaut", None, 1.0, 8, 4, True, None, None),
    ("camera", None, 255.0, 5, 15, True, None, 1.5),  # the paper's geometry, [0, 255] range
    ("coins", None, 1.0, 6, 7, True, None, None),
    ("astronaut", (slice(37, 240), slice(101, 318)), 1.0, 3, 2, True, None, None),  # odd 203×217
    ("camera", (slice(0, 251), slice(5, 306)), 1.0, 4, 5, True, (7, 3, 280, 240), 1.0),
    ("coins", (slice(30, 171), slice(40, 199)), 1.0, 6, 3, True, None, None),  # lattice, gcd 3
    ("coins", (slice(10, 131), slice(20, 117)), 1.0, 4, 3, False, None, None),  # Gaussian window
    ("camera", (slice(60, 151), slice(200, 283)), 1.0, 4, 2, False, None, None),  # lattice, gcd 2
    ("astronaut", (slice(200, 301), slice(150, 263)), 255.0, 5, 4, False, None, 1.5),
    ("camera", (slice(100, 197), slice(300, 411)), 1.0, 3, 5, False, (4, 6, 100, 90), None),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-bs{c[3]}-st{c[4]}-{'fast' if c[5] else 'gauss'}")
def test_matches_vlfeat(case):
    name, crop, scale, bin_size, step, fast, bounds, window_size = case
    image = _gray(name)
    if crop is not None:
        image = np.ascontiguousarray(image[crop])
    image = image * np.float32(scale)
    frames, norms, expected, unclipped = _vlfeat(
        image, bin_size=bin_size, step=step, fast=fast, bounds=bounds, window_size=window_size
    )
    options = dict(bin_size=bin_size, step=step, fast=fast, bounds=bounds, window_size=window_size or 2.0)
    ours, our_norms = dsift_descriptors(image, return_norms=True, **options)
    ours = np.asarray(ours).reshape(-1, 128)

    np.testing.assert_array_equal(dsift_frames(image.shape, bin_size=bin_size, step=step, bounds=bounds), frames)
    np.testing.assert_allclose(np.asarray(our_norms).reshape(-1), norms, rtol=1e-4, atol=1e-6 * scale)
    np.testing.assert_allclose(dsift_norms(image, **options), norms, rtol=1e-4, atol=1e-6 * scale)
    # Frames with (almost) no gradient are rounding noise in VLFeat too: compare the others.
    textured = norms > 1e-2 * scale
    assert textured.mean() > 0.3
    mask = textured[:, None] & unclipped
    assert np.abs(ours - expected)[mask].max() < 1e-5


def test_paper_preset_matches_vlfeat():
    from skimage import data

    rep = paper_dsift()
    x = rep.preprocess(data.astronaut()[:301, 50:427])  # 255·gray − 128, odd size
    frames, norms, expected, unclipped = _vlfeat(
        np.ascontiguousarray(x[..., 0]), bin_size=5, step=15, fast=True, window_size=PAPER_WINDOW_SIZE
    )
    ours = np.asarray(rep.code(jnp.asarray(x))).reshape(-1, 128)
    np.testing.assert_array_equal(dsift_frames(x.shape, bin_size=5, step=15), frames)
    mask = (norms > 1e-2 * 255)[:, None] & unclipped
    assert np.abs(ours - expected)[mask].max() < 1e-5


def test_fast_atan2_reference_values():
    # vl_fast_atan2_f computed by hand: x = 1, y = 1 → r ≈ 0, θ = π/4 − tiny; x = −1, y = 0 → ≈ π.
    y = jnp.array([1.0, 0.0, -1.0, 0.0], jnp.float32)
    x = jnp.array([1.0, -1.0, 0.0, 1.0], jnp.float32)
    atan2 = jax.jit(fast_atan2)
    np.testing.assert_allclose(np.asarray(atan2(y, x)), [np.pi / 4, np.pi, -np.pi / 2, 0.0], atol=6.2e-3)
    theta = np.linspace(-3.1, 3.1, 101).astype(np.float32)
    error = np.asarray(atan2(jnp.sin(theta), jnp.cos(theta))) - theta
    assert np.abs(error).max() < 6.2e-3  # VLFEAT.md: max error 6.1e-3 rad


def test_representation_shapes_and_metadata():
    rep = paper_dsift()
    assert rep.name == "dsift" and rep.channels == 1 and rep.stride == 15
    assert rep.schedule == "shallow" and rep.lambda_tv == 0.5 and rep.lambda_alpha == LAMBDA_ALPHA
    picture = np.random.default_rng(0).uniform(0, 255, (61, 77, 3)).astype(np.float32)
    x = rep.preprocess(picture)
    expected = 255 * (picture / 255) @ np.array([0.2989, 0.5870, 0.1140], np.float32) - 128
    np.testing.assert_allclose(x[..., 0], expected, atol=1e-3)
    assert x.shape == (61, 77, 1) and x.dtype == np.float32
    np.testing.assert_allclose(rep.deprocess(x), x + 128)
    np.testing.assert_allclose(rep.preprocess(picture[..., :1])[..., 0], picture[..., 0] - 128, atol=1e-4)
    code = rep(picture)
    frames = dsift_frames(x.shape, bin_size=5, step=15)
    assert code.shape == ((61 - 16) // 15 + 1, (77 - 16) // 15 + 1, 128)
    assert len(frames) == code.shape[0] * code.shape[1]
    assert rep.min_size == (16, 16)
    rep.check_input((16, 16, 1))
    # Features compare equal (and hash equal) for equal options, so jit caches across calls.
    assert paper_dsift().features == rep.features and hash(paper_dsift().features) == hash(rep.features)
    assert dsift(bin_size=5, step=15).features != rep.features


def test_jit_and_vmap_match_loop():
    rep = dsift(bin_size=4, step=3, fast=True, window_size=1.5)
    images = np.random.default_rng(1).uniform(-128, 127, (3, 40, 45, 1)).astype(np.float32)
    loop = np.stack([np.asarray(rep.features(None, jnp.asarray(im))) for im in images])
    batched = jax.jit(jax.vmap(rep.features, in_axes=(None, 0)))(None, jnp.asarray(images))
    np.testing.assert_allclose(np.asarray(batched), loop, atol=2e-6)
    # Gradients batch too (custom VJP of the orientation stage, matmul adjoints).
    grads = jax.jit(jax.vmap(jax.grad(lambda x: jnp.sum(rep.features(None, x) ** 3))))(jnp.asarray(images))
    one = jax.jit(jax.grad(lambda x: jnp.sum(rep.features(None, x) ** 3)))(jnp.asarray(images[1]))
    np.testing.assert_allclose(np.asarray(grads[1]), np.asarray(one), rtol=1e-4, atol=1e-8)
    gauss = dsift(bin_size=3, step=2, fast=False)
    loop = np.stack([np.asarray(gauss.features(None, jnp.asarray(im))) for im in images])
    batched = jax.jit(jax.vmap(gauss.features, in_axes=(None, 0)))(None, jnp.asarray(images))
    np.testing.assert_allclose(np.asarray(batched), loop, atol=2e-6)


@functools.partial(jax.jit, static_argnums=0)
def _loss_and_grad(features, x, target):
    # Module-level and keyed on the (hashable) features: one compile per option set and shape.
    return jax.value_and_grad(lambda x: jnp.sum((features(None, x) - target) ** 2))(x)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("kind", ["flat", "black", "saturated", "tiny", "ties", "random"])
def test_gradients_finite(kind, fast):
    rng = np.random.default_rng(2)
    shape = (13, 13, 1) if kind == "tiny" else (33, 37, 1)
    image = {
        "flat": np.full(shape, 17.0),
        "black": np.full(shape, -128.0),
        "saturated": np.full(shape, 127.0),
        "tiny": rng.uniform(-128, 127, shape),
        # Integer steps: exact zero and diagonal gradients (angle ties, bin boundaries).
        "ties": np.round(rng.uniform(0, 3, shape)) * 10,
        "random": rng.uniform(-128, 127, shape),
    }[kind].astype(np.float32)
    rep = dsift(bin_size=3 if kind == "tiny" else 4, step=2, fast=fast)
    target = rep.features(None, jnp.asarray(rng.uniform(-128, 127, shape).astype(np.float32)))
    value, grad = _loss_and_grad(rep.features, jnp.asarray(image), target)
    assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad)))
    if kind in ("tiny", "random", "ties"):
        assert np.abs(np.asarray(grad)).max() > 0


@pytest.mark.parametrize(
    "fast, bin_size, step",
    # Covers the three pooling paths: shifted slices (gcd 1), lattice blocks (gcd 2), dense matmul.
    [(True, 3, 2), (False, 2, 2), (True, 4, 4)],
)
def test_check_grads_on_smooth_image(fast, bin_size, step):
    yy, xx = np.mgrid[0:18, 0:19].astype(np.float32)
    image = 60 * np.sin(0.31 * xx + 0.2) * np.cos(0.23 * yy - 0.4) + 5 * np.sin(0.7 * xx * yy / 18)
    image = jnp.asarray(image[..., None].astype(np.float32))
    features = DsiftFeatures(bin_size=bin_size, step=step, fast=fast, window_size=2.0, renormalize=True)
    proj = jnp.asarray(np.random.default_rng(3).normal(size=features(None, image).shape).astype(np.float32))

    @jax.jit
    def f(x):
        return jnp.sum(features(None, x) * proj)

    check_grads(f, (image,), order=1, modes=["rev"], eps=1e-2, atol=2e-2, rtol=2e-2)


def test_paper_window_matches_dsift_net():
    # dsift_net's per-cell weights exp(−d²/(2·1.5²)), d = cell centre − 2.5 (1-D factors).
    from jaxinv.representations.dsift.pooling import flat_bin_weights

    net = np.exp(-np.array([1.5, 0.5, 0.5, 1.5]) ** 2 / (2 * 1.5**2))
    ours = flat_bin_weights(5, PAPER_WINDOW_SIZE)
    np.testing.assert_allclose(ours / ours[1], net / net[1], rtol=1e-6)
    assert paper_dsift().features.window_size == PAPER_WINDOW_SIZE and paper_dsift().features.fast


def test_no_renormalisation_option():
    image = jnp.asarray(np.random.default_rng(4).uniform(-128, 127, (40, 40, 1)).astype(np.float32))
    clamped = np.asarray(paper_dsift(renormalize=False).features(None, image))
    assert clamped.max() <= 0.2 + 1e-7
    renormed = np.asarray(paper_dsift().features(None, image))
    np.testing.assert_allclose(np.linalg.norm(renormed, axis=-1), 1, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(bin_size=0), "bin_size"),
        (dict(bin_size=2.5), "bin_size"),
        (dict(step=0), "step"),
        (dict(window_size=0.0), "window_size"),
        (dict(bounds=(0, 0, 10)), "bounds"),
        (dict(bounds=(-1, 0, 30, 30)), "bounds"),
        (dict(bounds=(20, 0, 10, 30)), "bounds"),
        (dict(bin_size=5, bounds=(0, 0, 10, 10)), "frame"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(JaxinvError, match=match):
        dsift(**kwargs)


def test_bad_images():
    rep = dsift(bin_size=4, step=2)
    with pytest.raises(JaxinvError, match="channel"):
        rep.features(None, jnp.zeros((30, 30, 3)))
    with pytest.raises(JaxinvError, match="NaN or infinite"):
        rep.features(None, jnp.full((30, 30, 1), jnp.nan))
    with pytest.raises(JaxinvError, match="frame"):
        rep.features(None, jnp.zeros((12, 30, 1)))
    with pytest.raises(JaxinvError):
        rep.code(jnp.zeros((12, 30, 1)))
    with pytest.raises(JaxinvError, match="beyond"):
        dsift(bin_size=2, bounds=(0, 0, 40, 20)).features(None, jnp.zeros((30, 30, 1)))
    with pytest.raises(JaxinvError, match="frame"):
        dsift_frames((10, 10), bin_size=4)
    with pytest.raises(JaxinvError):
        paper_dsift().preprocess(np.zeros((10, 10, 2)))
