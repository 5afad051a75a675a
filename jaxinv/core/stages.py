"""Any optax optimiser run in stages of learning rates, its state reset at each stage start.

The authors' optimisers run a few stages of constant rate and zero their momentum at the
first step of each (METHOD.md §2.1 and pitfall 4: optax's own ``trace``/``sgd`` carry the
velocity across a change of rate). `staged` is that rule as one optax-style wrapper around an
inner transformation built from a learning rate: the rate of step t is read from the
schedule's table (one compiled program serves every stage), and at a stage start the inner
state is set back to its initial value (``reset=True``), or the inner transformation is told
so and resets itself (``reset="restart"``).

Three inner transformations use it:

- `heavy_ball` (CVPR 2015):  v ← μ·v − η_t·g,  x ← x + v;  v zeroed at a restart
  (`paper_momentum`);
- `adagrad_momentum` (IJCV 2016, ``nnpreimage.m``):  G ← ρ·G + g²,  v ← μ·v − g/(1/η_t + √G);
  v zeroed at a restart, G kept (the authors' typo ``adagraD``; `ijcv_adagrad_momentum`);
- any optax optimiser taking ``learning_rate`` (``staged(optax.adam, schedule)``).

The authors' two reset themselves because their arithmetic is then theirs to the bit: the
velocity's factor is μ, or 0 at a restart, as in their code. Zeroing v first and multiplying by
a constant μ is the same number, but XLA compiles it to other roundings, and an inversion of 800
steps amplifies them (HOG's error moved by 0.1% over 80 steps).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxinv.core.schedules import Schedule, resolve_schedule
from jaxinv.errors import JaxinvError

__all__ = ["StagedState", "staged", "heavy_ball", "adagrad_momentum", "HeavyBallState", "AdagradMomentumState",
           "paper_momentum", "ijcv_adagrad_momentum", "staged_tables"]

#: What a stage start does: True sets the inner state back to its initial value, False nothing,
#: ``"restart"`` passes the inner transformation ``restart=True`` (it resets what it means to).
Reset = bool | Literal["restart"]


class StagedState(NamedTuple):
    """The step counter and the inner transformation's state (rate injected)."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as optax's own states' `count` does
    inner: Any


def staged(make: Callable[..., optax.GradientTransformation], schedule: Schedule | Any, *,
           reset: Reset = True, rate_scale: float = 1.0) -> optax.GradientTransformationExtraArgs:
    """``make(learning_rate=η_t)`` at every step t of ``schedule``, reset at stage starts.

    Args:
      make: an optimiser factory taking ``learning_rate`` (`heavy_ball`, ``optax.adam``, …).
      schedule: a `Schedule`, a preset name or [(rate, iterations), …].
      reset: at a stage start, True sets the inner state back to its initial value, False keeps
        it, ``"restart"`` passes ``make`` the flag ``restart`` (true at a stage's first step) and
        lets it reset itself (`heavy_ball`, `adagrad_momentum`).
      rate_scale: multiplies the schedule's float32 rate table (IJCV's base rate LR).

    Extra arguments (``value``, ``grad``, ``value_fn``) are passed on to ``make``'s transformation.
    """
    rates, starts, _ = resolve_schedule(schedule).per_step()
    return staged_tables(make, rates * rate_scale if rate_scale != 1.0 else rates, starts, reset=reset)


def staged_tables(make: Callable[..., optax.GradientTransformation], learning_rates: np.ndarray,
                  stage_starts: np.ndarray, *, reset: Reset = True) -> optax.GradientTransformationExtraArgs:
    """`staged` over explicit per-step tables: η_t (float, the run's length) and stage-start flags."""
    rates = jnp.asarray(learning_rates, jnp.float32)
    starts = jnp.asarray(stage_starts, bool)
    if reset not in (True, False, "restart"):
        raise JaxinvError(f"reset={reset!r}; use True, False or 'restart'")
    if reset == "restart":
        return _restarted(make, rates, starts)
    inner = optax.with_extra_args_support(optax.inject_hyperparams(make)(learning_rate=rates[0]))

    def init_fn(params: optax.Params) -> StagedState:
        return StagedState(jnp.zeros([], jnp.int32), inner.init(params))

    def update_fn(updates: optax.Updates, state: StagedState, params: optax.Params | None = None,
                  **extra: Any) -> tuple[optax.Updates, StagedState]:
        t = jnp.minimum(state.count, rates.shape[0] - 1)
        injected = state.inner
        if reset:
            fresh = inner.init(params if params is not None else updates).inner_state
            kept = jax.tree.map(lambda a, b: jnp.where(starts[t], a, b), fresh, injected.inner_state)
            injected = injected._replace(inner_state=kept)
        injected.hyperparams["learning_rate"] = rates[t]
        out, injected = inner.update(updates, injected, params, **extra)
        return out, StagedState(state.count + 1, injected)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def _restarted(make: Callable[..., optax.GradientTransformation], rates: jax.Array, starts: jax.Array
               ) -> optax.GradientTransformationExtraArgs:
    """`staged` with ``reset="restart"``: ``make(learning_rate=η_t, restart=start_t)`` built at every
    step around the inner state alone. Its state holds no hyperparameters (they are the tables'),
    so a step of a small problem (HOG's) carries no more than the authors' velocity and a counter:
    with `optax.inject_hyperparams` around it, HOG's step ran 9-12% slower (benchmarks/throughput_commits.py)."""
    def init_fn(params: optax.Params) -> StagedState:
        return StagedState(jnp.zeros([], jnp.int32), make(learning_rate=rates[0], restart=starts[0]).init(params))

    def update_fn(updates: optax.Updates, state: StagedState, params: optax.Params | None = None,
                  **extra: Any) -> tuple[optax.Updates, StagedState]:
        del extra  # the authors' steps read the gradient alone
        t = jnp.minimum(state.count, rates.shape[0] - 1)
        out, inner = make(learning_rate=rates[t], restart=starts[t]).update(updates, state.inner, params)
        return out, StagedState(state.count + 1, inner)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


