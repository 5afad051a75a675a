"""Wrappers that map the inner parametrisation's images pixel by pixel (colour mixing, bounds, input maps).

A subclass is a frozen dataclass with an ``inner`` parametrisation and a ``forward`` map
(and ``backward``, its inverse, where there is one); starts, variables and projection are
the inner one's, and regularisers see ``forward`` of the inner one's pixels.
"""

from __future__ import annotations

from typing import Any

import jax

__all__ = ["Pointwise"]


class Pointwise:
    """image = forward(inner.image); pixels = forward(inner.pixels); the rest is the inner one's."""

    #: The inner `Parametrisation` (typed Any: `variables_for` is an optional method beyond the protocol).
    inner: Any

    def forward(self, values: jax.Array) -> jax.Array:
        """The map applied to each pixel of the inner images (…, C) → (…, C')."""
        raise NotImplementedError

    def backward(self, values: jax.Array) -> jax.Array:
        """The inverse of `forward`, where there is one."""
        raise NotImplementedError(f"{type(self).__name__} has no inverse")

    def variable_shape(self, image_shape: tuple[int, int, int], copies: int) -> Any:
        """The inner parametrisation's variable shape."""
        return self.inner.variable_shape(image_shape, copies)

    def init(self, key: jax.Array, image_shape: tuple[int, int, int], copies: int) -> Any:
        """The inner parametrisation's random start."""
        return self.inner.init(key, image_shape, copies)

    def image(self, variables: Any, *, key: jax.Array | None = None, active: jax.Array | bool = True) -> jax.Array:
        """forward(inner.image(variables)): the R images (R, H, W, C)."""
        return self.forward(self.inner.image(variables, key=key, active=active))

    def pixels(self, variables: Any) -> jax.Array:
        """forward(inner.pixels(variables)): what the regularisers measure."""
        return self.forward(self.inner.pixels(variables))

    def project(self, variables: Any) -> Any:
        """The inner parametrisation's projection."""
        return self.inner.project(variables)

    def variables_for(self, images: jax.Array) -> Any:
        """The variables whose image is ``images``, where this map and the inner one invert."""
        return self.inner.variables_for(self.backward(images))
