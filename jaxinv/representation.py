"""The `Representation` value: a pure feature function, its params and its metadata.

A representation Φ maps one image ``x`` of its *input space* (float32, shape
``input_shape`` or any (H, W, C) when ``input_shape`` is None) to a code
``features(params, x)``. The optimiser sees nothing else: it differentiates
``features`` with respect to ``x`` and never looks inside ``params``.

``features`` must be a pure JAX function of one unbatched image; jaxinv vmaps it
over images and seeds. For jit caching, ``features`` should compare equal across
calls that mean the same thing (a module-level function, or a frozen dataclass
with ``__call__``): the compiled program is keyed on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.errors import JaxinvError
from jaxinv.core.settings import LAMBDA_ALPHA
__all__ = ["Representation", "from_function", "identity_preprocess"]

FeaturesFn = Callable[[Any, jax.Array], jax.Array]


def identity_preprocess(picture: np.ndarray) -> np.ndarray:
    """Picture in [0, 255] -> itself as float32 (the representation's input space)."""
    return np.asarray(picture, np.float32)


def identity_deprocess(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float32)


@dataclasses.dataclass(frozen=True, eq=False)
class Representation:
    """A representation to invert.

    Attributes:
      name: a short name, such as ``"hog"`` or ``"squeezenet1_1:fire5"``.
      features: ``features(params, x) -> code``, pure, on one image ``x`` (H, W, C)
        float32 of the input space.
      params: the pytree passed as ``features``' first argument (network weights;
        ``None`` for parameter-free representations). It is never batched.
      input_shape: the (H, W, C) the representation accepts, or ``None`` when any
        size of at least ``min_size`` with ``channels`` channels is accepted.
      channels: number of input channels (used when ``input_shape`` is None).
      min_size: the smallest (H, W) accepted when ``input_shape`` is None.
      preprocess: picture (H, W, C) float in [0, 255] -> input ``x``; resizes to
        ``input_shape`` when there is one (a warp, no crop).
      deprocess: input ``x`` -> picture in [0, 255] (unclipped) for display.
      stride: receptive-field stride of the layer in input pixels (IJCV jitter
        J = max(round(stride/4), 1)).
      lambda_tv: recommended λ_V (paper units, on u = x/σ, METHOD.md §1.2).
      lambda_alpha: recommended λ_α (paper units).
      schedule: name of the recommended schedule preset (``"cnn"`` or ``"shallow"``).
      layers: for a network, the ordered layer names it can stop at (metadata only).
    """

    name: str
    features: FeaturesFn
    params: Any = None
    input_shape: tuple[int, int, int] | None = None
    channels: int = 3
    min_size: tuple[int, int] = (1, 1)
    preprocess: Callable[[np.ndarray], np.ndarray] = identity_preprocess
    deprocess: Callable[[np.ndarray], np.ndarray] = identity_deprocess
    stride: int = 1
    lambda_tv: float = 0.5
    lambda_alpha: float = LAMBDA_ALPHA
    schedule: str = "cnn"
    layers: tuple[str, ...] = ()

    def __call__(self, picture: np.ndarray | jax.Array) -> jax.Array:
        """Code of one picture (H, W, C), uint8 or float in [0, 255]."""
        x = self.preprocess(np.asarray(picture, np.float32))
        self.check_input(np.shape(x))
        return self.features(self.params, jnp.asarray(x, jnp.float32))

    def code(self, x: jax.Array) -> jax.Array:
        """Code of one image already in the input space."""
        self.check_input(np.shape(x))
        return self.features(self.params, jnp.asarray(x, jnp.float32))

    def check_input(self, shape: tuple[int, ...]) -> None:
        """Raise `JaxinvError` unless ``shape`` is an input this representation accepts."""
        if len(shape) != 3:
            raise JaxinvError(
                f"{self.name}: expected one image of shape (H, W, C), got shape {tuple(shape)};"
                " pass a single image, not a batch"
            )
        if self.input_shape is not None:
            if tuple(shape) != tuple(self.input_shape):
                raise JaxinvError(
                    f"{self.name}: input of shape {tuple(shape)} does not fit {self.input_shape};"
                    " use rep.preprocess(picture) to resize"
                )
            return
        h, w, c = shape
        if c != self.channels:
            raise JaxinvError(
                f"{self.name}: expected {self.channels} channel(s), got {c};"
                " use rep.preprocess(picture) to convert"
            )
        if h < self.min_size[0] or w < self.min_size[1]:
            raise JaxinvError(
                f"{self.name}: image of {h}x{w} pixels is smaller than the {self.min_size[0]}x"
                f"{self.min_size[1]} this representation accepts; use a larger image"
            )

    def replace(self, **changes: Any) -> "Representation":
        """A copy with the fields ``changes`` names replaced (`dataclasses.replace`)."""
        return dataclasses.replace(self, **changes)


def from_function(
    features: FeaturesFn,
    *,
    params: Any = None,
    name: str = "custom",
    input_shape: tuple[int, int, int] | None = None,
    channels: int = 3,
    **metadata: Any,
) -> Representation:
    """Wrap any JAX callable ``features(params, x)`` as a `Representation`.

    Example with a user's own Flax model::

        model = MyNet(rngs=nnx.Rngs(0))
        graphdef, state = nnx.split(model)
        def features(params, x):
            return nnx.merge(graphdef, params).embed(x[None])[0]
        rep = jaxinv.from_function(features, params=state, input_shape=(32, 32, 3))
    """
    return Representation(
        name=name, features=features, params=params, input_shape=input_shape,
        channels=channels if input_shape is None else input_shape[2], **metadata,
    )
