"""jaxinv's HOG against the real VLFeat 0.9.21 (through cyvlfeat), gradients and errors."""

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
from jaxinv.representations import hog as hog_module
from jaxinv.representations.hog.pooling import pool_axis
from jaxinv.representations.hog import hog, paper_hog, paper_hogb, rgb2gray

ATOL = 1e-6
VLFEAT_VARIANT = {"uoctti": "UoCTTI", "dalaltriggs": "DalalTriggs"}


@functools.lru_cache(maxsize=None)
def _picture(name: str) -> np.ndarray:
    data = require("skimage.data")
    image = getattr(data, name)().astype(np.float32)
    return image if image.ndim == 3 else image[..., None]


def _vlfeat(image, cell_size, variant="uoctti", n=9, bilinear=False):
    cyvlfeat_hog = require("cyvlfeat.hog")
    image = np.ascontiguousarray(image, np.float32)
    if image.shape[-1] == 1:
        image = image[..., 0]
    return cyvlfeat_hog.hog(
        image, cell_size, variant=VLFEAT_VARIANT[variant], n_orientations=n,
        bilinear_interpolation=bilinear,
    )


COMBOS = [(v, b) for v in ("uoctti", "dalaltriggs") for b in (False, True)]


def _jax_all(image, cell_size, n=9):
    """{(variant, bilinear): features} for the four combinations, in one compiled program."""
    reps = {
        combo: hog(cell_size=cell_size, variant=combo[0], num_orientations=n,
                   bilinear_orientations=combo[1], channels=image.shape[-1])
        for combo in COMBOS
    }
    with jax.default_matmul_precision("highest"):
        out = jax.jit(lambda x: {c: r.features(None, x) for c, r in reps.items()})(image)
    return {c: np.asarray(v) for c, v in out.items()}


def _assert_all_match(image, cell_size, n=9):
    got = _jax_all(image, cell_size, n)
    for variant, bilinear in COMBOS:
        expected = _vlfeat(image, cell_size, variant, n=n, bilinear=bilinear)
        assert got[variant, bilinear].shape == expected.shape
        diff = np.abs(got[variant, bilinear] - expected).max()
        assert diff <= ATOL, (variant, bilinear, diff)


# (picture, crop rows, crop cols, scale, cell size, gray?)
CASES = [
    ("astronaut", slice(None), slice(None), 1 / 255, 8, False),
    ("astronaut", slice(None), slice(None), 1.0, 8, False),
    ("astronaut", slice(13, 200), slice(7, 151), 1.0, 5, False),
    ("chelsea", slice(None), slice(None), 1 / 255, 6, False),
    ("chelsea", slice(0, 101), slice(0, 77), 1.0, 7, True),
    ("coffee", slice(1, 400), slice(0, 599), 1.0, 12, False),
    ("coffee", slice(50, 333), slice(99, 400), 1 / 255, 9, True),
    ("camera", slice(None), slice(None), 1.0, 4, True),
    ("camera", slice(100, 237), slice(200, 411), 1.0, 11, True),
]


def _case(picture, rows, cols, scale, gray):
    image = _picture(picture)[rows, cols] * np.float32(scale)
    if gray and image.shape[-1] == 3:
        image = rgb2gray(image).astype(np.float32)
    return np.ascontiguousarray(image, np.float32)


@pytest.mark.parametrize(
    "picture,rows,cols,scale,cell_size,gray", CASES,
    ids=[f"{c[0]}-{i}-cs{c[4]}" for i, c in enumerate(CASES)],
)
def test_matches_vlfeat(picture, rows, cols, scale, cell_size, gray):
    """Both variants, hard and bilinear orientations, max |diff| <= 1e-6."""
    _assert_all_match(_case(picture, rows, cols, scale, gray), cell_size)


@pytest.mark.parametrize("n", [1, 2, 12])
def test_orientation_counts_match_vlfeat(n):
    _assert_all_match(_case("chelsea", slice(40, 141), slice(60, 183), 1.0, False), 8, n)


