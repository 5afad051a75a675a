"""Transformation robustness: random views of the image before the representation sees it.

`Transformed` wraps any parametrisation (same protocol, so the `Solver` needs no change)
and passes its images through a sequence of transformations drawn from the step's key:

- `Pad(width)`: a border of ``width`` pixels (constant ``value`` — 0 is the mean colour in a
  CNN's input space — or ``"reflect"`` / ``"edge"``); followed by ``Jitter(2·width + 1)`` it
  places the picture at a random position inside that border, the random padding of
  Olah et al. ("Feature Visualization", Distill 2017);
- `Jitter(size)`: an integer crop, ``size`` − 1 pixels smaller, at an offset uniform in
  {0, …, size − 1}² (the centre without a key or where the stage turns views off). It is
  IJCV's jitter (Mahendran & Vedaldi, IJCV 2016, §3.4): `BallPixels` crops through it;
- `Scale(max_change)`: a zoom about the centre by 1 + u, u ~ U[−max_change, max_change];
- `Rotate(max_degrees)`: a rotation about the centre by U[−max_degrees, max_degrees] degrees.

Scale and rotation resample bilinearly (`jax.scipy.ndimage.map_coordinates`, order 1,
values beyond the edge repeat it) and keep the shape. Since `Pad` and `Jitter` change it,
`Transformed` gives the inner parametrisation the shape that the sequence brings back to
the representation's: ``Transformed(p, (Jitter(J),))`` moves a picture J − 1 pixels larger,
as IJCV does. Every transformation at zero strength (``Pad(0)``, ``Jitter(1)``,
``Scale(0.0)``, ``Rotate(0.0)``) is the identity, statically. One draw per problem and step:
the R images of a problem see the same view.

The lucid-style prior (Fourier spectrum, decorrelated colour, sigmoid, random views) in the
input space of representation ``rep``::

    Transformed(ToInput(Bounded(DecorrelatedColour(Fourier())), input_map(rep)),
                (Pad(8), Jitter(17), Scale(0.05), Rotate(5.0)))
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp

from jaxinv.core.protocol import Parametrisation
from jaxinv.errors import JaxinvError

__all__ = ["Pad", "Jitter", "Scale", "Rotate", "Transformed", "warp"]


@dataclasses.dataclass(frozen=True)
class Pad:
    """A border of ``width`` pixels: ``mode`` "constant" (``value``), "reflect" or "edge"."""

    width: int = 0
    mode: str = "constant"
    value: float = 0.0

    def source_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """(H − 2·width, W − 2·width): the size of the images that the border brings to ``size``."""
        return size[0] - 2 * self.width, size[1] - 2 * self.width

    def __call__(self, images: jax.Array, *, key: jax.Array | None = None,
                 active: jax.Array | bool = True) -> jax.Array:
        del key, active
        if self.width == 0:
            return images
        pad = [(0, 0)] * (images.ndim - 3) + [(self.width, self.width)] * 2 + [(0, 0)]
        if self.mode == "constant":
            return jnp.pad(images, pad, constant_values=self.value)
        return jnp.pad(images, pad, mode=self.mode)


@dataclasses.dataclass(frozen=True)
class Jitter:
    """An integer crop ``size`` − 1 pixels smaller at a random offset (IJCV's jitter)."""

    size: int = 1

    def source_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """(H + size − 1, W + size − 1): the size of the images that the crop brings to ``size``."""
        return size[0] + self.size - 1, size[1] + self.size - 1

    def __call__(self, images: jax.Array, *, key: jax.Array | None = None,
                 active: jax.Array | bool = True) -> jax.Array:
        h = images.shape[-3] - self.size + 1
        w = images.shape[-2] - self.size + 1
        centre = (self.size - 1) // 2
        if key is None or self.size == 1:
            return images[..., centre:centre + h, centre:centre + w, :]
        shift = jax.random.randint(key, (2,), 0, self.size)
        offset = (jnp.where(active, shift[0], centre), jnp.where(active, shift[1], centre))
        return jax.lax.dynamic_slice(images, (0, offset[0], offset[1], 0),
                                     (images.shape[0], h, w, images.shape[-1]))


def warp(images: jax.Array, matrix: jax.Array) -> jax.Array:
    """Images (R, H, W, C) sampled at centre + A (p − centre) for each output pixel p (bilinear)."""
    h, w = images.shape[-3:-1]
    centre = jnp.array([(h - 1) / 2.0, (w - 1) / 2.0], jnp.float32)
    grid = jnp.stack(jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                                  indexing="ij"))
    source = jnp.einsum("ij,jhw->ihw", matrix, grid - centre[:, None, None]) + centre[:, None, None]

    def one(channel: jax.Array) -> jax.Array:
        return jax.scipy.ndimage.map_coordinates(channel, [source[0], source[1]], order=1, mode="nearest")

    per_channel = jax.vmap(one, in_axes=-1, out_axes=-1)
    return jax.vmap(per_channel)(images)


