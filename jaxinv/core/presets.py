"""The papers' choices as data: an objective, a parametrisation, an optimiser and a schedule.

`paper` is CVPR 2015 (Mahendran & Vedaldi, METHOD.md §2.1): c·data + λ_V TV^β(u) + λ_α N_α(u)
on σ-scaled pixels u, heavy-ball momentum reset per stage. `ijcv` is IJCV 2016 (METHOD.md
§2.3): C·data + bounded TV + bounded α-norm on pixels in the B+ ball with jitter,
AdaGrad-momentum. `fast` is the paper's objective, start and images with a quicker path: Adam
on the spectrum of u (`SpectralPixels`) over a short schedule (`FAST_SCHEDULES`). All are
`Preset` values; ``preset.solver(features, params, ...)`` is the `Solver` of one problem,
which the host's runner and a user's own `jax.vmap` both run.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
import optax

from jaxinv.core.parametrisations import BallPixels, Parametrisation, ScaledPixels, SpectralPixels
from jaxinv.core.solver import Solver
from jaxinv.core.stages import ijcv_adagrad_momentum, paper_momentum, staged
from jaxinv.core.terms import (AlphaNorm, BoundedAlphaNorm, BoundedTotalVariation, NormalisedData, Objective,
                               TotalVariation)
from jaxinv.core.settings import IJCVObjective, PaperObjective
from jaxinv.core.schedules import Schedule, Stage

__all__ = ["Preset", "OptimizerFactory", "PAPER_INPUT_SIZE", "FAST_SCHEDULES", "paper_preset", "ijcv_preset",
           "fast_preset", "smooth_descent", "paper_objective", "size_weight", "paper_optimizer", "ijcv_optimizer",
           "staged_adam"]

#: Values in the paper's CNN input, 227·227·3; see `size_weight`.
PAPER_INPUT_SIZE = 227 * 227 * 3


#: An optimiser over a schedule: ``optimizer(schedule) -> optax.GradientTransformation``.
OptimizerFactory = Callable[[Schedule], optax.GradientTransformation]


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named choice of objective, parametrisation, optimiser and schedule: an image prior.

    Attributes:
      objective: the `Objective` minimised.
      parametrisation: what the optimiser moves (`jaxinv.core.parametrisations.Parametrisation`).
      optimizer: the optimiser over a schedule, ``optimizer(schedule)`` an optax
        transformation (`staged` runs any optax optimiser so). Give a function that returns
        the same object for an equal schedule (``functools.lru_cache``): compiled programs are
        keyed on the transformation's identity.
      schedule: the stages (their length is the run's; their ``jitter`` flags turn random views on).
      name: what the preset is called (``paper``, ``ijcv``, ``lucid``, …).
      descent: ``descent(features)``, the same function of x whose derivative the optimiser
        follows (`smooth_descent`); None: the features' own derivative.
    """

    objective: Objective
    parametrisation: Parametrisation
    optimizer: OptimizerFactory
    schedule: Schedule
    name: str = "custom"
    descent: Callable[[Any], Any] | None = None

    def solver(self, features: Callable[[Any, jax.Array], jax.Array], params: Any, *,
               image_shape: tuple[int, int, int], copies: int = 1) -> Solver:
        """The `Solver` of one problem of representation ``features(params, x)`` under this preset."""
        if self.descent is not None:
            features = self.descent(features)
        return Solver(features, params, self.objective, self.parametrisation, self.optimizer(self.schedule),
                      schedule=self.schedule, image_shape=_whole_shape(image_shape), copies=copies,
                      stepwise=bool(getattr(self.parametrisation, "stepwise", False)))

    def with_objective(self, objective: Objective) -> "Preset":
        """This prior with another objective (an `InnerProduct` one for maximisation, say)."""
        return dataclasses.replace(self, objective=objective)

    def scaled(self, factor: float) -> "Preset":
        """Every learning rate of the schedule × ``factor`` (the host's retries of an overflowed run)."""
        return dataclasses.replace(self, schedule=self.schedule.scaled(factor))


def _whole_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    h, w, c = (int(s) for s in shape)
    return h, w, c


def size_weight(config: PaperObjective, image_shape: tuple[int, int, int]) -> float:
    """c = min(1, HWC / N₀), N₀ = 227·227·3: the data term's weight (and the start's √c) below
    the paper's input size; 1 with ``size_weight=False`` (docs/ARCHITECTURE.md, deviation 1)."""
    if not config.size_weight:
        return 1.0
    h, w, c = image_shape
    return float(min(1.0, h * w * c / PAPER_INPUT_SIZE))


def paper_objective(config: PaperObjective, image_shape: tuple[int, int, int]) -> Objective:
    """c·‖Φ(x) − Φ0‖²/‖Φ0‖² + λ_V TV^β(u) + λ_α N_α(u), c = `size_weight`: the paper's energy (METHOD.md §2.1)."""
    return (size_weight(config, image_shape) * NormalisedData() + config.lambda_tv * TotalVariation(beta=config.beta)
            + config.lambda_alpha * AlphaNorm(alpha=config.alpha))


