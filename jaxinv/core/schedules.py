"""Learning-rate schedules as data: stages of (learning rate, iterations).

The authors' optimiser (METHOD.md §2.1) runs a few stages of constant learning rate and
zeroes the momentum at the start of each. Presets:

- ``cnn``: 0.004 × [1, 0.1, 0.01] for [100, 200, 100] iterations (400).
- ``shallow`` (HOG, HOGb, DSIFT): 0.004 × [1, 0.1, 0.01, 0.001] for 200 each (800).
- ``receptive_field`` (the windowed-code figure): 0.004 × [0.1, 0.01, 0.001] for 200 each.
- ``ijcv``: 300 iterations at LR with jitter, then 50 at 0.1·LR without; the IJCV
  optimiser scales LR = 0.05 B²/α by HW itself, so the stage rates here are multipliers.
- ``shallow_long``: the ``shallow`` stages three times as long (2400): the paper's 800
  iterations leave HOG/HOGb/DSIFT inversions short of convergence (benchmarks/results).
- ``code_default``: `invert_nn.m`'s own default, 0.001 × [1, .1, .01, .001, 1e-4] for
  [800, 500, 500, 200, 100] (2100).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from jaxinv.errors import JaxinvError

__all__ = ["Stage", "Schedule", "PRESETS", "resolve_schedule"]


@dataclasses.dataclass(frozen=True)
class Stage:
    """``iterations`` steps at a constant ``learning_rate``; ``jitter`` is used by IJCV only."""

    learning_rate: float
    iterations: int
    jitter: bool = True


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A sequence of stages; momentum is reset at the first step of each stage."""

    stages: tuple[Stage, ...]

    def __post_init__(self) -> None:
        if not self.stages:
            raise JaxinvError("a schedule needs at least one stage; pass e.g. [(0.004, 100)]")
        for stage in self.stages:
            if not (isinstance(stage.iterations, (int, np.integer)) and stage.iterations > 0):
                raise JaxinvError(
                    f"a stage has {stage.iterations} iterations; use a positive whole number"
                )
            if not (np.isfinite(stage.learning_rate) and stage.learning_rate > 0):
                raise JaxinvError(
                    f"a stage has learning rate {stage.learning_rate}; use a positive finite rate"
                )

    @property
    def total(self) -> int:
        """T, the run's iterations: the stages' sum."""
        return int(sum(s.iterations for s in self.stages))

    def per_step(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(learning rate, stage-start flag, jitter flag) for each step, as arrays of length total."""
        rates = np.concatenate([np.full(s.iterations, s.learning_rate, np.float32) for s in self.stages])
        starts = np.concatenate([np.arange(s.iterations) == 0 for s in self.stages])
        jitter = np.concatenate([np.full(s.iterations, s.jitter) for s in self.stages])
        return rates, starts, jitter

    def scaled(self, factor: float) -> "Schedule":
        """The schedule with every stage's learning rate × ``factor`` (the same iterations)."""
        return Schedule(tuple(dataclasses.replace(s, learning_rate=s.learning_rate * factor)
                              for s in self.stages))

    def shortened(self, factor: float) -> "Schedule":
        """The same stages with iterations scaled by ``factor`` (at least 1 each); for quick runs."""
        return Schedule(tuple(dataclasses.replace(s, iterations=max(1, int(round(s.iterations * factor))))
                              for s in self.stages))

    @classmethod
    def of(cls, stages: Sequence[tuple[float, int]] | Sequence[Stage]) -> "Schedule":
        """A schedule from `Stage` values or (learning rate, iterations) pairs, in order."""
        return cls(tuple(s if isinstance(s, Stage) else Stage(float(s[0]), int(s[1])) for s in stages))


def _decades(base: float, iterations: Sequence[int], first: float = 1.0) -> Schedule:
    return Schedule(tuple(Stage(base * first * 10.0 ** -i, n) for i, n in enumerate(iterations)))


PRESETS: dict[str, Schedule] = {
    "cnn": _decades(0.004, [100, 200, 100]),
    "shallow": _decades(0.004, [200, 200, 200, 200]),
    "shallow_long": _decades(0.004, [600, 600, 600, 600]),
    "receptive_field": _decades(0.004, [200, 200, 200], first=0.1),
    "ijcv": Schedule((Stage(1.0, 300, jitter=True), Stage(0.1, 50, jitter=False))),
    "code_default": _decades(0.001, [800, 500, 500, 200, 100]),
}


def resolve_schedule(schedule: str | Schedule | Sequence[tuple[float, int]]) -> Schedule:
    """A preset name, a `Schedule`, or explicit stages [(learning rate, iterations), ...]."""
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str):
        if schedule not in PRESETS:
            raise JaxinvError(f"unknown schedule {schedule!r}; use one of {', '.join(PRESETS)} or explicit stages")
        return PRESETS[schedule]
    try:
        return Schedule.of(schedule)
    except (TypeError, ValueError, IndexError) as exc:
        if isinstance(exc, JaxinvError):
            raise
        raise JaxinvError(f"cannot read schedule {schedule!r}; pass a preset name or [(lr, iterations), ...]") from None
