"""The terms' maths as pure array functions: the data term, α-norms, TV^β, the B+ ball.

Each function is the formula its docstring gives, on float32 arrays of shape (..., H, W, C);
the `jaxinv.core.terms` wrap them as terms of an objective (Mahendran & Vedaldi, CVPR 2015
§2 and IJCV 2016 §3; METHOD.md §1.2 and §2.3).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["data_term", "masked_sq_norm", "alpha_norm", "tv_norm", "bounded_alpha_norm", "ijcv_tv_norm",
           "project_to_ball", "forward_differences"]


def forward_differences(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Forward differences (d_x, d_y) of (..., H, W, C), zero on the last column / row.

    The authors shift with MATLAB index ``[2:end end]`` (a replicate boundary), so the
    last difference along each axis is exactly zero.
    """
    dx = jnp.concatenate([x[..., :, 1:, :] - x[..., :, :-1, :],
                          jnp.zeros_like(x[..., :, :1, :])], axis=-2)
    dy = jnp.concatenate([x[..., 1:, :, :] - x[..., :-1, :, :],
                          jnp.zeros_like(x[..., :1, :, :])], axis=-3)
    return dx, dy


def _power_half(v: jax.Array, beta: float) -> jax.Array:
    """v^(β/2) for v >= 0, with a finite gradient at v = 0 for any β >= 1."""
    if beta == 2:
        return v
    # The authors' gradient uses max(v, ε)^(β/2 − 1); the same floor keeps ours finite.
    tiny = jnp.asarray(1e-12, v.dtype)
    return jnp.where(v > tiny, jnp.maximum(v, tiny) ** (beta / 2), v * tiny ** (beta / 2 - 1))


def tv_norm(x: jax.Array, *, beta: float = 2.0) -> jax.Array:
    """R_TV(x) = Σ_{c,i,j} (d_x² + d_y²)^(β/2), per channel, forward differences."""
    dx, dy = forward_differences(x)
    return jnp.sum(_power_half(dx * dx + dy * dy, beta))


def alpha_norm(x: jax.Array, *, alpha: float = 6.0) -> jax.Array:
    """R_α(x) = Σ |x|^α over all elements (α = 6 in the paper; no abs needed for even α)."""
    if float(alpha).is_integer() and int(alpha) % 2 == 0:
        return jnp.sum(x ** int(alpha))
    return jnp.sum(jnp.abs(x) ** alpha)


def data_term(code: jax.Array, target: jax.Array, normaliser: jax.Array,
              mask: jax.Array | None = None) -> jax.Array:
    """‖M ⊙ (Φ(x) − Φ0)‖² / Z (the mask M is 0/1, broadcastable to the code)."""
    diff = code - target
    if mask is not None:
        diff = diff * mask
    return jnp.sum(diff * diff) / normaliser


def masked_sq_norm(target: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """‖M ⊙ Φ0‖²."""
    if mask is not None:
        target = target * mask
    return jnp.sum(target * target)


def bounded_alpha_norm(x: jax.Array, *, bound: float, alpha: float = 6.0) -> jax.Array:
    """(1/HW) Σ_p (‖x_p‖ / B)^α with ‖x_p‖ the colour-vector norm (x is (..., H, W, C))."""
    h, w = x.shape[-3], x.shape[-2]
    sq = jnp.sum(x * x, axis=-1) / bound ** 2
    return jnp.sum(_power_half(sq, alpha)) / (h * w)


def ijcv_tv_norm(x: jax.Array, *, scale: float, beta: float = 2.0) -> jax.Array:
    """(1/HW) Σ_{c,p} ((d_x² + d_y²) / V²)^(β/2)."""
    h, w = x.shape[-3], x.shape[-2]
    dx, dy = forward_differences(x)
    return jnp.sum(_power_half((dx * dx + dy * dy) / scale ** 2, beta)) / (h * w)


def project_to_ball(x: jax.Array, radius: float) -> jax.Array:
    """Rescale each pixel's colour vector so that ‖x_p‖ <= radius (the IJCV box B+)."""
    norm = jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True))
    return x * jnp.minimum(1.0, radius / jnp.maximum(norm, radius))
