"""The host loop over the pure core: chunks, snapshots, groups under a memory budget, retries, progress.

It runs the compiled chunk (`jaxinv.optimize.run_chunk`, the core solver's `advance`
vmapped) back to back, k steps at a time; between chunks it collects energies and
snapshots and moves a progress bar; it splits a batch too large for memory into groups that
reuse one program; and it runs again, at lower rates, the inversions that overflowed.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv import optimize, parallel
from jaxinv.errors import JaxinvError
from jaxinv.representation import Representation

__all__ = ["optimise_with_retries", "group_size", "check_whole", "finite_energy"]


def check_whole(name: str, value: Any, *, unit: str = "", alternatives: str = "") -> None:
    """Refuse anything but a whole number >= 1, naming the argument and what it may be."""
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise JaxinvError(f"{name} = {value!r}; use a whole number{unit} >= 1{alternatives}")


def finite_energy(energy: Any) -> np.ndarray:
    """The energy record as float32 with an overflowed value (NaN, ±inf) at ±the largest float32
    (NaN counts as +), so that no NaN or inf reaches a result or a file."""
    largest = float(np.finfo(np.float32).max)
    energy = np.nan_to_num(np.asarray(energy), nan=largest, posinf=largest, neginf=-largest)
    return np.clip(energy, -largest, largest).astype(np.float32)


def _evaluate(problem: optimize.Problem, rep: Representation, targets: np.ndarray, mask, variables: np.ndarray,
              group: int | None) -> list[np.ndarray]:
    """`optimize.evaluate` in groups of ``group``: [input-space images, codes, errors (B, R)]."""
    step = group or len(targets)
    parts = [[np.asarray(a) for a in optimize.evaluate(problem, rep.params, jnp.asarray(targets[i:i + step]),
                                                       mask, jnp.asarray(variables[i:i + step]))]
             for i in range(0, len(targets), step)]
    return [np.concatenate([p[k] for p in parts]) for k in range(3)]


def _overflowed(rejected: np.ndarray, energy: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """Problems with refused steps, or whose energy or final error left the float32 numbers."""
    return (rejected > 0) | ~np.isfinite(energy).all(axis=(1, 2)) | ~np.isfinite(errors).all(axis=1)


def optimise_with_retries(problem: optimize.Problem, rep: Representation, targets: np.ndarray, keys: jax.Array,
                           mask, *, group: int | None, sharding: Any, keep_snapshots: bool, progress,
                           retries: int, retry_factor: float):
    """`_optimise_in_groups`, then again from the same starts at lower rates where it overflowed.

    The paper's rates were tuned for CaffeNet; where they overflow, the same start is run
    again with every rate × ``retry_factor`` (up to ``retries`` times), and the result
    records the scale used. An inversion whose error is still not a finite number falls back
    to its start. Energies that overflowed are recorded as the largest float32.
    Returns (variables, rejected, energy, snapshots, learning-rate scales, evaluation).
    """
    variables, rejected, energy, snaps = _optimise_in_groups(problem, rep, targets, keys, mask, group=group,
                                                             sharding=sharding, keep_snapshots=keep_snapshots,
                                                             progress=progress)
    evaluated = _evaluate(problem, rep, targets, mask, variables, group)
    lr_scale = np.ones(len(targets), np.float32)
    scale = 1.0
    for _ in range(retries):
        bad = np.flatnonzero(_overflowed(rejected, energy, evaluated[2]))
        if bad.size == 0:
            break
        scale *= retry_factor
        if progress:
            print(f"jaxinv: {bad.size} of {len(targets)} {rep.name} inversions overflowed; running them"
                  f" again from their starts at {scale:g}x the learning rates", file=sys.stderr, flush=True)
        again = dataclasses.replace(problem, schedule=problem.schedule.scaled(scale))
        v2, r2, e2, s2 = _optimise_in_groups(again, rep, targets[bad], keys[bad], mask, group=group,
                                             sharding=None, keep_snapshots=keep_snapshots,
                                             progress=progress is True, label=f"retry at {scale:g}x")
        variables[bad], rejected[bad], energy[bad], lr_scale[bad] = v2, r2, e2, scale
        if snaps is not None:
            snaps[bad] = s2
        for full, part in zip(evaluated, _evaluate(problem, rep, targets[bad], mask, v2, group)):
            full[bad] = part
    lost = np.flatnonzero(~np.isfinite(evaluated[2]).all(axis=1))
    if lost.size:
        starts = jax.vmap(optimize.init_carry, in_axes=(None, 0))(problem, keys[lost]).variable
        variables[lost], rejected[lost] = np.asarray(starts), np.maximum(rejected[lost], 1)
        for full, part in zip(evaluated, _evaluate(problem, rep, targets[lost], mask, variables[lost], group)):
            full[lost] = part
    rejected = np.where(_overflowed(rejected, energy, evaluated[2]), np.maximum(rejected, 1), rejected)
    return variables, rejected, finite_energy(energy), snaps, lr_scale, evaluated


def _available_bytes() -> int:
    """Free memory of the default device: the accelerator's limit, else the host's free RAM."""
    stats = jax.devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def _size(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def group_size(problem: optimize.Problem, rep: Representation, targets: np.ndarray, mask, *,
                max_batch: int | None, memory_budget: int | str | None, oversize: str) -> int | None:
    """How many problems to run at once (None: all), from ``max_batch`` and the memory budget."""
    if oversize not in ("split", "error"):
        raise JaxinvError(f"oversize = {oversize!r}; use 'split' or 'error'")
    if max_batch is not None:
        check_whole("max_batch", max_batch, alternatives=" or None")
    group = max_batch
    if memory_budget is None:
        return group
    budget = _available_bytes() if memory_budget == "auto" else int(memory_budget)
    per_problem = optimize.bytes_per_problem(problem, rep.params, targets.shape[1:], mask)
    fits = max(0, budget // max(per_problem, 1))
    count = len(targets) if group is None else min(group, len(targets))
    if fits >= count:
        return group
    need = per_problem * count
    if oversize == "error" or fits < 1:
        raise JaxinvError(
            f"{count} inversions at once need about {_size(need)}, more than the budget of {_size(budget)};"
            f" pass max_batch={max(int(fits), 1)} (or oversize='split') or fewer pictures"
        )
    return int(fits)


def _optimise_in_groups(problem: optimize.Problem, rep: Representation, targets: np.ndarray, keys: jax.Array,
                        mask: jax.Array | None, *, group: int | None, sharding: Any, keep_snapshots: bool,
                        progress, label: str = "inverting") -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                     np.ndarray | None]:
    """`_optimise` over groups of at most ``group`` problems, one after the other.

    The last group is padded with copies of its last problem, so every group runs the same
    compiled program; the padding's results are dropped.
    """
    count = len(targets)
    if group is None or group >= count:
        return _optimise(problem, rep, targets, keys, mask, sharding=sharding, keep_snapshots=keep_snapshots,
                         progress=progress, label=label)
    parts = []
    for start in range(0, count, group):
        index = np.minimum(np.arange(start, start + group), count - 1)
        out = _optimise(problem, rep, targets[index], keys[index], mask, sharding=sharding,
                        keep_snapshots=keep_snapshots, progress=progress, label=label)
        keep = min(group, count - start)
        parts.append([None if a is None else a[:keep] for a in out])
    return tuple(None if parts[0][i] is None else np.concatenate([p[i] for p in parts]) for i in range(4))


def _optimise(problem: optimize.Problem, rep: Representation, targets: np.ndarray, keys: jax.Array,
              mask: jax.Array | None, *, sharding: Any, keep_snapshots: bool, progress, label: str = "inverting"
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Run every chunk of ``problem`` for a batch; (variables, rejected, energy (B, T, 4), snapshots)."""
    batch_targets = jnp.asarray(targets)
    carries = jax.vmap(optimize.init_carry, in_axes=(None, 0))(problem, keys)
    if sharding is not None:
        batch_targets, carries = parallel.shard_batch((batch_targets, carries), sharding)
    total, chunk = problem.schedule.total, problem.chunk
    bar = None
    if progress is True:
        from tqdm.auto import tqdm
        bar = tqdm(total=total, desc=f"{label} {rep.name}", unit="it", leave=False)
    energies, snapshots = [], []
    for t0 in range(0, total, chunk):
        carries, energy = optimize.run_chunk(problem, rep.params, batch_targets, mask, carries,
                                             jnp.asarray(t0, jnp.int32))
        energies.append(parallel.to_host(energy))
        if keep_snapshots:
            snapshots.append(parallel.to_host(carries.snapshot))
        done = min(t0 + chunk, total)
        if bar is not None:
            bar.update(done - t0)
        elif callable(progress):
            progress(done)
    if bar is not None:
        bar.close()
    variables = np.array(parallel.to_host(carries.variable))
    rejected = np.array(parallel.to_host(carries.rejected))
    energy = np.concatenate(energies, axis=1)[:, :total]
    snaps = np.stack(snapshots, axis=1) if keep_snapshots else None  # (B, K, R, H', W', C)
    return variables, rejected, energy, snaps
