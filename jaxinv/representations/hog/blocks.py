"""HOG steps 4–5: block normalisation and the UoCTTI / Dalal-Triggs features (vl_hog_extract).

Each cell is normalised by the four 2×2 blocks around it (neighbours clamped to the
grid), f_q = 1/sqrt(Σ_block e + 1e-4) with e = Σ_k (h_k + h_{k+n})², then clamped at 0.2.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["VARIANTS", "normalise_cells"]

VARIANTS = ("uoctti", "dalaltriggs")
_CLAMP = 0.2
_NORM_EPS = 1e-4


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

