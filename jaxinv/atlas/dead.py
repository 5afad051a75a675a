"""Dead units found before optimising, and the redirected ReLU that starts them again.

A unit behind a ReLU whose input is negative everywhere its receptive field reaches has a zero
gradient at the start x₀: ∇ₓ⟨Φ(x₀), u⟩ = 0, and plain gradient steps never move it (an atlas
would show a grey square). `start_gradients` measures ‖∇ₓ⟨Φ(x₀), u⟩‖ per unit; a unit where it
is 0 is *dead at the start*. It is started again through `redirected_relu` (lucid's
"redirected ReLU", Olah, Mordvintsev & Schubert 2017, "Feature Visualization", Distill,
https://distill.pub/2017/feature-visualization/, appendix), which passes the gradient through
dead ReLUs for the first steps only (`jaxinv.atlas.layers`), after which the network as trained
takes over. The forward pass is ReLU's, max(x, 0); the backward pass, with g = ∂E/∂y the
cotangent of the energy E being minimised:

    plain      = g · [x > 0]                      (ReLU's own gradient)
    redirected = g · ¬[x ≤ 0 ∧ g > 0]             (every gradient that would raise a dead input)
    ∂E/∂x      = plain if ‖plain‖ > 0 else redirected   (per picture and ReLU layer)

so a ReLU that passes some gradient is left as it is, and one that passes none lets through
the part of the gradient that pushes its inputs up, towards being alive.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.networks.registry import Features

__all__ = ["RedirectedFeatures", "redirected_relu", "start_gradients"]


@jax.custom_vjp
def redirected_relu(x: jax.Array) -> jax.Array:
    """max(x, 0), whose gradient passes through when the ReLU's own would be zero everywhere
    (lucid's redirected ReLU, Olah et al. 2017; the module's docstring gives the rule)."""
    return jnp.maximum(x, 0.0)


def _forward(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    return jnp.maximum(x, 0.0), x


def _backward(x: jax.Array, g: jax.Array) -> tuple[jax.Array]:
    plain = jnp.where(x > 0, g, jnp.zeros_like(g))
    redirected = jnp.where((x <= 0) & (g > 0), jnp.zeros_like(g), g)
    return (jnp.where(jnp.any(plain != 0), plain, redirected),)


redirected_relu.defvjp(_forward, _backward)


@dataclasses.dataclass(frozen=True)
class RedirectedFeatures:
    """``features(params, x)`` on one image: the code at ``layer`` with every ReLU on the way a
    `redirected_relu` (same values as the trained network, gradients redirected). Frozen and
    hashable, as `jaxinv.representations.cnn.CNNFeatures`, so that jit reuses its programs."""

    network: str
    layer: str

    def __call__(self, params: Any, x: jax.Array) -> jax.Array:
        return Features(self.network)(params, x[None], layer=self.layer, relu=redirected_relu)[0]


@functools.partial(jax.jit, static_argnums=0)
def _norms(features: Any, params: Any, starts: jax.Array, units: jax.Array) -> jax.Array:
    """‖∇ₓ Σ_r ⟨Φ(x_r), u_b⟩‖ per unit, one compiled program per ``features`` (hashable) and shape."""
    def norm(u: jax.Array, x0: jax.Array) -> jax.Array:
        def value(x: jax.Array) -> jax.Array:
            codes = jax.vmap(features, in_axes=(None, 0))(params, x)
            return jnp.sum(codes * u[None])
        return jnp.sqrt(jnp.sum(jnp.square(jax.grad(value)(x0))))

    return jax.vmap(norm, in_axes=(0, None))(units, starts)


def start_gradients(features: Any, params: Any, starts: jax.Array, units: jax.Array) -> np.ndarray:
    """‖∇ₓ Σ_r ⟨Φ(x_r), u_b⟩‖ at the start images: 0 for a unit dead at the start, (B,).

    Args:
      features: ``features(params, x)`` on one image (the network as it will be optimised),
        hashable (`jaxinv.representations.cnn.CNNFeatures`): its program is compiled once per
        shape and reused, so a loop over units one at a time compiles it once.
      params: its parameters.
      starts: the R start images in the input space, (R, H, W, 3), shared by every unit.
      units: the units' directions u_b, (B, *code).
    """
    return np.asarray(_norms(features, params, jnp.asarray(starts), jnp.asarray(units)), np.float64)
