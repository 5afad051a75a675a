"""HOG step 1: image gradients of the strongest channel (vl_hog_put_image, vl/hog.c).

gx = I[y, x+1] − I[y, x−1], gy = I[y+1, x] − I[y−1, x] (no ½) at interior pixels only;
with C > 1 channels the channel of largest gx² + gy² is used, the first on ties.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["image_gradients", "rounded_product"]


def rounded_product(product: jax.Array) -> jax.Array:
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
    energy = jax.lax.stop_gradient(rounded_product(gx * gx) + rounded_product(gy * gy))
    best = jnp.argmax(energy, axis=-1)
    # A chain of selects rather than a gather: its transpose is selects, not a scatter.
    bx, by = gx[..., 0], gy[..., 0]
    for c in range(1, image.shape[-1]):
        bx = jnp.where(best == c, gx[..., c], bx)
        by = jnp.where(best == c, gy[..., c], by)
    return bx, by

