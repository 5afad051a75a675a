"""HOG step 2: votes of each pixel's gradient into 2n directed orientation bins (vl/hog.c).

score_k = gx·cos(kπ/n) + gy·sin(kπ/n) in float32 with each product rounded; hard
binning puts ‖g‖ into the best bin, bilinear binning (HOGb) shares it with the second
best by the angle to the best direction. The votes have a hand-written VJP.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.representations.hog.gradients import rounded_product

__all__ = ["orientation_votes"]


@functools.lru_cache(maxsize=None)
def _orientation_basis(num_orientations: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 (cos kπ/n, sin kπ/n), k < n, rounded from double as vl_hog_new does."""
    angles = np.arange(num_orientations, dtype=np.float64) * math.pi / num_orientations
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


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
    return rounded_product(gx * c) + rounded_product(gy * d)


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

    def better(sa: jax.Array, ia: jax.Array, sb: jax.Array, ib: jax.Array) -> jax.Array:
        return (sa > sb) | ((sa == sb) & (ia < ib))

    def merge(a: tuple[jax.Array, ...], b: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
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


def _votes_forward(gx: jax.Array, gy: jax.Array, n: int, bilinear: bool) -> tuple[jax.Array, tuple[Any, ...]]:
    """Votes and the per-pixel residuals of their backward pass."""
    g2 = rounded_product(gx * gx) + rounded_product(gy * gy)
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
def _votes(gx: jax.Array, gy: jax.Array, n: int, bilinear: bool) -> jax.Array:
    return _votes_forward(gx, gy, n, bilinear)[0]


def _votes_fwd(gx: jax.Array, gy: jax.Array, n: int, bilinear: bool) -> tuple[jax.Array, tuple[Any, ...]]:
    return _votes_forward(gx, gy, n, bilinear)


def _votes_bwd(n: int, bilinear: bool, residuals: tuple[Any, ...], cotangent: jax.Array
               ) -> tuple[jax.Array, jax.Array]:
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
