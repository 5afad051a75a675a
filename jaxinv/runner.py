"""The one host loop over the pure core: any `Solver`, any batch of problems.

`run` drives the compiled chunk (`jaxinv.program.advance_chunk`) back to back, k steps at a
time (one step a call for a `Solver.stepwise` solver, the Deep Image Prior's); between calls
it collects energies and snapshots and moves a progress bar. It splits a batch too large for
memory into groups that reuse one program, spreads the batch over devices (`sharding`),
and runs again at lower rates the problems that overflowed. Every host function that
optimises, `jaxinv.invert`, `invert_batch`, `maximize` and `caricature`, calls it, whatever
the prior (paper, ijcv, lucid, maco, dip) or the objective.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv import parallel, program
from jaxinv.core.solver import Solver, SolverState
from jaxinv.errors import JaxinvError

__all__ = ["RunOptions", "Outcome", "run", "group_size", "check_whole", "finite_energy"]

#: Progress: None (the default: a tqdm bar on stderr when stderr is a terminal, nothing otherwise),
#: True (a bar whatever stderr is), False (silent: no bar, no notice), or a callable given the steps done.
Progress = bool | Callable[[int], Any] | None


def shows_bar(progress: Progress) -> bool:
    """Whether ``progress`` draws a tqdm bar: True, or None (the default) while stderr is a terminal
    or in a Jupyter kernel (whose stderr is no terminal, but whose cells show tqdm's widget)."""
    if progress is None:
        if "ipykernel" in sys.modules:
            return True
        isatty = getattr(sys.stderr, "isatty", None)
        try:
            return bool(isatty()) if isatty is not None else False
        except (ValueError, OSError):  # a closed or detached stderr
            return False
    return progress is True


def check_whole(name: str, value: Any, *, unit: str = "", alternatives: str = "") -> None:
    """Refuse anything but a whole number >= 1, naming the argument and what it may be."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise JaxinvError(f"{name} = {value!r}; use a whole number{unit} >= 1{alternatives}")


def finite_energy(energy: Any) -> np.ndarray:
    """The energy record as float32 with an overflowed value (NaN, ±inf) at ±the largest float32
    (NaN counts as +), so that no NaN or inf reaches a result or a file."""
    largest = float(np.finfo(np.float32).max)
    energy = np.nan_to_num(np.asarray(energy), nan=largest, posinf=largest, neginf=-largest)
    return np.clip(energy, -largest, largest).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How the host runs a batch; none of these changes what a problem computes.

    Attributes:
      chunk: steps per compiled call, and the snapshot period (iterations 1, k+1, 2k+1, …;
        with k = 25 these include the paper's saved iteration 376 or 776).
      keep_snapshots: keep the iterates after the first step of each chunk.
      progress: None (default) for a tqdm bar on stderr when stderr is a terminal and nothing
        otherwise, True for a bar always, False for silence (no bar, no retry notice), or a
        callable given the number of steps done.
      sharding: a `jax.sharding.Sharding` of the problem axis (`jaxinv.parallel`).
      retries: how often a problem that overflowed is run again from its start with every
        rate × ``retry_factor`` (needs ``rescale`` in `run`); 0 keeps the rates always.
      max_batch: run at most this many problems at once, one group after the other.
      memory_budget: bytes the compiled program may use, or ``"auto"`` (the device's free
        memory); with ``oversize="split"`` a batch that does not fit runs in groups that do,
        with ``"error"`` it is refused.
      vmap_width: problems vectorised together inside the program (``"auto"``:
        `jaxinv.program.default_vmap_width`; None: the whole batch in one vmap).
      label: what the progress bar says; noun: what the problems are, in messages.
    """

    chunk: int = 25
    keep_snapshots: bool = True
    progress: Progress = None
    sharding: Any = None
    retries: int = 2
    retry_factor: float = 0.3
    max_batch: int | None = None
    memory_budget: int | str | None = None
    oversize: str = "split"
    vmap_width: int | str | None = "auto"
    label: str = "inverting"
    noun: str = "problems"

    def __post_init__(self) -> None:
        check_whole("chunk", self.chunk, unit=" of steps")
        if not isinstance(self.retries, (int, np.integer)) or self.retries < 0 or not 0 < self.retry_factor < 1:
            raise JaxinvError("retries must be a whole number >= 0 and retry_factor in (0, 1)")
        if self.oversize not in ("split", "error"):
            raise JaxinvError(f"oversize = {self.oversize!r}; use 'split' or 'error'")
        if self.max_batch is not None:
            check_whole("max_batch", self.max_batch, alternatives=" or None")
        if self.vmap_width not in ("auto", None):
            check_whole("vmap_width", self.vmap_width, alternatives=", None or 'auto'")


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What `run` gives back for B problems of R images each (host arrays, all finite).

    Attributes:
      variables: the final variables, (B, ...).
      images: the final images in the representation's input space, (B, R, H, W, C).
      codes: Φ(x) of the final images, (B, R, ...).
      errors: ‖M ⊙ (Φ(x_r) − t)‖² / ‖M ⊙ t‖² per image against the problem's target t, (B, R).
      energy: per step [v_1, …, v_K, total]: each term's value, unweighted, and the objective's
        total Σ_k w_k v_k, (B, T, K + 1) (`Solver.step`); a value that overflowed is the
        largest float32.
      snapshots: the images after ``snapshot_iterations``, (B, S, R, H, W, C), or None.
      snapshot_iterations: 1-based iteration numbers, (S,).
      rejected: steps refused as not finite (after the retries), (B,).
      learning_rate_scale: the factor the rates ran at, (B,).
      seconds: wall-clock time, compilation included.
    """

    variables: Any
    images: np.ndarray
    codes: np.ndarray
    errors: np.ndarray
    energy: np.ndarray
    snapshots: np.ndarray | None
    snapshot_iterations: np.ndarray
    rejected: np.ndarray
    learning_rate_scale: np.ndarray
    seconds: float


def _program(solver: Solver, options: RunOptions) -> tuple[program.Program, list[Any]]:
    """`program.program_for` with the options' chunk and vmap width (one vmap when sharded)."""
    return program.program_for(solver, chunk=options.chunk, vmap_width=options.vmap_width,
                               sharded=options.sharding is not None)


def run(solver: Solver, targets: Any, *, keys: jax.Array | None = None, starts: SolverState | None = None,
        mask: Any = None, rescale: Callable[[float], Solver] | None = None,
        options: RunOptions = RunOptions()) -> Outcome:
    """Run ``solver``'s whole schedule on B problems: targets (B, ...), one start each.

    Args:
      solver: the pure solver of one problem (`jaxinv.core.Solver`).
      targets: the B targets (codes for an inversion, directions for a maximisation).
      keys: B `jax.random` keys, each drawing a problem's start (`Solver.init`).
      starts: instead of ``keys``, the B start states (a caricature's picture, say).
      mask: a 0/1 array broadcastable to one code, shared by the batch, or None.
      rescale: ``rescale(f)``, the same solver with every rate × f: overflowed problems
        are run again with it (`RunOptions.retries`); None runs no retries.
      options: how to run (`RunOptions`).
    """
    started = time.perf_counter()
    targets = np.asarray(targets, np.float32)
    mask = None if mask is None else jnp.asarray(mask, jnp.float32)
    prog, arrays = _program(solver, options)
    if (keys is None) == (starts is None):
        raise JaxinvError("run needs either keys= (random starts) or starts= (given states), not both")
    if starts is None:
        assert keys is not None  # exactly one of the two: checked above
        starts = program.init_states(prog, arrays, keys)
    group = group_size(prog, arrays, targets, mask, options=options)
    out = _run_groups(prog, arrays, targets, starts, mask, group=group, options=options)
    out = _retry(solver, prog, out, targets, starts, mask, rescale=rescale, group=group, options=options)
    variables, rejected, energy, snaps, scale, (images, codes, errors) = out
    snapshot_its = np.arange(0, prog.steps, options.chunk) + 1 if snaps is not None else np.zeros(0, int)
    return Outcome(variables, images, codes, errors, finite_energy(energy), snaps, snapshot_its,
                   rejected, scale, time.perf_counter() - started)


def _take(tree: Any, index: np.ndarray) -> Any:
    return jax.tree.map(lambda a: jnp.asarray(a)[index], tree)


def _put(tree: Any, index: np.ndarray, part: Any) -> Any:
    """``tree`` (host arrays) with rows ``index`` replaced by ``part``."""
    def put(whole: Any, rows: Any) -> np.ndarray:
        whole = np.array(whole)
        whole[index] = np.asarray(rows)
        return whole

    return jax.tree.map(put, tree, part)


def _overflowed(rejected: np.ndarray, energy: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """Problems with refused steps, or whose energy or final error left the float32 numbers."""
    return (rejected > 0) | ~np.isfinite(energy).all(axis=(1, 2)) | ~np.isfinite(errors).all(axis=1)


def _retry(solver: Solver, prog: program.Program, out: tuple, targets: np.ndarray, starts: SolverState, mask: Any,
           *, rescale: Callable[[float], Solver] | None, group: int | None, options: RunOptions) -> tuple:
    """Overflowed problems again from their starts at lower rates; a problem whose error is still
    not finite falls back to its start. Returns `_run_groups`' tuple plus the rates' scales."""
    variables, rejected, energy, snaps, evaluated = out
    scale_of = np.ones(len(targets), np.float32)
    scale = 1.0
    for _ in range(options.retries if rescale is not None else 0):
        bad = np.flatnonzero(_overflowed(rejected, energy, evaluated[2]))
        if bad.size == 0:
            break
        scale *= options.retry_factor
        if options.progress is not False:
            print(f"jaxinv: {bad.size} of {len(targets)} {options.noun} overflowed; running them again from their"
                  f" starts at {scale:g}x the learning rates", file=sys.stderr, flush=True)
        assert rescale is not None  # no retries without it
        again = rescale(scale)
        prog_again, arrays_again = _program(again, dataclasses.replace(options, vmap_width=prog.vmap_width))
        again_progress = False if callable(options.progress) else options.progress  # a callable counts one run
        quiet = dataclasses.replace(options, sharding=None, progress=again_progress, label=f"retry at {scale:g}x")
        v2, r2, e2, s2, ev2 = _run_groups(prog_again, arrays_again, targets[bad], _take(starts, bad), mask,
                                          group=group, options=quiet)
        variables = _put(variables, bad, v2)
        rejected[bad], energy[bad], scale_of[bad] = r2, e2, scale
        if snaps is not None:
            snaps[bad] = s2
        for full, part in zip(evaluated, ev2):
            full[bad] = part
    lost = np.flatnonzero(~np.isfinite(evaluated[2]).all(axis=1))
    if lost.size:
        arrays = program.split_solver(solver)[1]
        first = _take(starts, lost).variables
        variables = _put(variables, lost, first)
        rejected[lost] = np.maximum(rejected[lost], 1)
        for full, part in zip(evaluated, _evaluate(prog, arrays, targets[lost], mask, first, group)):
            full[lost] = part
    rejected = np.where(_overflowed(rejected, energy, evaluated[2]), np.maximum(rejected, 1), rejected)
    return variables, rejected, energy, snaps, scale_of, evaluated


def _evaluate(prog: program.Program, arrays: list[Any], targets: np.ndarray, mask: Any, variables: Any,
              group: int | None) -> list[np.ndarray]:
    """`program.evaluate` in groups of ``group``: [input-space images, codes, errors (B, R)]."""
    step = group or len(targets)
    parts = []
    for i in range(0, len(targets), step):
        part = _take(variables, np.arange(i, min(i + step, len(targets))))
        parts.append([np.asarray(a) for a in program.evaluate(prog, arrays, jnp.asarray(targets[i:i + step]),
                                                               mask, part)])
    return [np.concatenate([p[k] for p in parts]) for k in range(3)]


def _available_bytes() -> int:
    """Free memory of the default device: the accelerator's limit, else the host's free RAM."""
    stats = jax.devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def _size(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def group_size(prog: program.Program, arrays: list[Any], targets: np.ndarray, mask: Any, *,
               options: RunOptions) -> int | None:
    """How many problems to run at once (None: all), from ``max_batch`` and the memory budget."""
    group = options.max_batch
    if options.memory_budget is None:
        return group
    budget = _available_bytes() if options.memory_budget == "auto" else int(options.memory_budget)
    per_problem = program.bytes_per_problem(prog, arrays, targets.shape[1:], mask)
    fits = max(0, budget // max(per_problem, 1))
    count = len(targets) if group is None else min(group, len(targets))
    if fits >= count:
        return group
    if options.oversize == "error" or fits < 1:
        raise JaxinvError(
            f"{count} problems at once need about {_size(per_problem * count)}, more than the budget of"
            f" {_size(budget)}; pass max_batch={max(int(fits), 1)} (or oversize='split') or fewer pictures"
        )
    return int(fits)


def _run_groups(prog: program.Program, arrays: list[Any], targets: np.ndarray, starts: SolverState, mask: Any, *,
                group: int | None, options: RunOptions) -> tuple:
    """`_run_all` over groups of at most ``group`` problems, one after the other, then evaluated.

    The last group is padded with copies of its last problem, so every group runs the same
    compiled program; the padding's results are dropped.
    """
    count = len(targets)
    if group is None or group >= count:
        variables, rejected, energy, snaps = _run_all(prog, arrays, targets, starts, mask, options)
    else:
        parts = []
        for start in range(0, count, group):
            index = np.minimum(np.arange(start, start + group), count - 1)
            out = _run_all(prog, arrays, targets[index], _take(starts, index), mask, options)
            keep = min(group, count - start)
            parts.append([None if a is None else jax.tree.map(lambda x: x[:keep], a) for a in out])
        variables, rejected, energy, snaps = (_joined(parts, i) for i in range(4))
    return variables, rejected, energy, snaps, _evaluate(prog, arrays, targets, mask, variables, group)


def _joined(parts: list[list[Any]], i: int) -> Any:
    """Result ``i`` of every group, concatenated along the batch (None where the groups have none)."""
    return None if parts[0][i] is None else jax.tree.map(lambda *xs: np.concatenate(xs), *[p[i] for p in parts])


def _bar(options: RunOptions, total: int) -> tuple[Any, Callable[[int], None] | None]:
    """A tqdm bar on stderr (closed by the caller) or the caller's callable, as ``on_steps(done)``."""
    if shows_bar(options.progress):
        from tqdm.auto import tqdm
        bar = tqdm(total=total, desc=options.label, unit="it", leave=False, file=sys.stderr)
        return bar, lambda done: bar.update(done - bar.n)
    return None, options.progress if callable(options.progress) else None


def _run_all(prog: program.Program, arrays: list[Any], targets: np.ndarray, starts: SolverState, mask: Any,
             options: RunOptions) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray | None]:
    """Every step of one batch: (variables, rejected (B,), energy (B, T, K + 1), snapshot images or None)."""
    batch_targets, states = jnp.asarray(targets), starts
    if options.sharding is not None:
        batch_targets, states = parallel.shard_batch((batch_targets, states), options.sharding)
    total, period = prog.steps, options.chunk
    bar, on_steps = _bar(options, total)
    energies, snapshots = [], []
    for t0 in range(0, total, prog.chunk):
        states, energy = program.advance_chunk(prog, arrays, batch_targets, mask, states, jnp.asarray(t0, jnp.int32))
        energies.append(parallel.to_host(energy))
        if options.keep_snapshots and t0 % period == 0:
            snapshots.append(program.snapshot_images(prog, arrays, states.snapshot))
        if on_steps is not None:
            on_steps(min(t0 + prog.chunk, total))
    if bar is not None:
        bar.close()
    variables = jax.tree.map(lambda a: np.array(parallel.to_host(a)), states.variables)
    rejected = np.array(parallel.to_host(states.rejected))
    energy = np.concatenate(energies, axis=1)[:, :total]
    snaps = np.stack([parallel.to_host(s) for s in snapshots], axis=1) if snapshots else None
    return variables, rejected, energy, snaps