def test_tiny_images_match_vlfeat():
    """Down to a single cell (4x4 with 8-px cells still has one cell: the grid rounds)."""
    for size in [(4, 4), (8, 8), (5, 17)]:
        _assert_all_match(_picture("astronaut")[100 : 100 + size[0], 200 : 200 + size[1]], 8)


def test_random_float_image_matches_vlfeat():
    _assert_all_match(np.random.default_rng(0).normal(0, 40, (67, 53, 3)).astype(np.float32), 6)


def test_vmap_equals_loop_and_vlfeat():
    base = _picture("coffee")
    batch = np.stack([base[i * 37 : i * 37 + 150, i * 41 : i * 41 + 203] for i in range(3)])
    reps = {c: hog(cell_size=8, variant=c[0], bilinear_orientations=c[1]) for c in COMBOS}

    def all_features(x):
        return {c: r.features(None, x) for c, r in reps.items()}

    with jax.default_matmul_precision("highest"):
        batched = jax.jit(jax.vmap(all_features))(batch)
        single = jax.jit(all_features)
        looped = [single(im) for im in batch]
    for (variant, bilinear), feats in batched.items():
        for i, im in enumerate(batch):
            np.testing.assert_allclose(feats[i], looped[i][variant, bilinear], rtol=0, atol=1e-6)
            expected = _vlfeat(im, 8, variant, bilinear=bilinear)
            assert np.abs(np.asarray(feats[i]) - expected).max() <= ATOL


def test_paper_presets():
    picture = _picture("astronaut")[:250, :333]
    for rep, bilinear in ((paper_hog(), False), (paper_hogb(), True)):
        assert rep.name == ("hogb" if bilinear else "hog")
        assert rep.channels == 1 and rep.stride == 8 and rep.schedule == "shallow"
        assert rep.lambda_tv == 0.5 and rep.lambda_alpha == LAMBDA_ALPHA
        x = rep.preprocess(picture)
        gray = 0.2989 * picture[..., 0] + 0.5870 * picture[..., 1] + 0.1140 * picture[..., 2]
        np.testing.assert_allclose(x[..., 0], gray - 128.0, atol=1e-3)
        assert x.dtype == np.float32 and x.shape == (250, 333, 1)
        np.testing.assert_allclose(rep.deprocess(x)[..., 0], gray, atol=1e-3)
        feats = np.asarray(rep(picture))
        assert feats.shape == (31, 42, 27)
        expected = _vlfeat(x, 8, bilinear=bilinear)[..., :27]
        assert np.abs(feats - expected).max() <= ATOL
        # A gray picture is kept as is.
        np.testing.assert_array_equal(rep.preprocess(picture[..., :1]), picture[..., :1] - 128)


def test_features_are_hashable_and_equal():
    a, b = hog(cell_size=6).features, hog(cell_size=6).features
    assert a == b and hash(a) == hash(b)
    assert a != hog(cell_size=6, bilinear_orientations=True).features
    assert paper_hog().features == paper_hog().features
    assert hog(cell_size=5).min_size == (3, 3) and hog(cell_size=8).min_size == (4, 4)
    assert hog(variant="dalaltriggs", num_orientations=7).features.dimension == 28


# ---------------------------------------------------------------------------- gradients


def _loss(rep, x, seed=0):
    shape = jax.eval_shape(lambda y: rep.features(None, y), x).shape
    weights = jax.random.normal(jax.random.PRNGKey(seed), shape)
    return lambda y: jnp.sum(weights * rep.features(None, y))


def _gradient_cases():
    ramp = np.tile(np.arange(24, dtype=np.float32)[:, None, None] * 5, (1, 21, 1))
    checker = (np.indices((19, 23)).sum(0) % 2 * 255).astype(np.float32)[..., None]
    equal_rgb = np.repeat(_picture("camera")[:30, :27], 3, axis=-1)
    return {
        "flat_black": np.zeros((16, 16, 1), np.float32),
        "saturated": np.full((16, 24, 3), 255.0, np.float32),
        "one_cell": _picture("astronaut")[200:208, 200:208],
        "smaller_than_cell": _picture("astronaut")[200:204, 200:204],
        "vertical_ties": ramp,
        "checker": checker,
        "equal_channels": equal_rgb,
    }


