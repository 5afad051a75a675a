"""The pure inversion solver: one problem, from a key to an image, transformable by the user.

A `Solver` binds a representation's ``features(params, x)`` and params, an `Objective`, a
parametrisation and an optax optimiser run over a `Schedule`. Its methods are pure functions
of one problem; `jax.jit`, `jax.vmap` (over keys, targets or both), `jax.grad` (with respect
to the objective's weights, say) and sharding apply to them as to any JAX function::

    solver = Solver(rep.features, rep.params, objective, ScaledPixels(), paper_momentum(schedule),
                    schedule=schedule, image_shape=(227, 227, 3))
    run = jax.jit(jax.vmap(solver.run, in_axes=(0, None)))    # 64 seeds, one program
    states, energies = run(jax.random.split(key, 64), target)
    images = jax.vmap(solver.image)(states)

One step at x = image(variables): the objective's value and gradient, the optimiser's
update, the parametrisation's projection. A step whose result is not finite is refused
(the state keeps its last finite iterate) and counted in ``rejected``; steps at or past the
schedule's end change nothing, so `advance` may run past it in fixed-size chunks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxinv.core.parametrisations import Parametrisation
from jaxinv.core.terms import Objective, TermInputs
from jaxinv.errors import JaxinvError
from jaxinv.core.norms import data_term, masked_sq_norm
from jaxinv.core.schedules import Schedule

__all__ = ["SolverState", "Solver", "run_in_chunks"]


class SolverState(NamedTuple):
    """The state of one problem: a pytree, batched by `jax.vmap` like any other."""

    variables: Any           # the parametrisation's variables
    opt_state: Any           # the optimiser's state
    snapshot: Any            # the variables after the first step of the last `advance`
    key: jax.Array           # per-step keys are fold_in(key, step)
    rejected: jax.Array      # steps refused because they left the finite numbers
    step: jax.Array          # the next step's index

    @property
    def variable(self) -> Any:
        """The variables, under the engine's older name (pixel parametrisations have one array)."""
        return self.variables


