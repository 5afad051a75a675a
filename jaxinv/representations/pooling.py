"""A linear representation: k×k average pooling of a picture (a test bed for the optimiser).

With λ = 0 the inversion of a linear representation is a least-squares problem, so the
feature-space error must fall to ~0; it also serves as the CLI's demonstration default
where a cheaper job than HOG is wanted.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from jaxinv.errors import JaxinvError
from jaxinv.representation import Representation

__all__ = ["average_pool"]


@dataclasses.dataclass(frozen=True)
class AveragePool:
    """Φ(x): the mean of each ``factor`` × ``factor`` block of the picture (H/f, W/f, C)."""

    factor: int

    def __call__(self, params: Any, x: jax.Array) -> jax.Array:
        del params
        h, w, c = x.shape
        f = self.factor
        x = x[: h // f * f, : w // f * f]
        return x.reshape(h // f, f, w // f, f, c).mean(axis=(1, 3))


def _centred(picture: np.ndarray) -> np.ndarray:
    return np.asarray(picture, np.float32) - 128.0


def _uncentred(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float32) + 128.0


def average_pool(*, factor: int = 2, channels: int = 3) -> Representation:
    """``factor``×``factor`` average pooling of a picture centred on 0 (x = picture − 128)."""
    if not isinstance(factor, (int, np.integer)) or factor < 1:
        raise JaxinvError(f"pooling factor {factor!r}; use a whole number >= 1")
    return Representation(
        name=f"avgpool{factor}", features=AveragePool(int(factor)), channels=channels,
        min_size=(factor, factor), preprocess=_centred, deprocess=_uncentred,
        stride=int(factor), lambda_tv=0.5, schedule="shallow",
    )