@pytest.mark.parametrize("case", list(_gradient_cases()))
def test_gradients_are_finite(case):
    image = jnp.asarray(_gradient_cases()[case])
    # Both variants and both orientation modes, in two combinations (compile time).
    losses = {
        (v, b): _loss(hog(cell_size=8, variant=v, bilinear_orientations=b,
                          channels=image.shape[-1]), image)
        for v, b in (("uoctti", False), ("dalaltriggs", True))
    }
    grads = jax.jit(lambda x: {c: jax.grad(f)(x) for c, f in losses.items()})(image)
    for combo, grad in grads.items():
        assert grad.shape == image.shape
        assert bool(jnp.all(jnp.isfinite(grad))), (case, combo)


def test_image_without_interior_pixels():
    """A 2-px-high image has a cell (cell size 2) but no gradient: zero features, zero grads."""
    rep = hog(cell_size=2, channels=1, bilinear_orientations=True)
    image = jnp.asarray(np.random.default_rng(0).uniform(0, 255, (2, 5, 1)), jnp.float32)
    assert np.all(np.asarray(rep.code(image)) == 0)
    grad = jax.grad(_loss(rep, image))(image)
    assert bool(jnp.all(grad == 0))


def _smooth_image_away_from_kinks(rep, shape=(7, 7)):
    """A smooth random image whose pixel gradients are all > 0.75 deg from a bin centre
    (the |angle| kink of bilinear orientations), not tiny, and with no feature near the
    0.2 clamp (found by trying seeds)."""
    for seed in range(500):
        rng = np.random.default_rng(seed)
        coarse = rng.normal(0, 60, (3, 3, 1)).astype(np.float32)
        image = np.asarray(jax.image.resize(jnp.asarray(coarse), (*shape, 1), "cubic"))
        gx = image[1:-1, 2:, 0] - image[1:-1, :-2, 0]
        gy = image[2:, 1:-1, 0] - image[:-2, 1:-1, 0]
        angle = np.degrees(np.arctan2(gy, gx)) % 20.0
        off_centre = np.minimum(angle, 20.0 - angle).min() > 0.75
        strong = np.hypot(gx, gy).min() > 2.0
        if off_centre and strong:
            feats = np.asarray(rep.code(image))
            if np.abs(feats - 0.1).min() > 1e-3 and np.abs(feats * 2 - 0.2).min() > 1e-3:
                return jnp.asarray(image)
    raise AssertionError("no suitable seed")  # pragma: no cover


def test_hogb_gradient_matches_finite_differences():
    rep = hog(cell_size=4, bilinear_orientations=True, channels=1)
    image = _smooth_image_away_from_kinks(rep)
    check_grads(jax.jit(_loss(rep, image, seed=3)), (image,), order=1, modes=["rev"],
                eps=1e-2, atol=2e-3, rtol=2e-2)


def test_pooling_vjp_is_the_transpose():
    votes = jax.random.normal(jax.random.PRNGKey(0), (21, 17, 6))
    for axis, length in ((0, 23), (1, 19)):
        check_grads(jax.jit(lambda v: pool_axis(v, axis, length, 5)), (votes,),
                    order=1, modes=["rev"], eps=1e-1, atol=1e-3, rtol=1e-3)


def test_hard_gradient_flows_through_magnitude_only():
    """Hard HOG's gradient equals the gradient with the bin assignment held fixed."""
    image = jnp.asarray(_picture("camera")[100:164, 300:356])
    rep = hog(cell_size=8, channels=1)
    loss = _loss(rep, image, seed=5)
    bins = jax.jit(
        lambda y: hog_module.orientation_votes(
            *hog_module.image_gradients(y), num_orientations=9, bilinear=False
        ) > 0
    )(image)

    def fixed_bins(y):
        gx, gy = hog_module.image_gradients(y)
        g2 = gx * gx + gy * gy
        magnitude = jnp.sqrt(jnp.where(g2 > 0, g2, 1.0)) * (g2 > 0)
        votes = magnitude[..., None] * bins
        hist = pool_axis(votes, 1, y.shape[1], 8)
        hist = pool_axis(hist, 0, y.shape[0], 8)
        return hog_module.normalise_cells(hist, variant="uoctti", num_orientations=9)

    shape = jax.eval_shape(lambda y: rep.features(None, y), image).shape
    weights = jax.random.normal(jax.random.PRNGKey(5), shape)
    np.testing.assert_allclose(jax.jit(fixed_bins)(image), rep.code(image), atol=1e-6)
    expected = jax.jit(jax.grad(lambda y: jnp.sum(weights * fixed_bins(y))))(image)
    got = jax.jit(jax.grad(loss))(image)
    scale = float(jnp.abs(expected).max())
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * scale)


