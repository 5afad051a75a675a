"""DSIFT step 4: separable spatial pooling of the orientation maps at the bin centres.

Flat window: VLFeat's unit-integral triangle (bs − |d|)/bs², then per-bin Gaussian
factors; Gaussian window: per-bin kernels (1 − |d|/bs)·exp(−½((d + δ_b)/σ)²). Edge-replicated
padding (VL_PAD_BY_CONTINUITY). Written as matmuls (one banded matrix per axis, or block
matmuls on the gcd(step, bs) lattice) so that the backward pass is as cheap as the forward.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxinv.representations.dsift.geometry import DESCRIPTOR_SIZE, NUM_BINS, Grid

__all__ = ["spatial_bins"]


def _bin_gaussians(bin_size: int, window_size: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """Offsets x = −(bs−1)..bs−1 and, per bin b, exp(−½((x − δ_b)/σ)²) in float32.

    δ_b = bs·(b − (NB − 1)/2) is the bin centre relative to the descriptor centre and
    σ = bs·window_size, both rounded to float32 as VLFeat computes them.
    """
    sigma = np.float32(bin_size) * np.float32(window_size)
    x = np.arange(-bin_size + 1, bin_size, dtype=np.float32)
    rows = []
    for b in range(NUM_BINS):
        delta = np.float32(bin_size) * (np.float32(b) - np.float32(0.5) * np.float32(NUM_BINS - 1))
        z = (x - delta) / sigma
        rows.append(np.exp(np.float32(-0.5) * z * z))
    return x, rows


def _gaussian_kernels(bin_size: int, window_size: float) -> np.ndarray:
    """``_vl_dsift_new_kernel`` for each bin, as weights over offsets d = −(bs−1)..bs−1.

    VLFeat stores k(x) = (1 − |x|/bs)·exp(−½((x − δ)/σ)²) and *convolves* with it, so the
    pixel at offset d from the bin centre gets k(−d).
    """
    x, gaussians = _bin_gaussians(bin_size, window_size)
    kernels = [((np.float32(1) - np.abs(x) / np.float32(bin_size)) * g)[::-1] for g in gaussians]
    return np.asarray(kernels, np.float32)


def _triangle_kernel(bin_size: int) -> np.ndarray:
    """``vl_imconvcoltri_f``'s unit-integral triangle (bs − |d|)/bs², d = −(bs−1)..bs−1."""
    d = np.arange(-bin_size + 1, bin_size, dtype=np.float32)
    return ((np.float32(bin_size) - np.abs(d)) / np.float32(bin_size * bin_size)).astype(np.float32)


def flat_bin_weights(bin_size: int, window_size: float) -> np.ndarray:
    """bs·``_vl_dsift_get_bin_window_mean`` per bin: the flat window's per-bin Gaussian factor."""
    out = []
    for g in _bin_gaussians(bin_size, window_size)[1]:
        acc = np.float32(0)
        for v in g.astype(np.float32):
            acc = np.float32(acc + v)
        out.append(np.float32(bin_size) * np.float32(acc / np.float32(2 * bin_size - 1)))
    return np.asarray(out, np.float32)


# Use one dense matmul per axis when NB·n·ratio ≤ length. Measured on XLA:CPU (one thread,
# 500×375, bin 5, step 15): forward+backward 10 ms dense vs 25 ms lattice; for dense
# sampling (step ≤ bs/2 or so) the dense matrix grows quadratically and the lattice wins.
_DENSE_RATIO = 1


def _pool_matrix(kernels: np.ndarray, grid: Grid, bin_size: int, length: int) -> np.ndarray:
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


def _pool_axis_dense(a: jax.Array, axis: int, kernels: np.ndarray, grid: Grid, bin_size: int) -> jax.Array:
    """`_pool_axis` as one matmul: for sparse frames (NB·n ≤ axis length), BLAS beats the
    slice sums, and its backward pass is a matmul too, which XLA:CPU never fuses producers into
    (the slice-sum adjoint got fused with its producers and recomputed them per tap)."""
    moved = jnp.moveaxis(a, axis, -1)
    hi = lax.Precision.HIGHEST
    if kernels.shape[0] == 1 and grid.step % bin_size == 0:
        # Frames `stride` bins apart share bin centres (the paper's step = 3 bins): filter each
        # distinct centre once (a quarter fewer GEMM columns there), then slice the bins out.
        stride = grid.step // bin_size
        unique = Grid(grid.start, bin_size, (grid.n - 1) * stride + NUM_BINS)
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


def _pool_axis(a: jax.Array, axis: int, kernels: np.ndarray, grid: Grid, bin_size: int) -> jax.Array:
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
        lat = jnp.asarray(lattice[b if len(lattice) > 1 else 0])  # a sum of slices (0 only for an all-zero kernel)
        outs.append(lat[first:first + (grid.n - 1) * stride + 1:stride])
    out = jnp.stack(outs, axis=0).reshape((NUM_BINS, grid.n) + rest)
    return jnp.moveaxis(out, (0, 1), (axis, axis + 1))


def spatial_bins(
    maps: jax.Array, gy: Grid, gx: Grid, *, bin_size: int, fast: bool, window_size: float
) -> jax.Array:
    """Unnormalised descriptors (ny, nx, 128) from orientation maps (T, H, W): step 4.

    Flat window (``fast``): the triangle kernel, then bin (b_y, b_x) scaled by w_{b_y}·w_{b_x}
    (`flat_bin_weights`); otherwise the per-bin Gaussian-windowed kernels. Element order
    t + T·(b_x + NB·b_y), frames (y, x).
    """
    if fast:
        ky = kx = _triangle_kernel(bin_size)[None]
    else:
        ky = kx = _gaussian_kernels(bin_size, window_size)
    # Pool along the minor axis each time (x, transpose the smaller result, then y): the
    # dense pooling is then a plain GEMM for any leading (vmap) axes, with no transposed
    # copy of the full-resolution maps or of their cotangent.
    pooled = _pool_axis(maps, 2, kx, gx, bin_size)  # (T, H, bx, nx)
    pooled = jnp.transpose(pooled, (0, 2, 3, 1))  # (T, bx, nx, H)
    pooled = _pool_axis(pooled, 3, ky, gy, bin_size)  # (T, bx, nx, by, ny)
    d = jnp.transpose(pooled, (4, 2, 3, 1, 0))  # (ny, nx, by, bx, T)
    if fast:
        w = flat_bin_weights(bin_size, window_size)
        d = d * jnp.asarray(np.outer(w, w).astype(np.float32))[:, :, None]
    return d.reshape(gy.n, gx.n, DESCRIPTOR_SIZE)
