"""Any optax optimiser, run in stages of learning rates with its state reset at each stage.

The authors' two optimisers (`jaxinv.optimizers`) are staged already: heavy-ball momentum
(CVPR 2015) and AdaGrad-momentum (IJCV 2016), each with its velocity zeroed at a stage start.
`staged` does the same for any optax optimiser built from a learning rate (Adam, RMSProp, …):
the rate of step t is read from the schedule's table, and at the first step of a stage the
optimiser's state is set back to its initial value (``reset=True``), as the authors reset
their momentum (METHOD.md pitfall 4).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxinv.optimizers import adagrad_momentum_with_reset, momentum_with_reset
from jaxinv.schedules import Schedule, resolve_schedule

__all__ = ["StagedState", "staged", "paper_momentum", "ijcv_adagrad_momentum"]


class StagedState(NamedTuple):
    count: jax.Array
    inner: Any


def staged(make: Callable[..., optax.GradientTransformation], schedule: Schedule | Any, *,
           reset: bool = True) -> optax.GradientTransformationExtraArgs:
    """``make(learning_rate=η_t)`` at every step t of ``schedule``, reset at stage starts.

    Args:
      make: an optax optimiser factory taking ``learning_rate`` (``optax.adam``, …).
      schedule: a `Schedule`, a preset name or [(rate, iterations), …].
      reset: set the inner state back to ``init`` at the first step of every stage.

    The rate is injected (`optax.inject_hyperparams`), so one compiled program serves every
    stage. Extra arguments (``value``, ``grad``, ``value_fn``) are passed on.
    """
    rates_np, starts_np, _ = resolve_schedule(schedule).per_step()
    rates, starts = jnp.asarray(rates_np, jnp.float32), jnp.asarray(starts_np, bool)
    inner = optax.with_extra_args_support(optax.inject_hyperparams(make)(learning_rate=rates[0]))

    def init_fn(params: optax.Params) -> StagedState:
        return StagedState(jnp.zeros([], jnp.int32), inner.init(params))

    def update_fn(updates, state: StagedState, params=None, **extra):
        t = jnp.minimum(state.count, rates.shape[0] - 1)
        inner_state = state.inner
        if reset:
            fresh = inner.init(params if params is not None else updates)
            inner_state = jax.tree.map(lambda a, b: jnp.where(starts[t], a, b), fresh, inner_state)
        inner_state.hyperparams["learning_rate"] = rates[t]
        out, inner_state = inner.update(updates, inner_state, params, **extra)
        return out, StagedState(state.count + 1, inner_state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def paper_momentum(schedule: Schedule, *, momentum: float = 0.9) -> optax.GradientTransformation:
    """The CVPR 2015 code's step: v ← μv − η_t g, v zeroed at each stage start (METHOD.md §2.1)."""
    rates, starts, _ = schedule.per_step()
    return momentum_with_reset(rates, starts, momentum=momentum)


def ijcv_adagrad_momentum(schedule: Schedule, *, base_rate: float) -> optax.GradientTransformation:
    """The IJCV 2016 code's AdaGrad-momentum, the schedule's rates multiplying ``base_rate``."""
    rates, starts, _ = schedule.per_step()
    return adagrad_momentum_with_reset(rates * base_rate, starts)
