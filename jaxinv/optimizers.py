"""Deprecated in 0.2: the authors' optimisers are `jaxinv.core.stages` (removed in 0.3).

``momentum_with_reset(rates, starts)`` is ``staged_tables(heavy_ball, rates, starts,
reset="restart")`` and ``adagrad_momentum_with_reset`` the same over `adagrad_momentum`.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import optax

from jaxinv.core.stages import adagrad_momentum, heavy_ball, staged_tables

__all__ = ["momentum_with_reset", "adagrad_momentum_with_reset"]


def _warn(old: str, new: str) -> None:
    warnings.warn(f"jaxinv.{old} is deprecated and will be removed in jaxinv 0.3; use jaxinv.core.{new}",
                  DeprecationWarning, stacklevel=3)


def momentum_with_reset(learning_rates: np.ndarray, stage_starts: np.ndarray, *,
                        momentum: float = 0.9) -> optax.GradientTransformationExtraArgs:
    """Deprecated: ``jaxinv.core.staged_tables(heavy_ball, learning_rates, stage_starts)``."""
    _warn("momentum_with_reset", "paper_momentum (or staged_tables with heavy_ball)")
    return staged_tables(functools.partial(heavy_ball, momentum=momentum), learning_rates, stage_starts,
                         reset="restart")


def adagrad_momentum_with_reset(learning_rates: np.ndarray, stage_starts: np.ndarray, *, momentum: float = 0.9,
                                decay: float = 0.9, reset_accumulator: bool = False
                                ) -> optax.GradientTransformationExtraArgs:
    """Deprecated: ``jaxinv.core.ijcv_adagrad_momentum`` (or `staged_tables` over `adagrad_momentum`)."""
    _warn("adagrad_momentum_with_reset", "ijcv_adagrad_momentum")

    return staged_tables(functools.partial(adagrad_momentum, momentum=momentum, decay=decay,
                                           reset_accumulator=reset_accumulator),
                         learning_rates, stage_starts, reset="restart")
