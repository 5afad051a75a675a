"""Vision-transformer layers on token maps, as JAX functions and Flax NNX modules.

A sequence of T tokens of width D is held as an NHWC map of height 1, (N, 1, T, D), so that
the graph of `jaxinv.networks.graph` runs it like any other activation (shapes (1, T, D)).
Each function reproduces the PyTorch module torchvision's ``VisionTransformer`` uses
(``torchvision/models/vision_transformer.py``, timm's ``VisionTransformer`` is the same maths):

- `layer_norm`: ``nn.LayerNorm(D, eps=1e-6)``, ``(x - μ) / √(σ² + ε) · γ + β`` over the last axis;
- `gelu`: ``nn.GELU()``, the exact ``x Φ(x)`` (erf, not the tanh approximation);
- `attention`: ``nn.MultiheadAttention(D, heads)`` on (query, key, value) = (x, x, x):
  ``softmax(q kᵀ / √(D/h)) v`` per head, heads concatenated, then the output projection;
  q, k, v are the three D-row blocks of ``in_proj_weight`` (timm's ``qkv``, same order);
- `embed`: flatten the patch grid row by row, prepend the class token, add the position
  embedding (``VisionTransformer._process_input`` then ``Encoder.forward``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["Attention", "Dense", "Embed", "LayerNorm", "Normalize", "attention", "dense", "embed",
           "gelu", "layer_norm"]

LAYER_NORM_EPS = 1e-6  # torchvision and timm ViTs: partial(nn.LayerNorm, eps=1e-6)


def dense(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
    """``nn.Linear`` on every token: ``y = x Wᵀ + b`` over the last axis (``kernel`` = Wᵀ)."""
    return x @ kernel + bias


def layer_norm(x: jax.Array, scale: jax.Array, bias: jax.Array, *,
               eps: float = LAYER_NORM_EPS) -> jax.Array:
    """``nn.LayerNorm`` over the last axis (biased variance, as PyTorch)."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    centred = x - mean
    variance = jnp.mean(centred * centred, axis=-1, keepdims=True)
    return centred * jax.lax.rsqrt(variance + eps) * scale + bias


def gelu(x: jax.Array) -> jax.Array:
    """``nn.GELU()``: ``x Φ(x) = x (1 + erf(x/√2)) / 2``."""
    return jax.nn.gelu(x, approximate=False)


def attention(x: jax.Array, qkv_kernel: jax.Array, qkv_bias: jax.Array, out_kernel: jax.Array,
              out_bias: jax.Array, *, heads: int) -> jax.Array:
    """Multi-head self-attention on (N, 1, T, D) tokens; kernels are the transposed weights.

    ``qkv_kernel`` (D, 3D) = ``in_proj_weight``ᵀ, ``out_kernel`` (D, D) = ``out_proj.weight``ᵀ.
    """
    n, one, t, d = x.shape
    qkv = (x.reshape(n, t, d) @ qkv_kernel + qkv_bias).reshape(n, t, 3, heads, d // heads)
    q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))  # (N, heads, T, D/h)
    logits = (q * (d // heads) ** -0.5) @ k.transpose(0, 1, 3, 2)
    mixed = jax.nn.softmax(logits, axis=-1) @ v
    out = mixed.transpose(0, 2, 1, 3).reshape(n, t, d) @ out_kernel + out_bias
    return out.reshape(n, one, t, d)


def embed(x: jax.Array, position: jax.Array, class_token: jax.Array) -> jax.Array:
    """(N, h, w, D) patch embeddings -> (N, 1, 1 + h·w, D) tokens: [class; patches] + position."""
    n, h, w, d = x.shape
    cls = jnp.broadcast_to(class_token.reshape(1, 1, d), (n, 1, d))
    tokens = jnp.concatenate([cls, x.reshape(n, h * w, d)], axis=1) + position.reshape(1, -1, d)
    return tokens[:, None]


class Dense(nnx.Module):
    """A per-token linear layer; ``kernel`` (D_in, D_out) = ``weight``ᵀ."""

    def __init__(self, kernel: jax.Array, bias: jax.Array):
        self.kernel = nnx.Param(kernel)
        self.bias = nnx.Param(bias)

    def __call__(self, x: jax.Array) -> jax.Array:
        return dense(x, self.kernel[...], self.bias[...])


class LayerNorm(nnx.Module):
    """``nn.LayerNorm(D, eps=1e-6)`` with its ``weight`` (scale) and ``bias``."""

    def __init__(self, scale: jax.Array, bias: jax.Array):
        self.scale = nnx.Param(scale)
        self.bias = nnx.Param(bias)

    def __call__(self, x: jax.Array) -> jax.Array:
        return layer_norm(x, self.scale[...], self.bias[...])


class Attention(nnx.Module):
    """Self-attention with ``heads`` heads (see `attention`)."""

    def __init__(self, qkv_kernel: jax.Array, qkv_bias: jax.Array, out_kernel: jax.Array,
                 out_bias: jax.Array, *, heads: int):
        self.qkv_kernel = nnx.Param(qkv_kernel)
        self.qkv_bias = nnx.Param(qkv_bias)
        self.out_kernel = nnx.Param(out_kernel)
        self.out_bias = nnx.Param(out_bias)
        self.heads = heads

    def __call__(self, x: jax.Array) -> jax.Array:
        return attention(x, self.qkv_kernel[...], self.qkv_bias[...], self.out_kernel[...],
                         self.out_bias[...], heads=self.heads)


class Embed(nnx.Module):
    """Class token and position embedding (``class_token``, ``encoder.pos_embedding``)."""

    def __init__(self, position: jax.Array, class_token: jax.Array):
        self.position = nnx.Param(position)
        self.class_token = nnx.Param(class_token)

    def __call__(self, x: jax.Array) -> jax.Array:
        return embed(x, self.position[...], self.class_token[...])


class Normalize(nnx.Module):
    """The weight file's input scaling: ``x · scale`` on an input already minus ``mean``.

    ``mean`` (0-255, the network's channel order) is kept beside ``scale`` so that the
    pre-processing travels with the weights; the forward pass only multiplies.
    """

    def __init__(self, mean: jax.Array, scale: jax.Array):
        self.mean = nnx.Param(mean)
        self.scale = nnx.Param(scale)

    def __call__(self, x: jax.Array) -> jax.Array:
        return x * self.scale[...]