class HeavyBallState(NamedTuple):
    """The velocity v."""

    velocity: optax.Updates


def heavy_ball(learning_rate: Any, *, restart: Any = False, momentum: float = 0.9) -> optax.GradientTransformation:
    """v ← k·v − η·g, update v, with k = μ, or 0 where ``restart`` (the authors' momentum step,
    METHOD.md §2.1; ``staged(heavy_ball, schedule, reset="restart")`` restarts it per stage)."""

    def init_fn(params: optax.Params) -> HeavyBallState:
        return HeavyBallState(jax.tree.map(jnp.zeros_like, params))

    def update_fn(updates: optax.Updates, state: HeavyBallState, params: optax.Params | None = None
                  ) -> tuple[optax.Updates, HeavyBallState]:
        del params
        keep = jnp.where(restart, 0.0, momentum)
        velocity = jax.tree.map(lambda v, g: keep * v - learning_rate * g, state.velocity, updates)
        return velocity, HeavyBallState(velocity)

    return optax.GradientTransformation(init_fn, update_fn)


class AdagradMomentumState(NamedTuple):
    """The velocity v and AdaGrad's running sum of squares G."""

    velocity: optax.Updates
    accumulator: optax.Updates


def adagrad_momentum(learning_rate: Any, *, restart: Any = False, momentum: float = 0.9, decay: float = 0.9,
                     reset_accumulator: bool = False) -> optax.GradientTransformation:
    """The IJCV code's "AdaGrad with momentum": G ← ρ·G + g², v ← k·v − g / (1/η + √G), update v,
    with k = μ, or 0 where ``restart``; G is zeroed there too only with ``reset_accumulator``
    (the authors meant to, but a typo, ``adagraD``, kept it)."""

    def init_fn(params: optax.Params) -> AdagradMomentumState:
        zeros = jax.tree.map(jnp.zeros_like, params)
        return AdagradMomentumState(zeros, zeros)

    def update_fn(updates: optax.Updates, state: AdagradMomentumState, params: optax.Params | None = None
                  ) -> tuple[optax.Updates, AdagradMomentumState]:
        del params
        keep = jnp.where(restart, 0.0, momentum)
        keep_g = jnp.where(restart, 0.0, decay) if reset_accumulator else decay
        acc = jax.tree.map(lambda a, g: keep_g * a + g * g, state.accumulator, updates)
        velocity = jax.tree.map(lambda v, g, a: keep * v - g / (1.0 / learning_rate + jnp.sqrt(a)),
                                state.velocity, updates, acc)
        return velocity, AdagradMomentumState(velocity, acc)

    return optax.GradientTransformation(init_fn, update_fn)


def paper_momentum(schedule: Schedule, *, momentum: float = 0.9) -> optax.GradientTransformationExtraArgs:
    """The CVPR 2015 code's step: `heavy_ball` over ``schedule``, v zeroed at each stage start."""
    return staged(functools.partial(heavy_ball, momentum=momentum), schedule, reset="restart")


def ijcv_adagrad_momentum(schedule: Schedule, *, base_rate: float, reset_accumulator: bool = False
                          ) -> optax.GradientTransformationExtraArgs:
    """The IJCV 2016 code's `adagrad_momentum`, the schedule's rates multiplying ``base_rate``.

    The velocity is zeroed at each stage start; the authors meant to zero G too, but a typo
    (``adagraD``) kept it: ``reset_accumulator=False`` reproduces their code.
    """
    return staged(functools.partial(adagrad_momentum, reset_accumulator=reset_accumulator), schedule,
                  rate_scale=base_rate, reset="restart")
