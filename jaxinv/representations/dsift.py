"""Dense SIFT as a differentiable JAX graph, numerically VLFeat's ``vl_dsift``.

This reproduces ``vl_dsift_process`` of VLFeat 0.9.21 (``vl/dsift.c``, ``vl/mathop.h``) for
the standard 4×4×8 geometry, with both its flat ("fast") and Gaussian windows:

1. Gradient (``vl_dsift_process``): ``g_x = ½(I[y,x+1] − I[y,x−1])`` inside, one-sided
   ``I[y,1] − I[y,0]`` / ``I[y,W−1] − I[y,W−2]`` on the first/last column (same for ``g_y``).
2. Angle θ = ``vl_fast_atan2_f(g_y, g_x)``: with a = |g_y| + FLT_EPSILON,
   r = (g_x − a)/(g_x + a), θ = π/4 + (0.1821 r² − 0.9675) r for g_x ≥ 0, and
   r = (g_x + a)/(a − g_x), θ = 3π/4 + (0.1821 r² − 0.9675) r otherwise; θ ← −θ if g_y < 0.
   Magnitude m = ``vl_fast_sqrt_f(g_x² + g_y²)`` (0 below 1e-8).
3. Orientation split: n = (θ mod 2π)·T/2π, b = ⌊n⌋, ρ = n − b;
   channel b mod T gets (1 − ρ)·m and channel b + 1 mod T gets ρ·m (T = 8).
4. Spatial pooling, separable, with edge-replicated ("continuity") padding, sampled at the
   bin centres c = (x_min + i·step + b_x·bs, y_min + j·step + b_y·bs):
   - flat window (``fast=True``): the kernel (bs − |d|)/bs², then each bin is scaled by
     w_b = bs·mean_{|d|<bs} exp(−½((d − δ_b)/σ)²) per axis, δ_b = bs·(b − 3/2), σ = bs·window_size;
   - Gaussian window (``fast=False``): per-bin kernels (1 − |d|/bs)·exp(−½((d + δ_b)/σ)²)
     at pixel offset d from the bin centre (a Gaussian centred on the descriptor centre).
5. ``norm`` = Σ(descriptor)/(3bs+1)²; then L2 (``vl_fast_sqrt_f`` + FLT_EPSILON), clamp at 0.2,
   L2 again. Element order t + T·(b_x + 4·b_y); frames row by row (y outer, x inner).

Implementation: step 1-3 are per-pixel jnp maths; a hand-written VJP for them and matmuls
for the pooling (one banded matrix per axis with the edge replication folded in, or, for
dense sampling, block matmuls on the gcd(step, bs) lattice) keep the backward pass about as
cheap as the forward one on XLA:CPU, which otherwise fuses the shifted-slice adjoints with
their producers and recomputes them once per tap. Everything is float32, jit- and vmap-able.
The non-differentiable bit trick of ``vl_fast_sqrt_f`` gets the derivative of the exact
square root, zero below VLFeat's 1e-8 threshold, so gradients stay finite on flat, black and
saturated images; ``vl_fast_atan2_f`` is rational (denominators ≥ FLT_EPSILON) and is
differentiated as written, with ⌊n⌋ held fixed (the split is continuous across bins).

Differences from VLFeat: the pooling sums in a different order than VLFeat's float32 running
sums, so descriptors agree to ~1e-5 on frames with ``norm`` > 1e-2 (for [0, 1] images; ×255
for [0, 255]) and arbitrarily on near-flat frames, where VLFeat's output is rounding noise.
Only the 4×4×8 geometry and one step and bin size for both axes are offered. ``bounds`` is
(x_min, y_min, x_max, y_max) as in the C API (cyvlfeat takes [Y, X] order).

Paper (CVPR 2015, ``dsift_net(5)``, METHOD.md §3.2) vs `paper_dsift`:

- Window: dsift_net weights each *cell* by exp(−((i−2.5)² + (j−2.5)²)/(2·1.5²)) (σ = 1.5 cells;
  1-D factors 0.946 inner, 0.607 outer, ratio 0.6412). VLFeat's flat window does the same kind
  of thing, one Gaussian factor per bin and axis, but takes the *mean* of the Gaussian over the
  bin's (2bs−1)-pixel support: with ``window_size=1.5`` the ratio would be 0.674. `paper_dsift`
  uses ``fast=True, window_size=PAPER_WINDOW_SIZE`` (1.40173), where the ratio is 0.6412, so
  VLFeat's per-bin weights are proportional to dsift_net's and, after the L2 normalisation,
  the windows agree exactly. VLFeat's Gaussian window (``fast=False``) instead weights every
  pixel, which dsift_net never does.
- Renormalisation: dsift_net stops after the 0.2 clamp; VLFeat (and jaxinv by default)
  L2-normalises again. ``renormalize=False`` gives the dsift_net behaviour.
- Normalisation ε: dsift_net uses 1/√(1e-6 + Σx²), VLFeat 1/(√Σx² + FLT_EPSILON).
- Borders and grid: dsift_net convolves without padding (the gradient image loses one pixel
  per side; cells come from a 2b×2b triangular kernel of even length, stride b, so cell centres
  sit between pixels), while VLFeat uses one-sided differences at the border, a (2b−1)-tap
  triangular kernel centred on pixels, edge-replicated padding, and descriptors whose upper-left
  bin centre starts at pixel (0, 0); the descriptor grids are therefore offset from each other.
- Angle: dsift_net interpolates with the exact angle (acos of the normalised directional
  derivatives); VLFeat with ``vl_fast_atan2_f`` (error ≤ 6e-3 rad).
- Input: both use 255·rgb2gray − 128 at full resolution (METHOD.md §1.4).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxinv.errors import JaxinvError
from jaxinv.images import centred_gray
from jaxinv.objective import LAMBDA_ALPHA
from jaxinv.representation import Representation

__all__ = [
    "PAPER_WINDOW_SIZE",
    "DsiftFeatures",
    "dsift",
    "dsift_descriptors",
    "dsift_frames",
    "dsift_norms",
    "gray_preprocess",
    "gray_deprocess",
    "paper_dsift",
]

NUM_BINS = 4  # spatial bins per axis (VLFeat's default geometry, the only one offered)
NUM_ORIENTATIONS = 8
DESCRIPTOR_SIZE = NUM_BINS * NUM_BINS * NUM_ORIENTATIONS
FLT_EPSILON = np.float32(1.19209290e-07)  # VL_EPSILON_F
# Flat-window size at which VLFeat's per-bin factors bs·mean(Gaussian over the bin), bin 5,
# have the outer/inner ratio exp(−(1.5² − 0.5²)/(2·1.5²)) = 0.64118 of dsift_net's σ = 1.5-cell
# cell weights (solved numerically; nominal 1.5 gives 0.674). Checked in tests/test_dsift.py.
PAPER_WINDOW_SIZE = 1.401727


# --------------------------------------------------------------------------------------------
# VLFeat's fast math (mathop.h)


def fast_atan2(y: jax.Array, x: jax.Array) -> jax.Array:
    """``vl_fast_atan2_f(y, x)``: VLFeat's cubic atan2, max error 6.1e-3 rad, range ≈ [−π, π].

    With a = |y| + FLT_EPSILON: r = (x − a)/(x + a), θ = π/4 + (c3 r² − c1) r if x ≥ 0, else
    r = (x + a)/(a − x), θ = 3π/4 + (c3 r² − c1) r; the result is −θ for y < 0
    (c3 = 0.1821, c1 = 0.9675). The denominators are ≥ FLT_EPSILON, so it is smooth
    (and its gradient finite) everywhere except on the y = 0 and x = 0 lines.
    """
    c3 = jnp.float32(0.1821)
    c1 = jnp.float32(0.9675)
    abs_y = jnp.abs(y) + FLT_EPSILON
    pos = x >= 0
    # Both branches are finite everywhere (denominators ≥ FLT_EPSILON), so jnp.where is safe
    # for gradients.
    r = jnp.where(pos, (x - abs_y) / (x + abs_y), (x + abs_y) / (abs_y - x))
    base = jnp.where(pos, jnp.float32(math.pi / 4), jnp.float32(3 * math.pi / 4))
    angle = base + (c3 * r * r - c1) * r
    return jnp.where(y < 0, -angle, angle)


def _fast_resqrt_bits(x: jax.Array) -> jax.Array:
    """``vl_fast_resqrt_f``: the 0x5f3759df initial guess and two Newton steps, in float32."""
    xhalf = jnp.float32(0.5) * x
    i = lax.bitcast_convert_type(x, jnp.int32)
    u = lax.bitcast_convert_type(jnp.int32(0x5F3759DF) - (i >> 1), jnp.float32)
    u = u * (jnp.float32(1.5) - xhalf * u * u)
    u = u * (jnp.float32(1.5) - xhalf * u * u)
    return u


_SQRT_THRESHOLD = np.float32(1e-8)


@jax.custom_jvp
def fast_sqrt(x: jax.Array) -> jax.Array:
    """``vl_fast_sqrt_f(x)``: 0 for x < 1e-8, else x·resqrt(x) (relative error ≤ 4.7e-6).

    The derivative is that of the exact √x, and 0 below the threshold (where the value is 0),
    so it is finite for x = 0.
    """
    small = x < _SQRT_THRESHOLD
    safe = jnp.where(small, jnp.float32(1.0), x)
    return jnp.where(small, jnp.float32(0.0), safe * _fast_resqrt_bits(safe))


@fast_sqrt.defjvp
def _fast_sqrt_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    small = x < _SQRT_THRESHOLD
    safe = jnp.where(small, jnp.float32(1.0), x)
    slope = jnp.where(small, jnp.float32(0.0), jnp.float32(0.5) * lax.rsqrt(safe))
    return fast_sqrt(x), slope * dx


# --------------------------------------------------------------------------------------------
# Geometry (static, numpy)


@dataclasses.dataclass(frozen=True)
class _Grid:
    """Frame grid along one axis: upper-left bin centres start + i·step, i < n."""

    start: int
    step: int
    n: int


def _axis_grid(lo: int, hi: int, bin_size: int, step: int) -> _Grid:
    # _vl_dsift_update_buffers: range = hi − lo − (NB−1)·bs; n = range // step + 1 if range ≥ 0.
    span = hi - lo - (NUM_BINS - 1) * bin_size
    n = span // step + 1 if span >= 0 else 0
    return _Grid(lo, step, n)


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise JaxinvError(f"dsift: {name} must be an integer, got {value!r}; pass an int >= {minimum}")
    if value < minimum:
        raise JaxinvError(f"dsift: {name} must be >= {minimum}, got {value}; pass a larger {name}")
    return int(value)


def _check_bounds(bounds: Sequence[int] | None) -> tuple[int, int, int, int] | None:
    if bounds is None:
        return None
    try:
        values = tuple(bounds)
    except TypeError:
        values = ()
    if len(values) != 4 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values
    ):
        raise JaxinvError(
            f"dsift: bounds must be 4 integers (x_min, y_min, x_max, y_max), got {bounds!r};"
            " pass a 0-based inclusive pixel box or None"
        )
    x0, y0, x1, y1 = (int(v) for v in values)
    if min(values) < 0 or x1 < x0 or y1 < y0:
        raise JaxinvError(
            f"dsift: bounds {values} must satisfy 0 <= x_min <= x_max and 0 <= y_min <= y_max;"
            " pass a 0-based inclusive pixel box (x_min, y_min, x_max, y_max)"
        )
    return (x0, y0, x1, y1)


def _grids(
    image_shape: Sequence[int], bin_size: int, step: int, bounds: tuple[int, int, int, int] | None
) -> tuple[_Grid, _Grid]:
    """(y grid, x grid) of VLFeat's frames for an (H, W[, C]) image; raises if there are none."""
    h, w = int(image_shape[0]), int(image_shape[1])
    x0, y0, x1, y1 = (0, 0, w - 1, h - 1) if bounds is None else bounds
    if x1 > w - 1 or y1 > h - 1:
        raise JaxinvError(
            f"dsift: bounds {bounds} reach beyond the {h}x{w} image;"
            f" keep x_max <= {w - 1} and y_max <= {h - 1}"
        )
    gy, gx = _axis_grid(y0, y1, bin_size, step), _axis_grid(x0, x1, bin_size, step)
    if gy.n == 0 or gx.n == 0 or w < 2 or h < 2:
        need = (NUM_BINS - 1) * bin_size + 1
        raise JaxinvError(
            f"dsift: a {h}x{w} image (bounds {bounds}) holds no {need}x{need}-pixel frame of bin size"
            f" {bin_size}; use a larger image or bounds, or a smaller bin_size"
        )
    return gy, gx


