"""From RGB pictures to a representation's input: a bounded output and the input-space map.

The parametrisations of `jaxinv.core.fourier` and `jaxinv.core.colour` make RGB pictures in
[0, 255] units; representations take inputs in their own space (a CNN: its channel order
minus its mean pixel; average pooling: the picture minus 128). Two wrappers close the gap:

- `Bounded`: keeps the picture in range, either smoothly, p ↦ 255 σ((p − 127.5)/63.75)
  (slope 1 at mid-grey, so small pictures pass unchanged, and every value in (0, 255)), or
  as IJCV's ball, each pixel's colour vector c + (p − c) · min(1, B+/‖p − c‖) with B+ = 160
  around the natural mean colour c (Mahendran & Vedaldi, IJCV 2016, §3.2);
- `ToInput`: the per-channel affine map picture → input space, x = p M + b, which
  `input_map` derives from ``rep.deprocess`` alone (probed at 0 and the unit vectors).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.core.colour import natural_statistics
from jaxinv.core.pointwise import Pointwise
from jaxinv.errors import JaxinvError

__all__ = ["InputMap", "input_map", "ToInput", "Bounded"]

#: σ's scale in `Bounded`: 255 σ'(0) / SIGMOID_SCALE = 1, slope 1 at mid-grey.
SIGMOID_SCALE = 255.0 / 4.0


@dataclasses.dataclass(frozen=True)
class InputMap:
    """x = p M + b on the last (colour) axis: RGB picture in [0, 255] → input space."""

    matrix: tuple[tuple[float, ...], ...] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    offset: tuple[float, ...] = (0.0, 0.0, 0.0)

    def __call__(self, pictures: jax.Array) -> jax.Array:
        return pictures @ jnp.asarray(self.matrix, jnp.float32) + jnp.asarray(self.offset, jnp.float32)

    def inverse(self, inputs: jax.Array) -> jax.Array:
        """p = (x − b) M⁻¹: input space → RGB picture."""
        inverse = np.linalg.inv(np.asarray(self.matrix, np.float64)).astype(np.float32)
        return (jnp.asarray(inputs, jnp.float32) - jnp.asarray(self.offset, jnp.float32)) @ inverse


def input_map(rep: Any) -> InputMap:
    """The `InputMap` of representation ``rep``, derived from its ``deprocess`` (input → picture).

    ``deprocess`` is probed at x = 0 and the unit vectors e_c, which gives p = x D + p₀; a
    sixth probe checks it is affine. Refused (one-line `JaxinvError`) if the input does not
    have 3 channels, if ``deprocess`` is not affine per pixel, or if D is singular.
    """
    channels = rep.input_shape[2] if rep.input_shape is not None else rep.channels
    if channels != 3:
        raise JaxinvError(f"{rep.name} takes {channels}-channel inputs; these parametrisations make RGB"
                          " pictures: use ScaledPixels or BallPixels for it")
    check = np.array([37.0, -11.0, 5.0], np.float32)
    probes = np.concatenate([np.zeros((1, 3)), np.eye(3), check[None]]).astype(np.float32)[:, None, :]
    out = np.asarray(rep.deprocess(probes), np.float64).reshape(5, 3)
    origin, basis = out[0], out[1:4] - out[0]
    predicted = check.astype(np.float64) @ basis + origin
    scale = max(1.0, float(np.abs(out).max()))
    if not np.all(np.isfinite(out)) or not np.allclose(out[4], predicted, rtol=0, atol=1e-4 * scale):
        raise JaxinvError(f"{rep.name}'s deprocess is not a per-pixel affine map; pass an InputMap(matrix, offset)"
                          " to ToInput yourself")
    if abs(np.linalg.det(basis)) < 1e-12:
        raise JaxinvError(f"{rep.name}'s deprocess loses colour (a singular map); pass an InputMap yourself")
    matrix = np.linalg.inv(basis)
    offset = -origin @ matrix
    return InputMap(tuple(tuple(float(v) for v in row) for row in matrix), tuple(float(v) for v in offset))


@dataclasses.dataclass(frozen=True)
class ToInput(Pointwise):
    """x = map(inner's RGB picture): any picture parametrisation in a representation's input space.

    ``pixels`` are mapped too: regularisers see the input space, as the papers' do (the α-norm
    of centred values; TV is the picture's wherever the map only permutes and shifts channels).
    """

    inner: Any
    map: InputMap = InputMap()

    def forward(self, pictures: jax.Array) -> jax.Array:
        return self.map(pictures)

    def backward(self, inputs: jax.Array) -> jax.Array:
        return self.map.inverse(inputs)


def _natural_mean() -> tuple[float, ...]:
    return natural_statistics().colour_mean


@dataclasses.dataclass(frozen=True)
class Bounded(Pointwise):
    """The inner RGB picture kept in range: ``kind`` "sigmoid" (into (0, 255)) or "ball" (IJCV's B+).

    Attributes:
      inner: a parametrisation of RGB pictures in [0, 255] units.
      kind: "sigmoid" or "ball" (see the module).
      radius: B+, the ball's radius (160).
      centre: the ball's centre colour (natural pictures' mean).
    """

    inner: Any
    kind: str = "sigmoid"
    radius: float = 160.0
    centre: tuple[float, ...] = dataclasses.field(default_factory=_natural_mean)

    def __post_init__(self) -> None:
        if self.kind not in ("sigmoid", "ball"):
            raise JaxinvError(f"Bounded(kind={self.kind!r}); use 'sigmoid' or 'ball'")

    def forward(self, pictures: jax.Array) -> jax.Array:
        if self.kind == "sigmoid":
            return 255.0 * jax.nn.sigmoid((pictures - 127.5) / SIGMOID_SCALE)
        centre = jnp.asarray(self.centre, jnp.float32)
        offset = pictures - centre
        norm = jnp.sqrt(jnp.sum(offset * offset, axis=-1, keepdims=True) + 1e-12)
        return centre + offset * jnp.minimum(1.0, self.radius / norm)

    def backward(self, pictures: jax.Array) -> jax.Array:
        """The inverse of the sigmoid (pictures strictly inside (0, 255)); the ball has none."""
        if self.kind != "sigmoid":
            raise JaxinvError("Bounded(kind='ball') is not invertible; start from the inner parametrisation")
        p = jnp.clip(jnp.asarray(pictures, jnp.float32) / 255.0, 1e-6, 1 - 1e-6)
        return 127.5 + SIGMOID_SCALE * (jnp.log(p) - jnp.log1p(-p))