def paper_preset(config: PaperObjective, schedule: Schedule, image_shape: tuple[int, int, int]) -> Preset:
    """CVPR 2015 in the paper's units (λ_V on u = x/σ, λ_α = 2.157e8 by default)."""
    start_norm = float(np.sqrt(size_weight(config, image_shape)))
    parametrisation = ScaledPixels(sigma=config.sigma, start_norm=start_norm)
    return Preset(paper_objective(config, image_shape), parametrisation, paper_optimizer, schedule, name="paper")


#: The fast prior's schedules (Adam's rates on the spectrum Z of `SpectralPixels`, d = 1), by the
#: representation's paper schedule (``shallow``: a quarter of its 800 steps; ``cnn``: 150 of its
#: 400) or by the representation's name where one setting could not serve all. Adam's moments are
#: zeroed at each stage start (`staged_adam`). Chosen on pictures 11-20 of the shared 100 (the
#: scores are on 1-10) against the paper's run of the same picture and key:
#: ``benchmarks/tune_fast.py``, its candidates and results in docs/results/speed.md#fast-preset.
FAST_SCHEDULES: dict[str, Schedule] = {
    "shallow": Schedule((Stage(5e-5, 70), Stage(5e-6, 50), Stage(1e-6, 40), Stage(2e-7, 40))),
    "cnn": Schedule((Stage(5e-5, 75), Stage(5e-6, 75))),
    # The paper's run overflows at its rates here and runs again at 0.3× (800 to 1200 evaluations);
    # cnn's 150 steps reached its bar on 7 of the 10 tuning pictures, these 200 on all 10.
    "squeezenet1_1:fire9/concat": Schedule((Stage(5e-5, 80), Stage(1.5e-5, 50), Stage(5e-6, 40), Stage(1.5e-6, 30))),
}


def fast_preset(config: PaperObjective, schedule: Schedule, image_shape: tuple[int, int, int], *,
                decay: float = 1.0, smooth: bool = True) -> Preset:
    """The paper's energy and start (`paper_objective`, `ScaledPixels`' u), Adam on u's 1/f^d spectrum.

    The same function of the same u as `paper_preset`'s at every point (`SpectralPixels` is a
    change of variables), minimised by `staged_adam` over ``schedule`` (`FAST_SCHEDULES`) along
    `smooth_descent`'s derivative (``smooth=False``: the features' own).
    """
    start_norm = float(np.sqrt(size_weight(config, image_shape)))
    parametrisation = SpectralPixels(sigma=config.sigma, start_norm=start_norm, decay=float(decay))
    return Preset(paper_objective(config, image_shape), parametrisation, staged_adam, schedule, name="fast",
                  descent=smooth_descent if smooth else None)


def smooth_descent(features: Any) -> Any:
    """``features.smooth_gradient()`` where the features offer it, else ``features``: the same values,
    a derivative that also sees what a hard assignment hides (hard-binned HOG's orientation:
    `jaxinv.representations.hog.descriptor.HogFeatures.smooth_gradient`)."""
    smooth = getattr(features, "smooth_gradient", None)
    return smooth() if callable(smooth) else features


def ijcv_preset(config: IJCVObjective, schedule: Schedule, image_shape: tuple[int, int, int], *,
                jitter: int) -> Preset:
    """IJCV 2016: the schedule's rates multiply LR = 0.05 B² HW / α (as ``nnpreimage.m``)."""
    objective = (config.data_weight * NormalisedData() + BoundedTotalVariation(scale=config.v, beta=config.beta)
                 + BoundedAlphaNorm(bound=config.bound, alpha=config.alpha))
    parametrisation = BallPixels(bound=config.bound, bound_plus=config.bound_plus, jitter=jitter)
    h, w, _ = image_shape
    base_rate = h * w * 0.05 * config.bound ** 2 / config.alpha
    return Preset(objective, parametrisation, ijcv_optimizer(base_rate), schedule, name="ijcv")


# One optax transformation per schedule (and base rate): a compiled program is keyed on the
# optimiser's identity, so building it anew for every run would compile every run anew.
@functools.lru_cache(maxsize=None)
def paper_optimizer(schedule: Schedule) -> optax.GradientTransformation:
    """`paper_momentum` over ``schedule``, one transformation per schedule."""
    return paper_momentum(schedule)


@functools.lru_cache(maxsize=None)
def staged_adam(schedule: Schedule) -> optax.GradientTransformation:
    """Adam over ``schedule``'s rates, its state reset at each stage start (`staged`)."""
    return staged(optax.adam, schedule)


@functools.lru_cache(maxsize=None)
def ijcv_optimizer(base_rate: float) -> OptimizerFactory:
    """`ijcv_adagrad_momentum` at ``base_rate`` as an optimiser over a schedule (one per schedule)."""
    @functools.lru_cache(maxsize=None)
    def over(schedule: Schedule) -> optax.GradientTransformation:
        return ijcv_adagrad_momentum(schedule, base_rate=base_rate)

    return over