def dsift_frames(
    image_shape: Sequence[int],
    *,
    bin_size: int = 8,
    step: int = 1,
    bounds: Sequence[int] | None = None,
) -> np.ndarray:
    """Frame centres (x, y), float32 (F, 2), in VLFeat's order (y outer, x inner), 0-based.

    The frame centre is the upper-left bin centre plus 1.5·bin_size on each axis.
    ``image_shape`` is (H, W) or (H, W, C); ``bounds`` is (x_min, y_min, x_max, y_max).
    """
    bin_size = _check_int("bin_size", bin_size, 1)
    step = _check_int("step", step, 1)
    gy, gx = _grids(image_shape, bin_size, step, _check_bounds(bounds))
    delta = np.float32(0.5 * bin_size * (NUM_BINS - 1))
    ys = gy.start + gy.step * np.arange(gy.n) + delta
    xs = gx.start + gx.step * np.arange(gx.n) + delta
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Kernels (static, numpy float32, computed as VLFeat does in float)


def _window_sigma(bin_size: int, window_size: float) -> np.float32:
    return np.float32(bin_size) * np.float32(window_size)


def _bin_delta(bin_size: int, b: int) -> np.float32:
    return np.float32(bin_size) * (np.float32(b) - np.float32(0.5) * np.float32(NUM_BINS - 1))


