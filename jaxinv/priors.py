"""Inversion under a named image prior: ``invert_with_prior(rep, picture, prior="lucid", key=...)``.

The priors are `jaxinv.core.priors` (paper, ijcv, lucid, maco, dip). ``paper`` and ``ijcv``
run through `jaxinv.invert` (``method=`` of the same name: chunks, retries and memory
budget included, the same numbers); the others run the core `Solver` as one compiled
program, ``jax.jit(jax.vmap(jax.vmap(solver.run)))`` over pictures and seeds (dip: one
compiled step of all of them at a time, `Solver.stepwise`), and return the same
`InversionResult` (its ``energy`` columns are the prior's objective's terms and the total).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.core.priors import PRIOR_NAMES, Prior, prior
from jaxinv.core.solver import Solver, run_in_chunks
from jaxinv.errors import JaxinvError
from jaxinv.images import as_picture
from jaxinv.inversion import InversionResult, invert, invert_batch
from jaxinv.runner import check_whole, finite_energy
from jaxinv.targets import check_key, targets_from_pictures

__all__ = ["PRIOR_NAMES", "HOST_PRIORS", "invert_with_prior", "invert_batch_with_prior", "solver_for"]

#: The priors the host's engine runs (`jaxinv.invert`'s ``method``); the rest run the core `Solver`.
HOST_PRIORS = ("paper", "ijcv")


def solver_for(rep: Any, chosen: Prior, image_shape: tuple[int, int, int]) -> Solver:
    """The core `Solver` of one inversion of ``rep`` under ``chosen``."""
    return chosen.preset().solver(rep.features, rep.params, image_shape=image_shape)


def _over_problems(function):
    """``function(solver, a, target)`` over (N, S) problems: ``a`` (N, S, ...), targets (N, ...)."""
    return jax.vmap(jax.vmap(function, in_axes=(None, 0, None)), in_axes=(None, 0, 0))


@jax.jit
def _run_all(solver: Solver, keys: jax.Array, targets: jax.Array):
    """(N, S) problems in one program: images, codes, errors, energies, refused steps."""
    def one(solver, key, target):
        state, energy = solver.run(key, target)
        return _outcome(solver, state, target) + (energy,)

    images, codes, errors, rejected, energy = _over_problems(one)(solver, keys, targets)
    return images, codes, errors, energy, rejected


def _outcome(solver: Solver, state: Any, target: jax.Array):
    images, codes, errors = solver.evaluate(state.variables, target)
    return images[0], codes[0], errors[0], state.rejected


_start = jax.jit(_over_problems(lambda solver, key, target: solver.init(key)))
_finish = jax.jit(_over_problems(_outcome))


@functools.partial(jax.jit, static_argnames=("steps",))
def _advance(solver: Solver, states: Any, targets: jax.Array, steps: int):
    return _over_problems(lambda solver, state, target: solver.advance(state, target, steps))(solver, states, targets)


def _run_stepwise(solver: Solver, keys: jax.Array, targets: jax.Array):
    """`_run_all` driven from the host, one compiled step of all (N, S) problems a call
    (`Solver.stepwise`: no loop inside the program)."""
    states, energy = run_in_chunks(lambda states, steps: _advance(solver, states, targets, steps),
                                   _start(solver, keys, targets), solver.schedule.total, solver.chunk)
    images, codes, errors, rejected = _finish(solver, states, targets)
    return images, codes, errors, energy, rejected


def invert_batch_with_prior(rep: Any, pictures: Sequence[np.ndarray], *, prior: str, key: jax.Array,
                            seeds: int = 1, **options: Any) -> InversionResult:
    """N pictures of one size, S seeds each, under the named prior: arrays (N, S, ...).

    Picture i uses ``fold_in(key, i)`` split into its S seeds, as `jaxinv.invert_batch`.
    ``options``: for paper/ijcv, `jaxinv.invert_batch`'s; for the others, the prior
    builder's (``schedule=``, …, see `jaxinv.core.priors`).
    """
    name = _check_name(prior)
    check_key(key)
    pictures = [as_picture(p) for p in pictures]
    if name in HOST_PRIORS:
        return invert_batch(rep, pictures, key=key, seeds=seeds, method=name, **options)
    return _run_prior(pictures, rep, name, [jax.random.fold_in(key, i) for i in range(len(pictures))], seeds,
                      options)


def invert_with_prior(rep: Any, picture: np.ndarray, *, prior: str, key: jax.Array, seeds: int = 1,
                      **options: Any) -> InversionResult:
    """Invert one picture's code under the named prior; arrays have a leading seed axis (S, ...).

    ``prior``: one of `PRIOR_NAMES`. The seeds' keys are ``jax.random.split(key, S)``, as
    `jaxinv.invert`: ``invert_with_prior(rep, p, prior="paper", key=k)`` is
    ``jaxinv.invert(rep, p, key=k, method="paper")``.
    """
    name = _check_name(prior)
    check_key(key)
    if name in HOST_PRIORS:
        return invert(rep, as_picture(picture), key=key, seeds=seeds, method=name, **options)
    batch = _run_prior([as_picture(picture)], rep, name, [key], seeds, options)
    return InversionResult(
        images=batch.images[0], inputs=batch.inputs[0], errors=batch.errors[0], codes=batch.codes[0],
        targets=batch.targets[0], energy=batch.energy[0], snapshots=None,
        snapshot_iterations=batch.snapshot_iterations, diverged=batch.diverged[0],
        learning_rate_scale=batch.learning_rate_scale[0], seconds=batch.seconds)


def _run_prior(pictures: list[np.ndarray], rep: Any, name: str, image_keys: list[jax.Array], seeds: int,
               options: dict[str, Any]) -> InversionResult:
    """The core `Solver` over N pictures × S seeds in one program, assembled as `InversionResult`."""
    if not pictures:
        raise JaxinvError("no pictures given; pass at least one")
    check_whole("seeds", seeds)
    inputs, targets = targets_from_pictures(rep, pictures)
    shape = tuple(int(s) for s in inputs.shape[1:])
    solver = solver_for(rep, prior(name, rep, shape, **options), shape)
    keys = jnp.stack([jax.random.split(k, seeds) for k in image_keys])
    started = time.perf_counter()
    run = _run_stepwise if solver.stepwise else _run_all
    images, codes, errors, energy, rejected = jax.block_until_ready(run(solver, keys, jnp.asarray(targets)))
    seconds = time.perf_counter() - started
    inputs_out = np.asarray(images)
    shown = np.stack([np.clip(rep.deprocess(x), 0, 255) for x in inputs_out.reshape(-1, *shape)])
    return InversionResult(
        images=shown.reshape(*inputs_out.shape[:2], *shown.shape[1:]).astype(np.float32), inputs=inputs_out,
        errors=np.asarray(errors), codes=np.asarray(codes), targets=np.asarray(targets),
        energy=finite_energy(energy),
        snapshots=None, snapshot_iterations=np.zeros(0, np.int64), diverged=np.asarray(rejected) > 0,
        learning_rate_scale=np.ones(np.shape(errors), np.float32), seconds=seconds)


def _check_name(name: Any) -> str:
    if name not in PRIOR_NAMES:
        raise JaxinvError(f"unknown prior {name!r}; use one of {', '.join(PRIOR_NAMES)}")
    return str(name)