def test_smooth_gradient_keeps_hogs_values_and_takes_hogbs_derivative():
    """Bit-equal features (jit and vmap); through the cells, exactly HOGb's derivative."""
    image = jnp.asarray(_picture("camera")[100:164, 300:356])
    rep = hog(cell_size=8, channels=1)
    smooth = rep.features.smooth_gradient()
    assert smooth.bilinear_gradient and smooth != rep.features
    bilinear = paper_hogb().features
    assert bilinear.smooth_gradient() is bilinear
    np.testing.assert_array_equal(jax.jit(smooth)(None, image), rep.code(image))
    batch = jnp.stack([image, image[::-1]])
    np.testing.assert_array_equal(jax.vmap(smooth, in_axes=(None, 0))(None, batch),
                                  jax.vmap(rep.features, in_axes=(None, 0))(None, batch))

    def cells(bilinear, bilinear_gradient):
        return lambda y: hog_module.hog_cells(y, cell_size=8, num_orientations=9, bilinear=bilinear,
                                              bilinear_gradient=bilinear_gradient)

    weights = jax.random.normal(jax.random.PRNGKey(2), jax.eval_shape(cells(False, True), image).shape)
    got = jax.jit(jax.grad(lambda y: jnp.sum(weights * cells(False, True)(y))))(image)
    expected = jax.jit(jax.grad(lambda y: jnp.sum(weights * cells(True, False)(y))))(image)
    hard = jax.jit(jax.grad(lambda y: jnp.sum(weights * cells(False, False)(y))))(image)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * float(jnp.abs(expected).max()))
    assert float(jnp.abs(got - hard).max()) > 0.1 * float(jnp.abs(hard).max())


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cell_size": 0},
        {"cell_size": -8},
        {"cell_size": 2.5},
        {"variant": "felzenszwalb"},
        {"num_orientations": 0},
        {"channels": 0},
        {"variant": "dalaltriggs", "paper_layout": True},
    ],
)
def test_bad_options_raise(kwargs):
    with pytest.raises(JaxinvError):
        hog(**kwargs)


def test_bad_images_raise():
    rep = hog(cell_size=8, channels=1)
    good = np.zeros((16, 16, 1), np.float32)
    bad = good.copy()
    bad[3, 4, 0] = np.nan
    for call in (rep.code, lambda x: rep.features(None, x)):
        with pytest.raises(JaxinvError, match="NaN or infinite"):
            call(bad)
        with pytest.raises(JaxinvError, match="NaN or infinite"):
            call(np.where(good == 0, np.inf, good))
        with pytest.raises(JaxinvError, match="channel"):
            call(np.zeros((16, 16, 3), np.float32))
        with pytest.raises(JaxinvError):
            call(np.zeros((3, 3, 1), np.float32))          # (3 + 4)//8 = 0 cells
        with pytest.raises(JaxinvError):
            call(np.zeros((2, 16, 16, 1), np.float32))     # a batch
    with pytest.raises(JaxinvError, match="no 8-px cell"):
        rep.features(None, np.zeros((16, 3, 1), np.float32))
    with pytest.raises(JaxinvError, match="no 8-px cell"):
        rep.features(None, np.zeros((3, 16, 1), np.float32))
    # Inside jit the (traced) values are not checked, the shapes still are.
    assert jax.jit(rep.features)(None, bad).shape == (2, 2, 31)
    with pytest.raises(JaxinvError):
        jax.jit(rep.features)(None, np.zeros((16, 16, 2), np.float32))
