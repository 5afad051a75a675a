"""VLFeat's HOG (``vl_hog``) as a differentiable JAX graph.

``hog(...)`` returns a `Representation` whose features are VLFeat 0.9.21's
``vl_hog_put_image`` + ``vl_hog_extract`` (vl/hog.c) on exactly the float32 values
given (no rescaling), to float32 rounding (≲1e-6; tests use atol 1e-5 against the
real library through cyvlfeat). For an (H, W, C) image, cell size s and n
orientations:

1. Gradient at interior pixels only (1 ≤ y ≤ H−2, 1 ≤ x ≤ W−2), plain central
   differences without ½: gx = I[y, x+1] − I[y, x−1], gy = I[y+1, x] − I[y−1, x].
   With C > 1 channels, the channel of largest gx² + gy² is used, the first on ties.
2. Orientation: score_k = gx·cos(kπ/n) + gy·sin(kπ/n), in float32 with
   cos, sin rounded from double and each product rounded (no FMA). Hard binning
   puts ‖g‖ into directed bin k0 (+n when score_k0 < 0) with k0 = argmax_k |score_k|,
   the *first* k on ties (not atan2 + rounding: on 8-bit images exact ties are
   common). With bilinear orientations (HOGb), the second best k1 (first index on
   ties) shares ‖g‖: w1 = acos(min(|score_k0|/max(‖g‖, 1e-10), 1))/(π/n) goes to
   bin(k1) and w0 = 1 − w1 to bin(k0). (This is VLFeat 0.9.21 as shipped by Debian
   and checked here; VLFeat's later git master normalises g before scoring, which
   moves a few near-ties.)
3. Spatial voting: pixel x goes to the cells ⌊hx⌋ and ⌊hx⌋+1 with weights
   1 − frac(hx), frac(hx), hx = (x + 0.5)/s − 0.5 (same in y); votes for cells
   outside the grid are dropped. The grid has (W + ⌊s/2⌋) // s columns (rounds).
4. Block normalisation: e = Σ_k (h_k + h_{k+n})² per cell; the four 2×2 blocks
   around a cell (neighbours clamped to the grid) give f_q = 1/sqrt(Σ_block e + 1e-4).
5. UoCTTI (3n + 4 dims): [0.5 Σ_q min(0.2, f_q h_k)]_{k<2n},
   [0.5 Σ_q min(0.2, f_q (h_k + h_{k+n}))]_{k<n},
   [Σ_k min(0.2, f_q (h_k + h_{k+n})) / sqrt(18)]_{q<4}.
   Dalal-Triggs (4n dims): [min(0.2, f_q (h_k + h_{k+n}))]_{q<4, k<n}, block-major,
   no re-normalisation after clamping. Blocks q are upper-left, upper-right,
   lower-left, lower-right.

The graph uses only slicing, elementwise ops and small reductions (no gather, no
scatter, no convolution): bilinear spatial pooling is separable, and after padding
each axis so that the pixels voting into cells (b, b+1) form one group of s
consecutive pixels, it is an unrolled weighted sum over the group, once per axis.
On a 500×375 gray image (2 CPU cores) the forward pass takes a few ms; see
benchmarks/hog_dsift_forward.py.

Gradients (reverse mode; the orientation votes and the pooling have hand-written
VJPs, so forward-mode ``jax.jvp`` is not supported) are finite everywhere: flat,
black, saturated images, one-cell images, exact ties. Hard HOG differentiates
through the gradient magnitude only, the bin choice being piecewise constant (as
the authors' ``hog_net``); HOGb differentiates through magnitude and angle. The
HOGb angle's value is acos of the clamped cosine (a vectorised polynomial within
1e-7 rad of glibc's ``acosf``); its derivative is that of the equivalent
atan2(|g×d|, |g·d|), which stays finite where acos' does not (angle 0). The
magnitude's derivative at g = 0 is taken as 0.

Exactness needs one trick: XLA's CPU backend contracts ``a*b + c*d`` into fused
multiply-adds, which moves near-ties in the channel and orientation argmaxes; the
products are passed through an identity select that LLVM cannot contract.

Presets `paper_hog` and `paper_hogb` are the CVPR 2015 paper's HOG and HOGb
(METHOD.md §1.4, §3.1): 1-channel input 255·rgb2gray(picture/255) − 128 at full
resolution, UoCTTI, cell 8, 27-D layout (the 4 texture dims dropped).

**Where this differs from the paper's ``hog_net`` (deep-goggle).** jaxinv is exact to
VLFeat by design, and the paper's MatConvNet network only approximates VLFeat:

- grid: VLFeat has (W + 4)//8 cells (rounds); hog_net has ⌊W/8⌋ (pad-4, stride-8
  pooling), so e.g. a 500×375 image gives 63×47 here and 62×46 there;
- border gradients: VLFeat leaves the outer pixel ring out; hog_net zero-pads its
  3×3 filters and so sees spurious gradients at the image border; hog_net also
  halves the central differences (irrelevant after normalisation but for the eps);
- normalisation: VLFeat divides by sqrt(Σ + 1e-4); hog_net by max(sqrt(Σ), 1e-6);
- border cells: VLFeat normalises border cells with clamped (repeated) neighbour
  blocks, so each cell sums 4 block contributions; hog_net zero-pads and border
  cells get fewer than 4;
- DPM's HOG (features.cc) also drops border cells and adds a truncation dim;
  neither VLFeat nor jaxinv does;
- hog_net's HOGb weights use acos of the signed per-direction score over all 2n
  directions; VLFeat takes the best two undirected scores, which is the same
  linear interpolation between the two nearest directions.

Reference: A. Vedaldi, B. Fulkerson, VLFeat (2008–), vl/hog.c; Mahendran & Vedaldi,
"Understanding Deep Image Representations by Inverting Them", CVPR 2015.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.errors import JaxinvError
from jaxinv.images import centred_gray, rgb_to_gray
from jaxinv.objective import LAMBDA_ALPHA
from jaxinv.representation import Representation

__all__ = [
    "HogFeatures",
    "hog",
    "hog_cells",
    "hog_grid",
    "image_gradients",
    "normalise_cells",
    "orientation_votes",
    "paper_hog",
    "paper_hogb",
    "rgb2gray",
]

_VARIANTS = ("uoctti", "dalaltriggs")
_CLAMP = 0.2
_NORM_EPS = 1e-4


# ----------------------------------------------------------------------------------
# Static (numpy) tables: everything that depends on shapes and options only.


def hog_grid(height: int, width: int, cell_size: int) -> tuple[int, int]:
    """VLFeat's cell grid (hogH, hogW) = ((H + s//2)//s, (W + s//2)//s) (rounds, not floors)."""
    half = cell_size // 2
    return (height + half) // cell_size, (width + half) // cell_size