def _gaussian_kernels(bin_size: int, window_size: float) -> np.ndarray:
    """``_vl_dsift_new_kernel`` for each bin, as weights over offsets d = −(bs−1)..bs−1.

    VLFeat stores k(x) = (1 − |x|/bs)·exp(−½((x − δ)/σ)²) and *convolves* with it, so the
    pixel at offset d from the bin centre gets k(−d).
    """
    sigma = _window_sigma(bin_size, window_size)
    x = np.arange(-bin_size + 1, bin_size, dtype=np.float32)
    kernels = []
    for b in range(NUM_BINS):
        z = (x - _bin_delta(bin_size, b)) / sigma
        k = (np.float32(1) - np.abs(x) / np.float32(bin_size)) * np.exp(np.float32(-0.5) * z * z)
        kernels.append(k[::-1])
    return np.asarray(kernels, np.float32)


def _triangle_kernel(bin_size: int) -> np.ndarray:
    """``vl_imconvcoltri_f``'s unit-integral triangle (bs − |d|)/bs², d = −(bs−1)..bs−1."""
    d = np.arange(-bin_size + 1, bin_size, dtype=np.float32)
    return ((np.float32(bin_size) - np.abs(d)) / np.float32(bin_size * bin_size)).astype(np.float32)


def _flat_bin_weights(bin_size: int, window_size: float) -> np.ndarray:
    """bs·``_vl_dsift_get_bin_window_mean`` per bin: the flat window's per-bin Gaussian factor."""
    sigma = _window_sigma(bin_size, window_size)
    x = np.arange(-bin_size + 1, bin_size, dtype=np.float32)
    out = []
    for b in range(NUM_BINS):
        z = (x - _bin_delta(bin_size, b)) / sigma
        acc = np.float32(0)
        for v in np.exp(np.float32(-0.5) * z * z).astype(np.float32):
            acc = np.float32(acc + v)
        out.append(np.float32(bin_size) * np.float32(acc / np.float32(2 * bin_size - 1)))
    return np.asarray(out, np.float32)


