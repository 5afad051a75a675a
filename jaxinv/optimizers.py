"""The two optimisers of the paper's code, as optax gradient transformations.

Both keep a step counter in their state and read the learning rate of that step from a
schedule table, so a whole multi-stage run is one `lax.scan` with no recompilation, and
both zero the velocity at the first step of every stage (METHOD.md pitfall 4: optax's own
``trace``/``sgd`` carry the velocity across a change of rate).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = ["MomentumState", "momentum_with_reset", "AdagradMomentumState", "adagrad_momentum_with_reset"]


class MomentumState(NamedTuple):
    count: jax.Array
    velocity: optax.Updates


def momentum_with_reset(learning_rates: np.ndarray, stage_starts: np.ndarray, *,
                        momentum: float = 0.9) -> optax.GradientTransformation:
    """Heavy-ball momentum with the velocity zeroed at each stage start (METHOD.md §2.1).

        v ← μ·v − η_t·g   (v ← 0 first when step t starts a stage),   x ← x + v

    Args:
      learning_rates: η_t for every step t (float array of the run's length).
      stage_starts: True where step t is the first of a stage.
      momentum: μ (0.9).
    """
    rates = jnp.asarray(learning_rates, jnp.float32)
    starts = jnp.asarray(stage_starts, bool)

    def init_fn(params: optax.Params) -> MomentumState:
        return MomentumState(jnp.zeros([], jnp.int32), jax.tree.map(jnp.zeros_like, params))

    def update_fn(updates, state, params=None):
        del params
        t = jnp.minimum(state.count, rates.shape[0] - 1)
        keep = jnp.where(starts[t], 0.0, momentum)
        velocity = jax.tree.map(lambda v, g: keep * v - rates[t] * g, state.velocity, updates)
        return velocity, MomentumState(state.count + 1, velocity)

    return optax.GradientTransformation(init_fn, update_fn)


class AdagradMomentumState(NamedTuple):
    count: jax.Array
    velocity: optax.Updates
    accumulator: optax.Updates


def adagrad_momentum_with_reset(learning_rates: np.ndarray, stage_starts: np.ndarray, *,
                                momentum: float = 0.9, decay: float = 0.9,
                                reset_accumulator: bool = False) -> optax.GradientTransformation:
    """The IJCV code's "AdaGrad with momentum" step (METHOD.md §2.3, `nnpreimage.m`).

        G ← ρ·G + g²,   v ← μ·v − g / (1/η_t + √G),   x ← x + v

    with v zeroed at each stage start. The authors meant to zero G too, but a typo
    (``adagraD``) kept it; ``reset_accumulator=False`` reproduces their code.
    """
    rates = jnp.asarray(learning_rates, jnp.float32)
    starts = jnp.asarray(stage_starts, bool)

    def init_fn(params: optax.Params) -> AdagradMomentumState:
        zeros = jax.tree.map(jnp.zeros_like, params)
        return AdagradMomentumState(jnp.zeros([], jnp.int32), zeros, zeros)

    def update_fn(updates, state, params=None):
        del params
        t = jnp.minimum(state.count, rates.shape[0] - 1)
        keep = jnp.where(starts[t], 0.0, momentum)
        keep_g = jnp.where(starts[t], 0.0, decay) if reset_accumulator else decay
        acc = jax.tree.map(lambda a, g: keep_g * a + g * g, state.accumulator, updates)
        velocity = jax.tree.map(lambda v, g, a: keep * v - g / (1.0 / rates[t] + jnp.sqrt(a)),
                                state.velocity, updates, acc)
        return velocity, AdagradMomentumState(state.count + 1, velocity, acc)

    return optax.GradientTransformation(init_fn, update_fn)
