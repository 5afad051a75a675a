"""The `Parametrisation` protocol: what any parametrisation of the images provides.

A module of its own so that parametrisations and the transformations that wrap them
(`jaxinv.core.transforms`) both name it without importing each other.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax

__all__ = ["Parametrisation"]


@runtime_checkable
class Parametrisation(Protocol):
    """What the optimiser moves and how it becomes the R images of one problem.

    Every method is pure; ``variables`` is any pytree the parametrisation defines (an array
    for pixels, a spectrum, a generator's weights). A parametrisation may also set
    ``stepwise = True`` to ask host loops for one compiled step a call (`DeepImagePrior`).
    """

    def variable_shape(self, image_shape: tuple[int, int, int], copies: int) -> Any:
        """The shape of one problem's variables (an array parametrisation's shape)."""

    def init(self, key: jax.Array, image_shape: tuple[int, int, int], copies: int) -> Any:
        """A random start for R = ``copies`` images of ``image_shape`` (H, W, C), drawn from ``key``."""

    def image(self, variables: Any, *, key: jax.Array | None = None, active: jax.Array | bool = True) -> jax.Array:
        """The R images (R, H, W, C) in the representation's input space.

        ``key`` is the step's key for random views (jitter, scale, rotation), used where
        ``active`` (a traced per-step flag) is true; without a key, the centre view.
        """

    def pixels(self, variables: Any) -> jax.Array:
        """What the regularisers measure, in the parametrisation's units (the paper's u = x/σ)."""

    def project(self, variables: Any) -> Any:
        """The constraint applied after each step (the identity where there is none)."""