@functools.lru_cache(maxsize=None)
def _orientation_basis(num_orientations: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 (cos kπ/n, sin kπ/n), k < n, rounded from double as vl_hog_new does."""
    angles = np.arange(num_orientations, dtype=np.float64) * math.pi / num_orientations
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


@functools.lru_cache(maxsize=None)
def _axis_pooling(length: int, cell_size: int) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Padding and per-group weights of bilinear voting along one axis of ``length`` px.

    Pixel x (interior, 1 ≤ x ≤ length−2) has hx = (x + 0.5)/s − 0.5 and votes
    wx1 = 1 − frac(hx) into cell b = ⌊hx⌋ and wx2 = frac(hx) into b + 1, b ≥ −1.
    The pixels with the same b are the s consecutive pixels starting at
    x = s·b + s//2, so padding the interior row by ``before``/``after`` zeros puts
    the pixels of b = g − 1 at [g·s, (g+1)·s), g = 0..cells.

    Returns (before, after, w_self, w_next) with w_* of shape (cells + 1, s):
    group g sends w_self into cell g − 1 and w_next into cell g; the votes that fall
    outside the grid (cell −1, cell ``cells``) are zeroed, as VLFeat drops them.
    Weights are rounded as hog.c does (hx in double then float, wx1 = 1.0 − wx2).
    """
    cells = (length + cell_size // 2) // cell_size
    groups = cells + 1
    x = (np.arange(groups * cell_size) - cell_size + cell_size // 2).astype(np.int64)
    hx = ((x + 0.5) / cell_size - 0.5).astype(np.float32)
    binx = np.floor(hx)
    w_next = (hx - binx.astype(np.float32)).astype(np.float32)
    w_self = (1.0 - w_next.astype(np.float64)).astype(np.float32)
    group = (binx + 1).astype(np.int64)
    assert np.array_equal(group, np.repeat(np.arange(groups), cell_size)), "grouping broken"
    interior = max(length - 2, 0)
    before = 1 + cell_size - cell_size // 2
    after = groups * cell_size - before - interior
    assert after >= 0, "interior pixel beyond the last group"
    w_self = w_self.reshape(groups, cell_size)
    w_next = w_next.reshape(groups, cell_size)
    w_self[0] = 0.0        # cell −1
    w_next[cells] = 0.0    # cell `cells`
    return before, after, w_self, w_next


# ----------------------------------------------------------------------------------
# Differentiable pieces.


def _rounded(product: jax.Array) -> jax.Array:
    """The float32-rounded ``product`` (an identity), kept from being fused into an FMA.

    XLA's CPU backend contracts ``a*b + c*d`` into fused multiply-adds, which round
    once instead of twice. hog.c (built without FMA) rounds every product, and
    near-ties in the strongest-channel and orientation argmaxes follow that
    rounding. The select is opaque to LLVM's contraction, so the product is rounded.
    """
    return jnp.where(jnp.isnan(product), jnp.zeros_like(product), product)


def image_gradients(image: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Interior central differences (no ½) of the strongest channel, as vl_hog_put_image.

    image: (H, W, C) with H, W ≥ 3. Returns gx, gy of shape (H−2, W−2). The channel
    maximising gx² + gy² is chosen, the first on ties; the choice is piecewise
    constant, so derivatives flow through the chosen channel only.
    """
    gx = image[1:-1, 2:, :] - image[1:-1, :-2, :]
    gy = image[2:, 1:-1, :] - image[:-2, 1:-1, :]
    if image.shape[-1] == 1:
        return gx[..., 0], gy[..., 0]
    energy = jax.lax.stop_gradient(_rounded(gx * gx) + _rounded(gy * gy))
    best = jnp.argmax(energy, axis=-1)
    # A chain of selects rather than a gather: its transpose is selects, not a scatter.
    bx, by = gx[..., 0], gy[..., 0]
    for c in range(1, image.shape[-1]):
        bx = jnp.where(best == c, gx[..., c], bx)
        by = jnp.where(best == c, gy[..., c], by)
    return bx, by


# Abramowitz & Stegun 4.4.46: acos(x) = sqrt(1 − x)·Σ_i a_i x^i on [0, 1], |error| ≤ 2e-8.
_ACOS_COEFFS = (
    1.5707963050, -0.2145988016, 0.0889789874, -0.0501743046,
    0.0308918810, -0.0170881256, 0.0066700901, -0.0012624911,
)


def _acos_unit(x: jax.Array) -> jax.Array:
    """acos on [0, 1] to float32 accuracy, vectorised.

    XLA's CPU acos is a scalar libm-style routine (~20x slower than this); the
    result differs from glibc's acosf by a few 1e-8 rad, far below the 1e-5 budget.
    1 − x is exact for x ≥ 0.5 (Sterbenz), so the steep part near 1 keeps its accuracy.
    """
    poly = jnp.full_like(x, _ACOS_COEFFS[-1])
    for a in _ACOS_COEFFS[-2::-1]:
        poly = poly * x + jnp.float32(a)
    return jnp.sqrt(1.0 - x) * poly


def _basis_at(k: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """(cos kπ/n, sin kπ/n) per pixel, as a chain of selects (an XLA gather is slower)."""
    cos_k, sin_k = _orientation_basis(n)
    c = jnp.full(k.shape, cos_k[0])
    d = jnp.full(k.shape, sin_k[0])
    for i in range(1, n):
        c = jnp.where(k == i, cos_k[i], c)
        d = jnp.where(k == i, sin_k[i], d)
    return c, d


def _score(gx: jax.Array, gy: jax.Array, c: jax.Array, d: jax.Array) -> jax.Array:
    """gx·c + gy·d with both products rounded, as hog.c computes orientation scores."""
    return _rounded(gx * c) + _rounded(gy * d)


def _top2_bins(score: jax.Array, n: int) -> tuple[jax.Array, ...]:
    """hog.c's running top-2 over the n orientation scores, as one variadic reduce.

    Ranks k by |score_k| descending, then k ascending (so the first index wins
    ties, as hog.c's strict '>'), and returns for the best and second best:
    (|score|, k, directed bin k + n·[score_k < 0]). With n = 1 the second bin is −1.
    Being a reduce, its outputs are materialised once: XLA would otherwise recompute
    an argmax-then-gather chain for each of the 2n bins of every pixel.
    """
    strength = jnp.abs(score)
    k = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32), score.shape)
    directed = k + n * (score < 0).astype(jnp.int32)
    none_s = jnp.full_like(strength, -jnp.inf)
    none_i = jnp.full_like(k, n)
    none_b = jnp.full_like(k, -1)

    def better(sa, ia, sb, ib):
        return (sa > sb) | ((sa == sb) & (ia < ib))

    def merge(a, b):
        a1s, a1i, a1b, a2s, a2i, a2b = a
        b1s, b1i, b1b, b2s, b2i, b2b = b
        a_first = better(a1s, a1i, b1s, b1i)
        # Second best: the better of the loser of the firsts and the winner's second.
        cs = jnp.where(a_first, b1s, a1s)
        ci = jnp.where(a_first, b1i, a1i)
        cb = jnp.where(a_first, b1b, a1b)
        ds = jnp.where(a_first, a2s, b2s)
        di = jnp.where(a_first, a2i, b2i)
        db = jnp.where(a_first, a2b, b2b)
        c_wins = better(cs, ci, ds, di)
        return (
            jnp.where(a_first, a1s, b1s),
            jnp.where(a_first, a1i, b1i),
            jnp.where(a_first, a1b, b1b),
            jnp.where(c_wins, cs, ds),
            jnp.where(c_wins, ci, di),
            jnp.where(c_wins, cb, db),
        )

    lowest = jnp.array(-jnp.inf, strength.dtype)
    init = (lowest, jnp.int32(n), jnp.int32(-1), lowest, jnp.int32(n), jnp.int32(-1))
    return jax.lax.reduce(
        (strength, k, directed, none_s, none_i, none_b), init, merge, (score.ndim - 1,)
    )


def orientation_votes(
    gx: jax.Array, gy: jax.Array, *, num_orientations: int, bilinear: bool
) -> jax.Array:
    """Per-pixel votes (…, 2n) of ‖g‖ into the 2n directed orientation bins.

    score_k = gx·cos(kπ/n) + gy·sin(kπ/n) (float32, each product rounded),
    k0 = first argmax_k |score_k|, bin(k) = k + n·[score_k < 0]. Hard: ‖g‖ goes to
    bin(k0). Bilinear: with k1 = first argmax over k ≠ k0 (what hog.c's running
    top-2 with strict '>' gives), w1 = acos(min(|score_k0|/max(‖g‖, 1e-10), 1))/(π/n)
    goes to bin(k1) and w0 = 1 − w1 to bin(k0).

    Derivatives (reverse mode): the bins are piecewise constant, so only ‖g‖
    (hard) or ‖g‖ and the angle (bilinear) carry them. The angle's derivative is
    that of atan2(|g×d|, |g·d|) (d the k0 direction), the exact angle to the bin
    centre: finite at 0, where acos' is not. hog.c's float32 direction vectors are
    not exactly unit, so its acos value bends away from the exact angle within
    ~1e-3 rad of a bin centre (and is clamped at 0); there, and only there, this
    derivative is the smooth one, not the (near-singular) slope of that value.
    """
    return _votes(gx, gy, num_orientations, bilinear)


def _votes_forward(gx, gy, n, bilinear):
    """Votes and the per-pixel residuals of their backward pass."""
    g2 = _rounded(gx * gx) + _rounded(gy * gy)
    nonzero = g2 > 0
    magnitude = jnp.sqrt(g2)
    inv_mag = jnp.where(nonzero, 1.0 / jnp.where(nonzero, magnitude, 1.0), 0.0)
    bins = jnp.arange(2 * n)

    cos_k, sin_k = (jnp.asarray(v) for v in _orientation_basis(n))
    score = _score(gx[..., None], gy[..., None], cos_k, sin_k)                  # (…, n)
    strength0, k0, bin0, _, k1, bin1 = _top2_bins(score, n)
    # ∂‖g‖/∂g = g/‖g‖ (0 at g = 0: the safe subgradient).
    dmag = (gx * inv_mag, gy * inv_mag)
    if not bilinear:
        votes = magnitude[..., None] * (bins == bin0[..., None]).astype(gx.dtype)
        return votes, (bin0, dmag)

    cosine = strength0 / jnp.maximum(magnitude, jnp.float32(1e-10))
    weight1 = _acos_unit(jnp.minimum(cosine, 1.0)) / jnp.float32(math.pi / n)
    weight0 = 1.0 - weight1
    votes = magnitude[..., None] * (
        weight0[..., None] * (bins == bin0[..., None]).astype(gx.dtype)
        + weight1[..., None] * (bins == bin1[..., None]).astype(gx.dtype)
    )
    # ∂w1/∂g from atan2(|c|, |t|), c = gx·d − gy·c, t = gx·c + gy·d:
    # ∂angle = (|t|·sign(c)·∂c − |c|·sign(t)·∂t)/‖g‖².
    c0, d0 = _basis_at(k0, n)
    cross = gx * d0 - gy * c0
    dot = gx * c0 + gy * d0
    inv_g2 = inv_mag * inv_mag / jnp.float32(math.pi / n)
    sc = jnp.abs(dot) * jnp.sign(cross) * inv_g2
    st = -jnp.abs(cross) * jnp.sign(dot) * inv_g2
    dweight1 = (sc * d0 + st * c0, -sc * c0 + st * d0)
    return votes, (bin0, bin1, magnitude, weight1, dmag, dweight1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _votes(gx, gy, n, bilinear):
    return _votes_forward(gx, gy, n, bilinear)[0]


def _votes_fwd(gx, gy, n, bilinear):
    return _votes_forward(gx, gy, n, bilinear)


def _votes_bwd(n, bilinear, residuals, cotangent):
    bins = jnp.arange(2 * n, dtype=jnp.int32)
    if not bilinear:
        bin0, (mx, my) = residuals
        # cotangent[..., bin0] per pixel, as a masked sum (no gather).
        d_magnitude = jnp.sum(jnp.where(bins == bin0[..., None], cotangent, 0.0), axis=-1)
        return d_magnitude * mx, d_magnitude * my
    bin0, bin1, magnitude, weight1, (mx, my), (ax, ay) = residuals
    zero = jnp.zeros((), cotangent.dtype)
    # Both picks in one variadic reduce, so the cotangent is produced once.
    ct0, ct1 = jax.lax.reduce(
        (
            jnp.where(bins == bin0[..., None], cotangent, zero),
            jnp.where(bins == bin1[..., None], cotangent, zero),
        ),
        (zero, zero),
        lambda a, b: (a[0] + b[0], a[1] + b[1]),
        (cotangent.ndim - 1,),
    )
    d_magnitude = (1.0 - weight1) * ct0 + weight1 * ct1
    d_weight1 = magnitude * (ct1 - ct0)
    return d_magnitude * mx + d_weight1 * ax, d_magnitude * my + d_weight1 * ay


_votes.defvjp(_votes_fwd, _votes_bwd)


def _group_axis(x: jax.Array, axis: int, groups: int, cell_size: int) -> jax.Array:
    """Split ``axis`` of length groups·s into (groups, s)."""
    shape = list(x.shape)
    shape[axis : axis + 1] = [groups, cell_size]
    return x.reshape(shape)


def _weights_along(w: np.ndarray, p: int, axis: int, ndim: int) -> jax.Array:
    """Column p of a (groups, s) weight table, shaped to broadcast along ``axis``."""
    shape = [1] * ndim
    shape[axis] = w.shape[0]
    return jnp.asarray(w[:, p]).reshape(shape)


def _pool_forward(votes: jax.Array, axis: int, length: int, cell_size: int) -> jax.Array:
    before, after, w_self, w_next = _axis_pooling(length, cell_size)
    groups = w_self.shape[0]
    pad = [(0, 0)] * votes.ndim
    pad[axis] = (before, after)
    v = _group_axis(jnp.pad(votes, pad), axis, groups, cell_size)
    # An unrolled sum over the s pixels of a group: XLA turns it into one
    # vectorised elementwise loop, much faster on CPU than a strided reduce.
    to_self = to_next = None
    for p in range(cell_size):
        vp = jax.lax.index_in_dim(v, p, axis + 1, keepdims=False)
        a = vp * _weights_along(w_self, p, axis, votes.ndim)
        b = vp * _weights_along(w_next, p, axis, votes.ndim)
        to_self = a if to_self is None else to_self + a
        to_next = b if to_next is None else to_next + b
    # Group g sends to_self into cell g−1 and to_next into cell g.
    return jax.lax.slice_in_dim(to_self, 1, groups, axis=axis) + jax.lax.slice_in_dim(
        to_next, 0, groups - 1, axis=axis
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _pool_axis(votes: jax.Array, axis: int, length: int, cell_size: int) -> jax.Array:
    """Bilinear voting along ``axis`` of ``votes``: (…, length−2 interior px, …) -> (…, cells, …).

    cell[j] = Σ_{x: ⌊hx⌋=j} (1 − frac hx)·v[x] + Σ_{x: ⌊hx⌋=j−1} frac(hx)·v[x].
    It is linear; its transpose (the backward pass) is written out by hand as one
    broadcast multiply, since autodiff's transpose of the unrolled sum is a chain
    of s full-size pads.
    """
    return _pool_forward(votes, axis, length, cell_size)


def _pool_axis_fwd(votes, axis, length, cell_size):
    return _pool_forward(votes, axis, length, cell_size), None


def _pool_axis_bwd(axis, length, cell_size, _, cotangent):
    before, after, w_self, w_next = _axis_pooling(length, cell_size)
    groups = w_self.shape[0]
    ndim = cotangent.ndim
    pad_self = [(0, 0)] * ndim
    pad_self[axis] = (1, 0)
    pad_next = [(0, 0)] * ndim
    pad_next[axis] = (0, 1)
    ct_self = jnp.expand_dims(jnp.pad(cotangent, pad_self), axis + 1)   # (…, groups, 1, …)
    ct_next = jnp.expand_dims(jnp.pad(cotangent, pad_next), axis + 1)
    wshape = [1] * (ndim + 1)
    wshape[axis : axis + 2] = [groups, cell_size]
    grad = ct_self * jnp.asarray(w_self).reshape(wshape) + ct_next * jnp.asarray(
        w_next
    ).reshape(wshape)
    shape = list(cotangent.shape)
    shape[axis] = groups * cell_size
    grad = grad.reshape(shape)
    interior = groups * cell_size - before - after
    return (jax.lax.slice_in_dim(grad, before, before + interior, axis=axis),)


_pool_axis.defvjp(_pool_axis_fwd, _pool_axis_bwd)


def hog_cells(
    image: jax.Array, *, cell_size: int, num_orientations: int, bilinear: bool
) -> jax.Array:
    """Unnormalised directed cell histograms (hogH, hogW, 2n): steps 1–3 of vl_hog."""
    height, width = image.shape[0], image.shape[1]
    cells_h, cells_w = hog_grid(height, width, cell_size)
    n2 = 2 * num_orientations
    if height < 3 or width < 3:
        # No interior pixel: VLFeat's histograms are all zero.
        return jnp.zeros((cells_h, cells_w, n2), image.dtype) + 0.0 * jnp.sum(image)
    gx, gy = image_gradients(image)
    votes = orientation_votes(gx, gy, num_orientations=num_orientations, bilinear=bilinear)
    pooled = _pool_axis(votes, 1, width, cell_size)
    return _pool_axis(pooled, 0, height, cell_size)


def _block_factors(hist: jax.Array, n: int) -> jax.Array:
    """(4, hogH, hogW) factors 1/sqrt(block energy + 1e-4), blocks UL, UR, LL, LR."""
    folded = hist[..., :n] + hist[..., n:]
    energy = jnp.sum(folded * folded, axis=-1)
    p = jnp.pad(energy, 1, mode="edge")
    s = p[:-1, :-1] + p[1:, :-1] + p[:-1, 1:] + p[1:, 1:]
    s = jnp.stack([s[:-1, :-1], s[:-1, 1:], s[1:, :-1], s[1:, 1:]])
    return jax.lax.rsqrt(s + jnp.float32(_NORM_EPS))


def normalise_cells(hist: jax.Array, *, variant: str, num_orientations: int) -> jax.Array:
    """Block normalisation and clamping of vl_hog_extract: (hogH, hogW, 2n) -> features."""
    n = num_orientations
    f = _block_factors(hist, n)[..., None]                       # (4, h, w, 1)
    folded = hist[..., :n] + hist[..., n:]
    undirected = jnp.minimum(_CLAMP, f * folded)                 # (4, h, w, n)
    if variant == "dalaltriggs":
        return jnp.concatenate(list(undirected), axis=-1)
    directed = jnp.minimum(_CLAMP, f * hist)                     # (4, h, w, 2n)
    texture = jnp.sum(undirected, axis=-1) * (np.float32(1.0) / np.sqrt(np.float32(18.0)))
    return jnp.concatenate(
        [
            0.5 * jnp.sum(directed, axis=0),
            0.5 * jnp.sum(undirected, axis=0),
            jnp.moveaxis(texture, 0, -1),
        ],
        axis=-1,
    )


# ----------------------------------------------------------------------------------
# The representation.


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


@dataclasses.dataclass(frozen=True)
class HogFeatures:
    """``features(params, x)`` of `hog`: hashable and equal for equal options (jit cache key).

    ``x`` is one (H, W, channels) image; ``params`` is ignored (None).
    """

    cell_size: int = 8
    variant: str = "uoctti"
    num_orientations: int = 9
    bilinear_orientations: bool = False
    paper_layout: bool = False
    channels: int = 3

    @property
    def dimension(self) -> int:
        n = self.num_orientations
        if self.variant == "dalaltriggs":
            return 4 * n
        return 3 * n if self.paper_layout else 3 * n + 4

    def check(self, x) -> None:
        """Raise `JaxinvError` for a bad image: shape always, finiteness on concrete arrays."""
        shape = tuple(np.shape(x))
        if len(shape) != 3:
            raise JaxinvError(
                f"hog: expected one image of shape (H, W, C), got shape {shape}; pass a single"
                " image (use jax.vmap for batches)"
            )
        height, width, channels = shape
        if channels != self.channels:
            raise JaxinvError(
                f"hog: expected {self.channels} channel(s), got {channels}; convert the image or"
                f" build the representation with hog(channels={channels})"
            )
        cells_h, cells_w = hog_grid(height, width, self.cell_size)
        if cells_h < 1 or cells_w < 1:
            least = self.cell_size - self.cell_size // 2
            raise JaxinvError(
                f"hog: a {height}x{width} image has no {self.cell_size}-px cell; use an image of"
                f" at least {least}x{least} pixels or a smaller cell_size"
            )
        if _is_concrete(x) and not bool(np.all(np.isfinite(np.asarray(x)))):
            raise JaxinvError("hog: the image has NaN or infinite pixels; pass finite values")

    def __call__(self, params, x: jax.Array) -> jax.Array:
        del params
        self.check(x)
        return _hog_features(
            jnp.asarray(x, jnp.float32),
            cell_size=self.cell_size,
            variant=self.variant,
            num_orientations=self.num_orientations,
            bilinear=self.bilinear_orientations,
            paper_layout=self.paper_layout,
        )


# Jitted so that eager calls (rep(picture), rep.code(x)) run as one compiled program
# rather than op by op; inside an outer jit or vmap it is simply inlined.
@functools.partial(
    jax.jit, static_argnames=("cell_size", "variant", "num_orientations", "bilinear", "paper_layout")
)
def _hog_features(
    x: jax.Array, *, cell_size: int, variant: str, num_orientations: int, bilinear: bool,
    paper_layout: bool,
) -> jax.Array:
    hist = hog_cells(x, cell_size=cell_size, num_orientations=num_orientations, bilinear=bilinear)
    out = normalise_cells(hist, variant=variant, num_orientations=num_orientations)
    return out[..., : 3 * num_orientations] if paper_layout else out


rgb2gray = rgb_to_gray


def _picture(channels: int):
    def preprocess(picture: np.ndarray) -> np.ndarray:
        """Picture in [0, 255] -> float32 with ``channels`` channels, same range (no rescaling)."""
        picture = np.asarray(picture, np.float32)
        if picture.ndim == 2:
            picture = picture[..., None]
        if picture.ndim == 3 and picture.shape[-1] != channels:
            if channels == 1 and picture.shape[-1] == 3:
                picture = rgb2gray(picture)
            elif channels == 3 and picture.shape[-1] == 1:
                picture = np.repeat(picture, 3, axis=-1)
        return np.asarray(picture, np.float32)

    return preprocess


def _paper_preprocess(picture: np.ndarray) -> np.ndarray:
    """255·rgb2gray(picture/255) − 128 at full resolution (METHOD.md §1.4), 1 channel."""
    return centred_gray(picture)


def _paper_deprocess(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float32) + np.float32(128.0)


def hog(
    *,
    cell_size: int = 8,
    variant: str = "uoctti",
    num_orientations: int = 9,
    bilinear_orientations: bool = False,
    paper_layout: bool = False,
    channels: int = 3,
    name: str | None = None,
) -> Representation:
    """VLFeat ``vl_hog`` as a `Representation` on (H, W, channels) float32 images.

    Args:
      cell_size: HOG cell size s in pixels; the grid is ((H + s//2)//s, (W + s//2)//s).
      variant: ``"uoctti"`` (3n + 4 dims per cell) or ``"dalaltriggs"`` (4n dims).
      num_orientations: n undirected orientations (2n directed bins).
      bilinear_orientations: VLFeat's BilinearOrientations (the paper's HOGb).
      paper_layout: UoCTTI without the 4 texture dims (3n = 27 dims, the paper's).
      channels: input channels. Default 3: colour pictures in [0, 255], VLFeat's
        strongest-channel rule. Any C ≥ 1 works; the features accept that C only.

    The features are computed on exactly the values given: [0, 1] and [0, 255]
    inputs give different features (the 1e-4 in the block norm is absolute). The
    preprocess keeps the picture's [0, 255] range and only converts channels
    (rgb2gray for 1, replication for 3). The paper's presets are `paper_hog` and
    `paper_hogb`.
    """
    if not isinstance(cell_size, (int, np.integer)) or isinstance(cell_size, bool) or cell_size < 1:
        raise JaxinvError(f"hog: cell_size must be a positive integer, got {cell_size!r}; use e.g. 8")
    variant_key = str(variant).lower().replace("-", "").replace("_", "")
    if variant_key not in _VARIANTS:
        raise JaxinvError(
            f"hog: unknown variant {variant!r}; use 'uoctti' or 'dalaltriggs'"
        )
    if (
        not isinstance(num_orientations, (int, np.integer))
        or isinstance(num_orientations, bool)
        or num_orientations < 1
    ):
        raise JaxinvError(
            f"hog: num_orientations must be a positive integer, got {num_orientations!r}; use e.g. 9"
        )
    if paper_layout and variant_key != "uoctti":
        raise JaxinvError("hog: paper_layout is the UoCTTI 27-D layout; use variant='uoctti'")
    if not isinstance(channels, (int, np.integer)) or isinstance(channels, bool) or channels < 1:
        raise JaxinvError(f"hog: channels must be a positive integer, got {channels!r}; use 1 or 3")
    features = HogFeatures(
        cell_size=int(cell_size),
        variant=variant_key,
        num_orientations=int(num_orientations),
        bilinear_orientations=bool(bilinear_orientations),
        paper_layout=bool(paper_layout),
        channels=int(channels),
    )
    least = int(cell_size) - int(cell_size) // 2
    if name is None:
        name = "hogb" if bilinear_orientations else "hog"
    return Representation(
        name=name,
        features=features,
        params=None,
        input_shape=None,
        channels=int(channels),
        min_size=(least, least),
        preprocess=_picture(int(channels)),
        stride=int(cell_size),
        lambda_tv=0.5,
        lambda_alpha=LAMBDA_ALPHA,
        schedule="shallow",
    )


def paper_hog() -> Representation:
    """The paper's HOG: VLFeat UoCTTI, cell 8, 27-D, on 255·gray − 128 (METHOD.md §1.4, §3.1)."""
    return hog(cell_size=8, variant="uoctti", paper_layout=True, channels=1, name="hog").replace(
        preprocess=_paper_preprocess, deprocess=_paper_deprocess
    )


def paper_hogb() -> Representation:
    """The paper's HOGb: as `paper_hog` with bilinear orientation assignment."""
    return hog(
        cell_size=8,
        variant="uoctti",
        paper_layout=True,
        bilinear_orientations=True,
        channels=1,
        name="hogb",
    ).replace(preprocess=_paper_preprocess, deprocess=_paper_deprocess)