# --------------------------------------------------------------------------------------------
# The graph


def _gradient(image: jax.Array) -> tuple[jax.Array, jax.Array]:
    """VLFeat DSIFT's (g_x, g_y): ½·central differences inside, one-sided at the border."""

    def along(a: jax.Array, axis: int) -> jax.Array:
        n = a.shape[axis]
        sl = lambda s, e: lax.slice_in_dim(a, s, e, axis=axis)  # noqa: E731
        first = sl(1, 2) - sl(0, 1)
        last = sl(n - 1, n) - sl(n - 2, n - 1)
        if n == 2:
            return jnp.concatenate([first, last], axis=axis)
        inner = jnp.float32(0.5) * (sl(2, n) - sl(0, n - 2))
        return jnp.concatenate([first, inner, last], axis=axis)

    return along(image, 1), along(image, 0)


def _difference_scale(n: int) -> np.ndarray:
    """½ inside, 1 on the first and last sample: the factor of VLFeat's differences."""
    s = np.full(n, 0.5, np.float32)
    s[0] = s[-1] = 1
    return s


def _difference_matrix(n: int) -> np.ndarray:
    """(n, n) matrix D with D @ v = VLFeat's derivative of v along its axis (`_gradient`)."""
    d = np.zeros((n, n), np.float32)
    s = _difference_scale(n)
    for i in range(n):
        lo, hi = max(i - 1, 0), min(i + 1, n - 1)
        d[i, hi] += s[i]
        d[i, lo] -= s[i]
    return d


def _gradient_transpose(d_gx: jax.Array, d_gy: jax.Array) -> jax.Array:
    """Adjoint of `_gradient`: d_I = d_gx @ D_W + D_Hᵀ @ d_gy, with `_difference_matrix` D.

    Two small matmuls on purpose: XLA:CPU does not fuse producers into dots, so the per-pixel
    chain behind d_gx, d_gy runs once, where the shifted-slice adjoint had it fused and
    recomputed for every neighbour (~10× slower). A tridiagonal matmul costs ~1 ms at 500².
    """
    h, w = d_gx.shape
    hi = lax.Precision.HIGHEST
    return jnp.matmul(d_gx, jnp.asarray(_difference_matrix(w)), precision=hi) + jnp.matmul(
        jnp.asarray(_difference_matrix(h).T), d_gy, precision=hi
    )


_C3 = np.float32(0.1821)
_C1 = np.float32(0.9675)
_BINS_PER_RADIAN = np.float32(NUM_ORIENTATIONS / (2 * math.pi))


