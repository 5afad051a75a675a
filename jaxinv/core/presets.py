"""The papers' choices as data: an objective, a parametrisation, an optimiser and a schedule.

`paper` is CVPR 2015 (Mahendran & Vedaldi, METHOD.md §2.1): c·data + λ_V TV^β(u) + λ_α N_α(u)
on σ-scaled pixels u, heavy-ball momentum reset per stage. `ijcv` is IJCV 2016 (METHOD.md
§2.3): C·data + bounded TV + bounded α-norm on pixels in the B+ ball with jitter,
AdaGrad-momentum. Both return a `Solver` for one problem; the host layer
(`jaxinv.invert`) and a user's own `jax.vmap` build on the same.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
import optax

from jaxinv.core.parametrisations import BallPixels, ScaledPixels
from jaxinv.core.solver import Solver
from jaxinv.core.stages import ijcv_adagrad_momentum, paper_momentum
from jaxinv.core.terms import (AlphaNorm, BoundedAlphaNorm, BoundedTotalVariation, NormalisedData, Objective,
                               TotalVariation)
from jaxinv.objective import IJCVObjective, PaperObjective
from jaxinv.schedules import Schedule, resolve_schedule

__all__ = ["Preset", "PAPER_INPUT_SIZE", "paper_preset", "ijcv_preset", "paper", "ijcv", "size_weight"]

#: Values in the paper's CNN input, 227·227·3; see `size_weight`.
PAPER_INPUT_SIZE = 227 * 227 * 3


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named choice of objective, parametrisation, optimiser and schedule."""

    objective: Objective
    parametrisation: Any
    optimizer: optax.GradientTransformation
    schedule: Schedule

    def solver(self, features: Any, params: Any, *, image_shape: tuple[int, int, int], copies: int = 1) -> Solver:
        """The `Solver` of one problem of representation ``features(params, x)`` under this preset."""
        return Solver(features, params, self.objective, self.parametrisation, self.optimizer,
                      schedule=self.schedule, image_shape=tuple(image_shape), copies=copies,
                      stepwise=bool(getattr(self.parametrisation, "stepwise", False)))


def size_weight(config: PaperObjective, image_shape: tuple[int, int, int]) -> float:
    """c = min(1, HWC / N₀), N₀ = 227·227·3: the data term's weight (and the start's √c) below
    the paper's input size; 1 with ``size_weight=False`` (docs/ARCHITECTURE.md, deviation 1)."""
    if not config.size_weight:
        return 1.0
    h, w, c = image_shape
    return float(min(1.0, h * w * c / PAPER_INPUT_SIZE))


def paper_preset(config: PaperObjective, schedule: Schedule, image_shape: tuple[int, int, int]) -> Preset:
    """CVPR 2015 in the paper's units (λ_V on u = x/σ, λ_α = 2.157e8 by default)."""
    c = size_weight(config, image_shape)
    objective = (c * NormalisedData() + config.lambda_tv * TotalVariation(beta=config.beta)
                 + config.lambda_alpha * AlphaNorm(alpha=config.alpha))
    parametrisation = ScaledPixels(sigma=config.sigma, start_norm=float(np.sqrt(c)))
    return Preset(objective, parametrisation, _paper_optimizer(schedule), schedule)


def ijcv_preset(config: IJCVObjective, schedule: Schedule, image_shape: tuple[int, int, int], *,
                jitter: int) -> Preset:
    """IJCV 2016: the schedule's rates multiply LR = 0.05 B² HW / α (as ``nnpreimage.m``)."""
    objective = (config.data_weight * NormalisedData() + BoundedTotalVariation(scale=config.v, beta=config.beta)
                 + BoundedAlphaNorm(bound=config.bound, alpha=config.alpha))
    parametrisation = BallPixels(bound=config.bound, bound_plus=config.bound_plus, jitter=jitter)
    h, w, _ = image_shape
    base_rate = h * w * 0.05 * config.bound ** 2 / config.alpha
    return Preset(objective, parametrisation, _ijcv_optimizer(schedule, base_rate), schedule)


# One optax transformation per schedule (and base rate): a compiled program is keyed on the
# optimiser's identity, so building it anew for every run would compile every run anew.
_paper_optimizer = functools.lru_cache(maxsize=None)(paper_momentum)


@functools.lru_cache(maxsize=None)
def _ijcv_optimizer(schedule: Schedule, base_rate: float) -> optax.GradientTransformation:
    return ijcv_adagrad_momentum(schedule, base_rate=base_rate)


def _shape(rep: Any, image_shape: tuple[int, int, int] | None) -> tuple[int, int, int]:
    shape = image_shape if image_shape is not None else rep.input_shape
    if shape is None:
        from jaxinv.errors import JaxinvError
        raise JaxinvError(f"{rep.name} takes any size: pass image_shape=(H, W, C)")
    rep.check_input(tuple(shape))
    return tuple(int(s) for s in shape)


def paper(rep: Any, *, image_shape: tuple[int, int, int] | None = None, lambda_tv: float | None = None,
          lambda_alpha: float | None = None, schedule: Any = None, copies: int = 1) -> Solver:
    """The CVPR 2015 solver of one problem for representation ``rep`` (its λ and schedule by default)."""
    config = PaperObjective(lambda_tv=rep.lambda_tv if lambda_tv is None else float(lambda_tv),
                            lambda_alpha=rep.lambda_alpha if lambda_alpha is None else float(lambda_alpha))
    shape = _shape(rep, image_shape)
    preset = paper_preset(config, resolve_schedule(schedule if schedule is not None else rep.schedule), shape)
    return preset.solver(rep.features, rep.params, image_shape=shape, copies=copies)


def ijcv(rep: Any, *, image_shape: tuple[int, int, int] | None = None, data_weight: float = 1.0,
         schedule: Any = "ijcv", copies: int = 1) -> Solver:
    """The IJCV 2016 solver of one problem for ``rep`` (jitter J = max(round(stride/4), 1))."""
    config = IJCVObjective(data_weight=data_weight)
    shape = _shape(rep, image_shape)
    preset = ijcv_preset(config, resolve_schedule(schedule), shape, jitter=config.jitter_for(rep.stride))
    return preset.solver(rep.features, rep.params, image_shape=shape, copies=copies)
