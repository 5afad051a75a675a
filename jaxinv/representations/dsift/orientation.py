"""DSIFT steps 1–3: gradients, fast angle and magnitude, and the linear split into 8 orientations.

(vl_dsift_process) g = ½ central differences inside, one-sided on the border; each pixel's
magnitude goes (1 − ρ) to orientation ⌊n⌋ mod 8 and ρ to ⌊n⌋ + 1 mod 8, n = (θ mod 2π)·8/2π.
The whole per-pixel chain has one hand-written VJP.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxinv.representations.dsift.fastmath import (
    fast_atan2,
    fast_atan2_derivatives,
    fast_sqrt,
    sqrt_below_threshold,
)
from jaxinv.representations.dsift.geometry import NUM_ORIENTATIONS

__all__ = ["orientation_maps"]


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
def orientation_maps(image: jax.Array) -> jax.Array:
    """(T, H, W) gradient magnitude split linearly between the two nearest of T orientations.

    Pixel value m goes (1 − ρ)·m to orientation ⌊n⌋ mod T and ρ·m to ⌊n⌋ + 1 mod T, with
    n = (θ mod 2π)·T/2π and ρ = n − ⌊n⌋ (``vl_dsift_process``). The backward pass is written
    out (the derivative of the expression above, ⌊n⌋ held fixed): autodiff of the one-hot
    planes produced a backward pass ~10× slower than the forward one on XLA:CPU.
    """
    gx, gy = _gradient(image)
    return _planes(*_split(gx, gy))


def _orientation_maps_fwd(image: jax.Array) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    gx, gy = _gradient(image)
    mod, rho, b_lo, b_hi = _split(gx, gy)
    return _planes(mod, rho, b_lo, b_hi), (image, gx, gy, mod, rho, b_lo, b_hi)


def _orientation_maps_bwd(res: tuple[jax.Array, ...], d_planes: jax.Array) -> tuple[jax.Array]:
    image, gx, gy, mod, rho, b_lo, b_hi = res
    zero = jnp.float32(0)
    d_lo = sum(jnp.where(b_lo == t, d_planes[t], zero) for t in range(NUM_ORIENTATIONS))
    d_hi = sum(jnp.where(b_hi == t, d_planes[t], zero) for t in range(NUM_ORIENTATIONS))
    d_mod = (1 - rho) * d_lo + rho * d_hi
    d_angle = mod * (d_hi - d_lo) * _BINS_PER_RADIAN
    dtheta_dx, dtheta_dy = fast_atan2_derivatives(gy, gx)
    # fast_sqrt's derivative: that of the exact √s, 0 below VLFeat's threshold.
    s = gx * gx + gy * gy
    small, safe = sqrt_below_threshold(s)
    inv_mod = jnp.where(small, zero, lax.rsqrt(safe))
    d_gx = d_mod * gx * inv_mod + d_angle * dtheta_dx
    d_gy = d_mod * gy * inv_mod + d_angle * dtheta_dy
    return (_gradient_transpose(d_gx, d_gy),)


orientation_maps.defvjp(_orientation_maps_fwd, _orientation_maps_bwd)