def _split(gx: jax.Array, gy: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """(magnitude, ρ, lower bin, upper bin) of VLFeat's linear orientation split."""
    angle = fast_atan2(gy, gx)
    mod = fast_sqrt(gx * gx + gy * gy)
    # vl_mod_2pi_f: the angle lies in [−π−1e−6, π+1e−6], so one addition suffices.
    angle = jnp.where(angle < 0, angle + jnp.float32(2 * math.pi), angle)
    nt = angle * _BINS_PER_RADIAN
    b0 = jnp.floor(nt)
    return mod, nt - b0, jnp.mod(b0, NUM_ORIENTATIONS), jnp.mod(b0 + 1, NUM_ORIENTATIONS)


def _planes(mod: jax.Array, rho: jax.Array, b_lo: jax.Array, b_hi: jax.Array) -> jax.Array:
    m_lo, m_hi = (1 - rho) * mod, rho * mod
    zero = jnp.float32(0)
    return jnp.stack(
        [jnp.where(b_lo == t, m_lo, zero) + jnp.where(b_hi == t, m_hi, zero) for t in range(NUM_ORIENTATIONS)],
        axis=0,
    )


@jax.custom_vjp
def _orientation_maps(image: jax.Array) -> jax.Array:
    """(T, H, W) gradient magnitude split linearly between the two nearest of T orientations.

    Pixel value m goes (1 − ρ)·m to orientation ⌊n⌋ mod T and ρ·m to ⌊n⌋ + 1 mod T, with
    n = (θ mod 2π)·T/2π and ρ = n − ⌊n⌋ (``vl_dsift_process``). The backward pass is written
    out (the derivative of the expression above, ⌊n⌋ held fixed): autodiff of the one-hot
    planes produced a backward pass ~10× slower than the forward one on XLA:CPU.
    """
    gx, gy = _gradient(image)
    return _planes(*_split(gx, gy))


def _orientation_maps_fwd(image: jax.Array):
    gx, gy = _gradient(image)
    mod, rho, b_lo, b_hi = _split(gx, gy)
    return _planes(mod, rho, b_lo, b_hi), (image, gx, gy, mod, rho, b_lo, b_hi)


def _orientation_maps_bwd(res, d_planes: jax.Array):
    image, gx, gy, mod, rho, b_lo, b_hi = res
    zero = jnp.float32(0)
    d_lo = sum(jnp.where(b_lo == t, d_planes[t], zero) for t in range(NUM_ORIENTATIONS))
    d_hi = sum(jnp.where(b_hi == t, d_planes[t], zero) for t in range(NUM_ORIENTATIONS))
    d_mod = (1 - rho) * d_lo + rho * d_hi
    d_angle = mod * (d_hi - d_lo) * _BINS_PER_RADIAN
    # fast_atan2: r = (x ∓ a)/den with den = x + a (x ≥ 0) or a − x (x < 0), a = |y| + ε;
    # in both branches dr/dx = 2a/den², dr/da = −2x/den², and θ' = 3·c3·r² − c1.
    a = jnp.abs(gy) + FLT_EPSILON
    pos = gx >= 0
    den = jnp.where(pos, gx + a, a - gx)
    r = jnp.where(pos, gx - a, gx + a) / den
    dtheta_dr = jnp.where(gy < 0, -1.0, 1.0).astype(jnp.float32) * (3 * _C3 * r * r - _C1)
    inv_den2 = 1 / (den * den)
    dtheta_dx = dtheta_dr * 2 * a * inv_den2
    dtheta_dy = dtheta_dr * (-2 * gx * inv_den2) * jnp.sign(gy)
    # fast_sqrt's derivative: that of the exact √s, 0 below VLFeat's threshold.
    s = gx * gx + gy * gy
    small = s < _SQRT_THRESHOLD
    inv_mod = jnp.where(small, zero, lax.rsqrt(jnp.where(small, jnp.float32(1), s)))
    d_gx = d_mod * gx * inv_mod + d_angle * dtheta_dx
    d_gy = d_mod * gy * inv_mod + d_angle * dtheta_dy
    return (_gradient_transpose(d_gx, d_gy),)


_orientation_maps.defvjp(_orientation_maps_fwd, _orientation_maps_bwd)


# Use one dense matmul per axis when NB·n·ratio ≤ length. Measured on XLA:CPU (one thread,
# 500×375, bin 5, step 15): forward+backward 10 ms dense vs 25 ms lattice; for dense
# sampling (step ≤ bs/2 or so) the dense matrix grows quadratically and the lattice wins.
_DENSE_RATIO = 1


def _pool_matrix(kernels: np.ndarray, grid: _Grid, bin_size: int, length: int) -> np.ndarray:
    """(NB·n, length) matrix of the pooling along one axis, edge replication folded in.

    Row b·n + j holds kernel b around the bin centre c = start + j·step + b·bs; taps that fall
    outside [0, length) land on the nearest edge sample (VL_PAD_BY_CONTINUITY).
    """
    mat = np.zeros((NUM_BINS * grid.n, length), np.float32)
    offsets = np.arange(-bin_size + 1, bin_size)
    for b in range(NUM_BINS):
        k = kernels[b if kernels.shape[0] > 1 else 0]
        for j in range(grid.n):
            idx = np.clip(grid.start + j * grid.step + b * bin_size + offsets, 0, length - 1)
            np.add.at(mat[b * grid.n + j], idx, k)
    return mat


def _pool_axis_dense(a: jax.Array, axis: int, kernels: np.ndarray, grid: _Grid, bin_size: int) -> jax.Array:
    """`_pool_axis` as one matmul: for sparse frames (NB·n ≤ axis length), BLAS beats the
    slice sums, and its backward pass is a matmul too, which XLA:CPU never fuses producers into
    (the slice-sum adjoint got fused with its producers and recomputed them per tap)."""
    moved = jnp.moveaxis(a, axis, -1)
    hi = lax.Precision.HIGHEST
    if kernels.shape[0] == 1 and grid.step % bin_size == 0:
        # Frames `stride` bins apart share bin centres (the paper's step = 3 bins): filter each
        # distinct centre once (a quarter fewer GEMM columns there), then slice the bins out.
        stride = grid.step // bin_size
        unique = _Grid(grid.start, bin_size, (grid.n - 1) * stride + NUM_BINS)
        mat = _pool_matrix(kernels, unique, bin_size, a.shape[axis])[: unique.n]
        lattice = jnp.matmul(moved, jnp.asarray(mat.T), precision=hi)
        last = lattice.ndim - 1
        out = jnp.stack(
            [lax.slice_in_dim(lattice, b, b + (grid.n - 1) * stride + 1, stride=stride, axis=last)
             for b in range(NUM_BINS)],
            axis=-2,
        )
    else:
        mat = _pool_matrix(kernels, grid, bin_size, a.shape[axis])
        out = jnp.matmul(moved, jnp.asarray(mat.T), precision=hi)
        out = out.reshape(out.shape[:-1] + (NUM_BINS, grid.n))
    return jnp.moveaxis(out, (-2, -1), (axis, axis + 1))


def _pool_axis(a: jax.Array, axis: int, kernels: np.ndarray, grid: _Grid, bin_size: int) -> jax.Array:
    """Correlate ``a`` along ``axis`` with kernel b at bin b's centres.

    ``kernels`` is (K, 2bs−1) over offsets −(bs−1)..bs−1, K = 1 (one kernel shared by all bins)
    or NB; the axis is edge-padded by bs−1 (VL_PAD_BY_CONTINUITY). The output replaces
    ``axis`` by two axes (NB bins, n frames).

    All bin centres start + j·step + b·bs lie on the lattice start + g·m, g = gcd(step, bs).
    For g > 1 the axis is cut into blocks of g samples and the (2bs−1)-tap filter becomes
    Q = ⌈(2bs−1)/g⌉ block taps, out[m] = Σ_q P_q[m + q] with P_q = (block · k_q) a matmul;
    for g = 1 (dense sampling) it is a sum of shifted slices. Matmuls matter for speed: XLA:CPU
    never fuses producers into them, whereas it fuses the shifted-slice adjoints with their
    producers and recomputes those once per tap (a ~10× slower backward pass).
    """
    if NUM_BINS * grid.n * _DENSE_RATIO <= a.shape[axis]:
        return _pool_axis_dense(a, axis, kernels, grid, bin_size)
    g = math.gcd(grid.step, bin_size)
    p = bin_size - 1
    taps = 2 * bin_size - 1
    q_taps = -(-taps // g)
    num_lattice = ((grid.n - 1) * grid.step + (NUM_BINS - 1) * bin_size) // g + 1
    num_blocks = num_lattice + q_taps - 1
    length = g * num_blocks
    a2 = jnp.moveaxis(a, axis, 0)
    rest = a2.shape[1:]
    a2 = a2.reshape(a2.shape[0], -1)
    ap = jnp.pad(a2, ((p, p), (0, 0)), mode="edge") if p > 0 else a2
    # In padded coordinates the window of the bin centre c starts at c (= c − p + p).
    avail = min(ap.shape[0] - grid.start, length)
    seg = ap[grid.start:grid.start + avail]
    if avail < length:  # the missing tail only meets zero kernel taps
        seg = jnp.pad(seg, ((0, length - avail), (0, 0)))
    kk = np.zeros((kernels.shape[0], q_taps * g), np.float32)
    kk[:, :taps] = kernels
    if g > 1:
        blocks = seg.reshape(num_blocks, g, -1)
        kq = jnp.asarray(kk.reshape(kernels.shape[0], q_taps, g))
        parts = jnp.einsum("mgr,kqg->kqmr", blocks, kq, precision=lax.Precision.HIGHEST)
        lattice = [sum(parts[k, q, q:q + num_lattice] for q in range(q_taps)) for k in range(kernels.shape[0])]
    else:
        lattice = [
            sum(float(kk[k, q]) * seg[q:q + num_lattice] for q in range(taps) if kk[k, q] != 0)
            for k in range(kernels.shape[0])
        ]
    stride = grid.step // g
    outs = []
    for b in range(NUM_BINS):
        first = b * bin_size // g
        lat = lattice[b if len(lattice) > 1 else 0]
        outs.append(lat[first:first + (grid.n - 1) * stride + 1:stride])
    out = jnp.stack(outs, axis=0).reshape((NUM_BINS, grid.n) + rest)
    return jnp.moveaxis(out, (0, 1), (axis, axis + 1))


def _l2_normalize(d: jax.Array) -> jax.Array:
    """``_vl_dsift_normalize_histogram``: d / (fast_sqrt(Σd²) + FLT_EPSILON) per descriptor."""
    norm = fast_sqrt(jnp.sum(d * d, axis=-1, keepdims=True)) + FLT_EPSILON
    return d / norm


@dataclasses.dataclass(frozen=True)
class DsiftFeatures:
    """VLFeat ``vl_dsift`` on one (H, W, 1) float32 image -> (ny, nx, 128) descriptors.

    Frozen and hashable, so ``jax.jit`` caches compiled programs across equal instances.
    ``bounds`` is (x_min, y_min, x_max, y_max), 0-based inclusive, or None for the image.
    """

    bin_size: int = 8
    step: int = 1
    fast: bool = True
    bounds: tuple[int, int, int, int] | None = None
    window_size: float = 2.0
    renormalize: bool = True

    def __call__(self, params: object, x: jax.Array) -> jax.Array:
        del params
        self._check(x)
        return _jit_method(self, "descriptors", x)

    # -- pieces ------------------------------------------------------------------------------

    def _check(self, x: jax.Array) -> None:
        """Raise `JaxinvError` for a wrong shape, too small an image, or (concrete) NaN/inf."""
        shape = tuple(np.shape(x))
        if len(shape) == 2:
            shape = shape + (1,)
        if len(shape) != 3 or shape[-1] != 1:
            raise JaxinvError(
                f"dsift: expected one gray image of shape (H, W, 1) (1 channel), got shape {shape};"
                " convert to gray with rep.preprocess(picture)"
            )
        _grids(shape, self.bin_size, self.step, self.bounds)
        if not isinstance(x, jax.core.Tracer) and not bool(np.all(np.isfinite(np.asarray(x)))):
            raise JaxinvError("dsift: the image has NaN or infinite pixels; pass finite values")

    def _image(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x, jnp.float32)
        return x if x.ndim == 2 else x[..., 0]

    def raw(self, x: jax.Array) -> jax.Array:
        """Unnormalised descriptors (ny, nx, 128) (VLFeat's ``descrs`` before normalisation)."""
        image = self._image(x)
        gy, gx = _grids(image.shape, self.bin_size, self.step, self.bounds)
        maps = _orientation_maps(image)  # (T, H, W)
        if self.fast:
            ky = kx = _triangle_kernel(self.bin_size)[None]
        else:
            ky = kx = _gaussian_kernels(self.bin_size, self.window_size)
        # Pool along the minor axis each time (x, transpose the smaller result, then y): the
        # dense pooling is then a plain GEMM for any leading (vmap) axes, with no transposed
        # copy of the full-resolution maps or of their cotangent.
        pooled = _pool_axis(maps, 2, kx, gx, self.bin_size)  # (T, H, bx, nx)
        pooled = jnp.transpose(pooled, (0, 2, 3, 1))  # (T, bx, nx, H)
        pooled = _pool_axis(pooled, 3, ky, gy, self.bin_size)  # (T, bx, nx, by, ny)
        d = jnp.transpose(pooled, (4, 2, 3, 1, 0))  # (ny, nx, by, bx, T)
        if self.fast:
            w = _flat_bin_weights(self.bin_size, self.window_size)
            d = d * jnp.asarray(np.outer(w, w).astype(np.float32))[:, :, None]
        return d.reshape(gy.n, gx.n, DESCRIPTOR_SIZE)

    def norms(self, x: jax.Array) -> jax.Array:
        """VLFeat's ``norm`` frame column (ny, nx): Σ(raw descriptor) / (3·bs + 1)²."""
        frame = (NUM_BINS - 1) * self.bin_size + 1
        return jnp.sum(self.raw(x), axis=-1) / jnp.float32(frame * frame)

    def descriptors(self, x: jax.Array) -> jax.Array:
        """(ny, nx, 128): L2-normalise, clamp at 0.2, L2-normalise again (unless not renormalize)."""
        d = _l2_normalize(self.raw(x))
        d = jnp.minimum(d, jnp.float32(0.2))
        return _l2_normalize(d) if self.renormalize else d


@jax.jit(static_argnums=(0, 1))
def _jit_method(features: DsiftFeatures, method: str, x: jax.Array) -> jax.Array:
    # One compiled program per (options, method, shape); inside an outer jit it is inlined.
    return getattr(features, method)(x)


def _make_features(
    *, bin_size: int, step: int, fast: bool, bounds: Sequence[int] | None, window_size: float,
    renormalize: bool = True,
) -> DsiftFeatures:
    bin_size = _check_int("bin_size", bin_size, 1)
    step = _check_int("step", step, 1)
    window_size = float(window_size)
    if not (math.isfinite(window_size) and window_size > 0):
        raise JaxinvError(f"dsift: window_size must be a positive number, got {window_size}; pass e.g. 2.0")
    return DsiftFeatures(
        bin_size=bin_size, step=step, fast=bool(fast), bounds=_check_bounds(bounds),
        window_size=window_size, renormalize=bool(renormalize),
    )


def dsift_descriptors(
    image: jax.Array,
    *,
    bin_size: int = 8,
    step: int = 1,
    fast: bool = True,
    bounds: Sequence[int] | None = None,
    window_size: float = 2.0,
    renormalize: bool = True,
    return_norms: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """Descriptors (ny, nx, 128) of an (H, W) or (H, W, 1) image, and optionally the norms (ny, nx).

    ``reshape(-1, 128)`` gives VLFeat's frame order, matching `dsift_frames`.
    """
    f = _make_features(
        bin_size=bin_size, step=step, fast=fast, bounds=bounds, window_size=window_size,
        renormalize=renormalize,
    )
    f._check(image)
    d = _jit_method(f, "descriptors", image)
    return (d, _jit_method(f, "norms", image)) if return_norms else d


def dsift_norms(
    image: jax.Array,
    *,
    bin_size: int = 8,
    step: int = 1,
    fast: bool = True,
    bounds: Sequence[int] | None = None,
    window_size: float = 2.0,
) -> np.ndarray:
    """VLFeat's third frame column ``norm`` (F,), in frame order: use it to skip flat frames."""
    f = _make_features(bin_size=bin_size, step=step, fast=fast, bounds=bounds, window_size=window_size)
    f._check(image)
    return np.asarray(_jit_method(f, "norms", image)).reshape(-1)


# --------------------------------------------------------------------------------------------
# Representations


gray_preprocess = centred_gray


def gray_deprocess(x: np.ndarray) -> np.ndarray:
    """Input x (H, W, 1) -> picture in [0, 255] (unclipped): x + 128."""
    return (np.asarray(x, np.float32) + np.float32(128)).astype(np.float32)


def dsift(
    *,
    bin_size: int = 8,
    step: int = 1,
    fast: bool = True,
    bounds: Sequence[int] | None = None,
    window_size: float = 2.0,
    renormalize: bool = True,
    name: str = "dsift",
) -> Representation:
    """VLFeat ``vl_dsift`` (4×4×8 geometry) as a `Representation` on (H, W, 1) gray images.

    Args:
      bin_size: spatial bin size in pixels (VLFeat ``size``).
      step: frame step in pixels, both axes.
      fast: flat window with per-bin Gaussian factors (True) or per-pixel Gaussian window.
      bounds: (x_min, y_min, x_max, y_max), 0-based inclusive (note: cyvlfeat takes [Y, X]
        order), or None for the whole image.
      window_size: Gaussian window σ in bins.
      renormalize: L2-normalise again after the 0.2 clamp (VLFeat); False as in dsift_net.
      name: the representation's name.

    The input space is 255·gray − 128 (`gray_preprocess`); DSIFT ignores additive offsets.
    """
    features = _make_features(
        bin_size=bin_size, step=step, fast=fast, bounds=bounds, window_size=window_size,
        renormalize=renormalize,
    )
    frame = (NUM_BINS - 1) * features.bin_size + 1
    min_h, min_w = max(frame, 2), max(frame, 2)
    if features.bounds is not None:
        x0, y0, x1, y1 = features.bounds
        if x1 - x0 + 1 < frame or y1 - y0 + 1 < frame:
            raise JaxinvError(
                f"dsift: bounds {features.bounds} are smaller than one {frame}x{frame}-pixel frame;"
                " enlarge the bounds or reduce bin_size"
            )
        min_h, min_w = y1 + 1, x1 + 1
    return Representation(
        name=name,
        features=features,
        params=None,
        input_shape=None,
        channels=1,
        min_size=(min_h, min_w),
        preprocess=gray_preprocess,
        deprocess=gray_deprocess,
        stride=features.step,
        lambda_tv=0.5,
        lambda_alpha=LAMBDA_ALPHA,
        schedule="shallow",
    )


def paper_dsift(*, renormalize: bool = True) -> Representation:
    """The CVPR 2015 DSIFT: bin 5, descriptor step 3 cells = 15 px, σ = 1.5-cell window.

    VLFeat's flat window (``fast=True``) with ``window_size=PAPER_WINDOW_SIZE``: like dsift_net
    it weights whole bins, and at this size its per-bin weights are proportional to
    dsift_net's exp(−d²/(2·1.5²)) (see the module docstring for what still differs).
    ``renormalize=False`` drops VLFeat's second L2 normalisation, as dsift_net does.
    """
    return dsift(
        bin_size=5, step=15, fast=True, window_size=PAPER_WINDOW_SIZE, renormalize=renormalize, name="dsift"
    )
