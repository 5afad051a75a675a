"""Deprecated in 0.2 (removed in 0.3): ``jaxinv.invert(rep, picture, prior=NAME, key=...)`` runs
every prior (paper, ijcv, lucid, maco, dip) through the one runner."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from jaxinv.inversion import InversionResult, invert, invert_batch

__all__ = ["invert_with_prior", "invert_batch_with_prior"]


def _warn(old: str, new: str) -> None:
    warnings.warn(f"jaxinv.{old} is deprecated and will be removed in jaxinv 0.3; use jaxinv.{new}(..., prior=NAME)",
                  DeprecationWarning, stacklevel=3)


def invert_with_prior(rep: Any, picture: np.ndarray, *, prior: str, key: jax.Array, seeds: int = 1,
                      **options: Any) -> InversionResult:
    """Deprecated: ``jaxinv.invert(rep, picture, prior=prior, key=key, seeds=seeds, **options)``."""
    _warn("invert_with_prior", "invert")
    return invert(rep, picture, prior=prior, key=key, seeds=seeds, **options)


def invert_batch_with_prior(rep: Any, pictures: Sequence[np.ndarray], *, prior: str, key: jax.Array,
                            seeds: int = 1, **options: Any) -> InversionResult:
    """Deprecated: ``jaxinv.invert_batch(rep, pictures, prior=prior, key=key, seeds=seeds, **options)``."""
    _warn("invert_batch_with_prior", "invert_batch")
    return invert_batch(rep, pictures, prior=prior, key=key, seeds=seeds, **options)