class Solver(struct.PyTreeNode):
    """One inversion problem's pure functions; params and objective weights are traced leaves.

    Attributes:
      features: the representation's ``features(params, x)`` on one image.
      params: its params pytree.
      objective: an `Objective` (weights traced).
      parametrisation: see `jaxinv.core.parametrisations`.
      optimizer: any optax transformation (given ``value``, ``grad`` and ``value_fn`` when it
        takes extra arguments, as `optax.lbfgs` does).
      schedule: the stages: their length is the run's, their jitter flags the parametrisation's.
      image_shape: (H, W, C) of the input space.
      copies: R, the images optimised jointly (the paper's coupled multi-start mode).
      stepwise: callers should step it from the host, one compiled step per call (`chunk`):
        XLA:CPU runs a generator's steps (a Deep Image Prior's) about 4× slower inside a loop
        than outside one (1.5 against 0.35 s a step of the dip preset on SqueezeNet fire3),
        while a network's input gradients run as fast in both. The parametrisation asks for
        it (``stepwise = True``, `DeepImagePrior`); `run_in_chunks` drives it.
    """

    features: Callable[[Any, jax.Array], jax.Array] = struct.field(pytree_node=False)
    params: Any
    objective: Objective
    parametrisation: Parametrisation = struct.field(pytree_node=False)
    optimizer: optax.GradientTransformation = struct.field(pytree_node=False)
    schedule: Schedule = struct.field(pytree_node=False)
    image_shape: tuple[int, int, int] = struct.field(pytree_node=False)
    copies: int = struct.field(pytree_node=False, default=1)
    stepwise: bool = struct.field(pytree_node=False, default=False)

    def init(self, key: jax.Array) -> SolverState:
        """The random start drawn from ``key`` (its first half; the second keys the steps)."""
        init_key, run_key = jax.random.split(key)
        variables = self.parametrisation.init(init_key, self.image_shape, self.copies)
        return SolverState(variables, self.optimizer.init(variables), variables, run_key,
                           jnp.zeros([], jnp.int32), jnp.zeros([], jnp.int32))

    def energy(self, variables: Any, target: jax.Array, mask: jax.Array | None = None, *,
               key: jax.Array | None = None, active: jax.Array | bool = True) -> tuple[jax.Array, jax.Array]:
        """(total, each term's value) at ``variables``, the view drawn from ``key`` if any."""
        images = self.parametrisation.image(variables, key=key, active=active)
        code = jax.vmap(self.features, in_axes=(None, 0))(self.params, images)
        inputs = TermInputs(code, target, mask, images, self.parametrisation.pixels(variables))
        return self.objective(inputs)

    def step(self, state: SolverState, target: jax.Array, mask: jax.Array | None = None, *,
             first: jax.Array | None = None) -> tuple[SolverState, jax.Array]:
        """One step; returns the new state and [each term's value, total] before it."""
        t = state.step
        _, _, jitter = self.schedule.per_step()
        step_key = jax.random.fold_in(state.key, t)
        active_view = jnp.asarray(jitter)[jnp.minimum(t, len(jitter) - 1)]

        def value(v: Any) -> tuple[jax.Array, jax.Array]:
            return self.energy(v, target, mask, key=step_key, active=active_view)

        (total, values), grad = jax.value_and_grad(value, has_aux=True)(state.variables)
        extra = {}
        if isinstance(self.optimizer, optax.GradientTransformationExtraArgs):
            extra = dict(value=total, grad=grad, value_fn=lambda v: value(v)[0])
        updates, opt_state = self.optimizer.update(grad, state.opt_state, state.variables, **extra)
        variables = self.parametrisation.project(optax.apply_updates(state.variables, updates))
        ok = (t < self.schedule.total) & _all_finite(variables)
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)  # noqa: E731
        variables = keep(variables, state.variables)
        rejected = state.rejected + ((t < self.schedule.total) & ~ok).astype(jnp.int32)
        first = t if first is None else first
        snapshot = jax.tree.map(lambda a, b: jnp.where(t == first, a, b), variables, state.snapshot)
        new = SolverState(variables, keep(opt_state, state.opt_state), snapshot, state.key, rejected, t + 1)
        return new, jnp.concatenate([values, total[None]])

    def advance(self, state: SolverState, target: jax.Array, steps: int, mask: jax.Array | None = None
                ) -> tuple[SolverState, jax.Array]:
        """``steps`` steps (a static count) in one `lax.scan`; energies (steps, K + 1).

        ``state.snapshot`` becomes the variables after the first of them. One step is no loop
        (see ``stepwise``).
        """
        if steps == 1:
            new, energy = self.step(state, target, mask)
            return new, energy[None]
        first = state.step

        def body(carry: SolverState, _: None) -> tuple[SolverState, jax.Array]:
            return self.step(carry, target, mask, first=first)

        return jax.lax.scan(body, state, None, length=steps)

    @property
    def chunk(self) -> int | None:
        """Steps per compiled `advance` a host loop should take: 1 when ``stepwise``, else any (None)."""
        return 1 if self.stepwise else None

    def run(self, key: jax.Array, target: jax.Array, mask: jax.Array | None = None
            ) -> tuple[SolverState, jax.Array]:
        """The whole schedule from the start ``key`` gives: (final state, energies (T, K + 1))."""
        return self.advance(self.init(key), target, self.schedule.total, mask)

    def image(self, state_or_variables: SolverState | Any) -> jax.Array:
        """The R images (R, H, W, C) in input space, seen without jitter."""
        variables = state_or_variables.variables if isinstance(state_or_variables, SolverState) \
            else state_or_variables
        return self.parametrisation.image(variables)

    def evaluate(self, variables: Any, target: jax.Array, mask: jax.Array | None = None
                 ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(images (R, H, W, C), codes (R, ...), errors (R,)): ‖M ⊙ (Φ(x_r) − Φ0)‖² / ‖M ⊙ Φ0‖² each."""
        images = self.parametrisation.image(variables)
        codes = jax.vmap(self.features, in_axes=(None, 0))(self.params, images)
        norm = masked_sq_norm(target, mask)
        errors = jax.vmap(lambda c: data_term(c, target, norm, mask))(codes)
        return images, codes, errors


def run_in_chunks(advance: Callable[[Any, int], tuple[Any, jax.Array]], states: Any, total: int, chunk: int, *,
                  on_chunk: Callable[[int], None] | None = None) -> tuple[Any, np.ndarray]:
    """``total`` steps driven from the host, ``chunk`` per call of a compiled ``advance``.

    ``advance(states, chunk)`` returns (states, energies (..., chunk, K + 1)), typically a jitted,
    vmapped `Solver.advance`; one program serves every call. The last call may run past
    ``total``: steps past the schedule's end change nothing and their energies are cut.
    ``on_chunk(done)`` is called after each call (a progress bar, a log line). A `Solver.stepwise`
    solver is driven with ``chunk=solver.chunk`` (1)::

        step = jax.jit(jax.vmap(lambda s, n: solver.advance(s, target, n), in_axes=(0, None)), static_argnums=1)
        states, energies = run_in_chunks(step, jax.vmap(solver.init)(keys), solver.schedule.total, 1)

    Returns the final states and the energies (..., total, K + 1) as a host array.
    """
    if chunk < 1 or total < 1:
        raise JaxinvError(f"run_in_chunks: chunk={chunk!r}, total={total!r}; use whole numbers >= 1")
    energies, done = [], 0
    while done < total:
        states, energy = advance(states, chunk)
        energies.append(np.asarray(energy))
        done = min(total, done + chunk)
        if on_chunk is not None:
            on_chunk(done)
    return states, np.concatenate(energies, axis=-2)[..., :total, :]


def _all_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)