class _RandomWarp:
    """A warp about the centre whose matrix is drawn from the key; the identity at zero strength."""

    def strength(self) -> float:
        """The largest change the warp draws (0: the identity)."""
        raise NotImplementedError

    def matrix(self, key: jax.Array, active: jax.Array | bool) -> jax.Array:
        """The 2×2 matrix A drawn from ``key`` (the identity where ``active`` is false)."""
        raise NotImplementedError

    def source_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """``size`` itself: a warp keeps the shape."""
        return size

    def __call__(self, images: jax.Array, *, key: jax.Array | None = None,
                 active: jax.Array | bool = True) -> jax.Array:
        if self.strength() == 0 or key is None:
            return images
        return warp(images, self.matrix(key, active))


@dataclasses.dataclass(frozen=True)
class Scale(_RandomWarp):
    """A zoom about the centre by s = 1 + U[−max_change, max_change] (s > 1 enlarges)."""

    max_change: float = 0.0

    def strength(self) -> float:
        """``max_change``, the largest relative zoom drawn."""
        return self.max_change

    def matrix(self, key: jax.Array, active: jax.Array | bool) -> jax.Array:
        """A = I / s with s = 1 + u, u ~ U[−max_change, max_change] (s = 1 where not ``active``)."""
        change = jax.random.uniform(key, (), jnp.float32, -self.max_change, self.max_change)
        return jnp.eye(2, dtype=jnp.float32) / (1.0 + jnp.where(active, change, 0.0))


@dataclasses.dataclass(frozen=True)
class Rotate(_RandomWarp):
    """A rotation about the centre by U[−max_degrees, max_degrees] degrees."""

    max_degrees: float = 0.0

    def strength(self) -> float:
        """``max_degrees``, the largest rotation drawn, in degrees."""
        return self.max_degrees

    def matrix(self, key: jax.Array, active: jax.Array | bool) -> jax.Array:
        """A = [[cos θ, −sin θ], [sin θ, cos θ]], θ ~ U[−max_degrees, max_degrees] degrees (0 where not ``active``)."""
        degrees = jax.random.uniform(key, (), jnp.float32, -self.max_degrees, self.max_degrees)
        angle = jnp.where(active, degrees, 0.0) * (math.pi / 180.0)
        cos, sin = jnp.cos(angle), jnp.sin(angle)
        return jnp.stack([jnp.stack([cos, -sin]), jnp.stack([sin, cos])])


@dataclasses.dataclass(frozen=True)
class Transformed:
    """The inner parametrisation's images through ``transforms`` in order, drawn from the step's key.

    Transformation i draws from the step's key itself for i = 0 and from fold_in(key, i)
    after; the inner parametrisation gets fold_in(key, len(transforms)). ``pixels`` and
    ``project`` are the inner one's (regularisers see the whole variable, margins included).
    """

    inner: Parametrisation
    transforms: tuple[Any, ...] = ()

    def source_shape(self, image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """The inner images' shape that the transformations bring to ``image_shape``."""
        size: tuple[int, int] = (image_shape[0], image_shape[1])
        for transform in reversed(self.transforms):
            size = transform.source_size(size)
        if min(size) < 1:
            raise JaxinvError(f"the transformations {self.transforms} leave no picture inside {image_shape[:2]};"
                              " use a smaller Pad or a larger image")
        return (*size, image_shape[2])

    def variable_shape(self, image_shape: tuple[int, int, int], copies: int) -> Any:
        """The inner parametrisation's variable shape at `source_shape` (``image_shape``)."""
        return self.inner.variable_shape(self.source_shape(image_shape), copies)

    def init(self, key: jax.Array, image_shape: tuple[int, int, int], copies: int) -> Any:
        """The inner parametrisation's random start at `source_shape` (``image_shape``)."""
        return self.inner.init(key, self.source_shape(image_shape), copies)

    def image(self, variables: Any, *, key: jax.Array | None = None, active: jax.Array | bool = True) -> jax.Array:
        """The inner images (R, H', W', C) through each transformation in turn: (R, H, W, C)."""
        inner_key = None if key is None else jax.random.fold_in(key, len(self.transforms))
        images = self.inner.image(variables, key=inner_key, active=active)
        for i, transform in enumerate(self.transforms):
            step_key = None if key is None else key if i == 0 else jax.random.fold_in(key, i)
            images = transform(images, key=step_key, active=active)
        return images

    def pixels(self, variables: Any) -> Any:
        """The inner parametrisation's pixels (margins included)."""
        return self.inner.pixels(variables)

    def project(self, variables: Any) -> Any:
        """The inner parametrisation's projection."""
        return self.inner.project(variables)
