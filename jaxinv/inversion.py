"""The public inversion API: `invert` one picture (or a code), `invert_batch` many.

Both run the same compiled chunk (`jaxinv.optimize.run_chunk`) back to back, k steps at a
time; between chunks they collect snapshots and, if asked, move a progress bar.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv import optimize, parallel
from jaxinv.errors import JaxinvError
from jaxinv.images import as_picture
from jaxinv.objective import IJCVObjective, PaperObjective
from jaxinv.representation import Representation
from jaxinv.schedules import Schedule, resolve_schedule

__all__ = ["InversionResult", "invert", "invert_batch", "run_inversion", "make_objective"]


@dataclasses.dataclass(frozen=True)
class InversionResult:
    """Reconstructions of one or more codes; leading axes (N, S) for `invert_batch`, (S,) for `invert`.

    Attributes:
      images: reconstructions as pictures in [0, 255] (clipped), (..., H, W, C').
      inputs: reconstructions in the representation's input space, (..., H, W, C); the
        final iterate.
      errors: ‖M ⊙ (Φ(x*) − Φ0)‖² / ‖M ⊙ Φ0‖² per reconstruction, (...).
      codes: Φ(x*) per reconstruction.
      targets: Φ0 per picture ((N, ...) or (...)).
      energy: per iteration [data, TV, α, total] (..., T, 4), in the objective's units; for
        the coupled mode the joint energy, repeated for each copy. An energy that overflowed
        (a diverged run) is recorded as the largest float32, never as inf or NaN.
      snapshots: input-space iterates after iterations ``snapshot_iterations``, (..., K, H, W, C);
        with the default chunk of 25 these include the paper's saved iteration 376 (CNN) or 776.
      snapshot_iterations: 1-based iteration numbers of the snapshots, (K,).
      diverged: True where some steps overflowed and were refused even after the retries
        (the result is then the last finite iterate, or the start where even that had no
        finite error); lower the learning rate for those.
      learning_rate_scale: the factor the schedule's rates were run at (1, or
        ``retry_factor``^k after k retries of a diverged inversion).
      seconds: wall-clock time of the optimisation, compilation included.
    """

    images: np.ndarray
    inputs: np.ndarray
    errors: np.ndarray
    codes: np.ndarray
    targets: np.ndarray
    energy: np.ndarray
    snapshots: np.ndarray | None
    snapshot_iterations: np.ndarray
    diverged: np.ndarray
    learning_rate_scale: np.ndarray
    seconds: float


def _method_of(method: str | None, objective: PaperObjective | IJCVObjective | None) -> str:
    """``"paper"`` or ``"ijcv"``: the given method, else the one the objective implies.

    A full ``objective`` decides the method (and so the default schedule); a ``method`` that
    contradicts it is refused rather than silently running one with the other's rates.
    """
    if method not in (None, "paper", "ijcv"):
        raise JaxinvError(f"unknown method {method!r}; use 'paper' (CVPR 2015) or 'ijcv' (IJCV 2016)")
    if objective is None:
        return method or "paper"
    implied = "ijcv" if isinstance(objective, IJCVObjective) else "paper"
    if method not in (None, implied):
        raise JaxinvError(f"method={method!r} with a {type(objective).__name__}; drop method (the objective"
                          f" decides) or pass method={implied!r}")
    return implied


def make_objective(rep: Representation, *, method: str | None = None, lambda_tv: float | None = None,
                   lambda_alpha: float | None = None, objective: PaperObjective | IJCVObjective | None = None
                   ) -> PaperObjective | IJCVObjective:
    """The objective for ``rep``: its recommended λ unless given (paper units, METHOD.md §1.2)."""
    method = _method_of(method, objective)
    if objective is not None:
        return objective
    if method == "paper":
        return PaperObjective(
            lambda_tv=rep.lambda_tv if lambda_tv is None else float(lambda_tv),
            lambda_alpha=rep.lambda_alpha if lambda_alpha is None else float(lambda_alpha),
        )
    return IJCVObjective()


def _targets_from_pictures(rep: Representation, pictures: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    inputs = []
    for p in pictures:
        x = np.asarray(rep.preprocess(as_picture(p)), np.float32)
        rep.check_input(x.shape)
        inputs.append(x)
    shapes = {x.shape for x in inputs}
    if len(shapes) != 1:
        raise JaxinvError(
            f"{rep.name}: pictures give inputs of different shapes {sorted(shapes)};"
            " resize them to one size or invert them separately"
        )
    xs = np.stack(inputs)
    codes = np.asarray(jax.jit(jax.vmap(rep.features, in_axes=(None, 0)))(rep.params, jnp.asarray(xs)))
    return xs, codes


def _check_code(rep: Representation, code: np.ndarray, image_shape: tuple[int, int, int]) -> np.ndarray:
    rep.check_input(tuple(image_shape))
    expected = jax.eval_shape(rep.features, rep.params, jax.ShapeDtypeStruct(tuple(image_shape), jnp.float32))
    code = np.asarray(code, np.float32)
    if code.shape[1:] != expected.shape:
        raise JaxinvError(
            f"{rep.name}: target code of shape {code.shape[1:]} does not fit the code of a {tuple(image_shape)}"
            f" input, {expected.shape}; compute it with the same representation and image size"
        )
    if not np.all(np.isfinite(code)):
        raise JaxinvError(f"{rep.name}: the target code has NaN or infinite values; pass a finite code")
    return code


def _check_normalisers(rep: Representation, targets: np.ndarray, mask: np.ndarray | None, *,
                       from_pictures: bool) -> None:
    """Refuse targets whose normaliser ‖M ⊙ Φ0‖² is 0 (or not a float32 number): nothing to invert.

    A flat picture (black, grey, saturated) has no gradients, so its HOG and DSIFT codes are
    all zeros; the normalised error would be 0/0.
    """
    masked = targets if mask is None else targets * np.asarray(mask, np.float32)
    norms = np.sum(np.square(masked.reshape(len(targets), -1), dtype=np.float32), axis=1, dtype=np.float32)
    bad = np.flatnonzero(~(np.isfinite(norms) & (norms > 0)))
    if bad.size == 0:
        return
    which = f"picture {bad[0]}" if len(targets) > 1 else "the picture"
    if not from_pictures:
        raise JaxinvError(f"{rep.name}: a target code is all zeros{' under the mask' if mask is not None else ''},"
                          " so its normaliser ‖Φ0‖² is 0; pass a non-zero code")
    if mask is not None:
        raise JaxinvError(f"{rep.name}: the mask selects only zeros of the code of {which}, so ‖M ⊙ Φ0‖² is 0;"
                          " choose a mask over non-zero code entries")
    raise JaxinvError(f"{rep.name}: the code of {which} is all zeros (a flat picture has nothing for {rep.name}"
                      " to describe), so ‖Φ0‖² is 0 and there is nothing to invert; pass a picture with some texture")


def _check_key(key: Any) -> None:
    """Refuse anything but a `jax.random` key, naming the fix (an int seed is the usual slip)."""
    if isinstance(key, jax.Array):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.ndim == 0:
            return
        if key.dtype == jnp.uint32 and key.shape == (2,):  # a raw jax.random.PRNGKey
            return
    got = f"{type(key).__name__} {key!r}" if not isinstance(key, jax.Array) else f"an array of shape {key.shape}"
    raise JaxinvError(f"key must be one jax.random key, e.g. key=jax.random.key(0); got {got}")


def invert_batch(
    rep: Representation,
    pictures: Sequence[np.ndarray] | np.ndarray | None = None,
    *,
    key: jax.Array,
    codes: np.ndarray | None = None,
    image_shape: tuple[int, int, int] | None = None,
    **options: Any,
) -> InversionResult:
    """Invert the codes of N pictures of one size (or N given codes), S seeds each, at once.

    Args:
      rep: the representation.
      pictures: N pictures (H, W, C) in [0, 255]; their codes are the targets.
      key: a `jax.random` key. Picture i uses ``fold_in(key, i)``, split into its S seeds,
        so a picture's result does not depend on the rest of the batch.
      codes: instead of pictures, N target codes (N, ...) with ``image_shape`` (H, W, C) of
        the input space (an artificial code, say).
      **options: as `run_inversion`.
    """
    if (pictures is None) == (codes is None):
        raise JaxinvError("pass either pictures or codes (with image_shape), not both or neither")
    if pictures is not None:
        if isinstance(pictures, np.ndarray) and pictures.ndim in (2, 3):
            raise JaxinvError("invert_batch takes a sequence of pictures; use invert() for one picture")
        pictures = list(pictures)
        if not pictures:
            raise JaxinvError("no pictures given; pass at least one")
    _check_key(key)
    count = len(pictures) if pictures is not None else len(codes)
    image_keys = [jax.random.fold_in(key, i) for i in range(count)]
    return run_inversion(rep, pictures, codes=codes, image_shape=image_shape, image_keys=image_keys, **options)


def _check_whole(name: str, value: Any, *, unit: str = "", alternatives: str = "") -> None:
    """Refuse anything but a whole number >= 1, naming the argument and what it may be."""
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise JaxinvError(f"{name} = {value!r}; use a whole number{unit} >= 1{alternatives}")


def run_inversion(
    rep: Representation,
    pictures: Sequence[np.ndarray] | None,
    *,
    image_keys: Sequence[jax.Array],
    codes: np.ndarray | None = None,
    image_shape: tuple[int, int, int] | None = None,
    seeds: int = 1,
    coupled: bool = False,
    schedule: str | Schedule | Sequence[tuple[float, int]] | None = None,
    method: str | None = None,
    lambda_tv: float | None = None,
    lambda_alpha: float | None = None,
    objective: PaperObjective | IJCVObjective | None = None,
    mask: np.ndarray | None = None,
    chunk: int = 25,
    keep_snapshots: bool = True,
    progress: bool | Callable[[int], Any] = False,
    sharding: Any = None,
    retries: int = 2,
    retry_factor: float = 0.3,
    max_batch: int | None = None,
    memory_budget: int | str | None = None,
    oversize: str = "split",
    vmap_width: int | str | None = "auto",
) -> InversionResult:
    """The inversion program shared by `invert` and `invert_batch`.

    Args:
      rep: the representation.
      pictures: N pictures, or None with ``codes``.
      image_keys: one `jax.random` key per picture or code, split into its S seeds.
      seeds: S reconstructions per code.
      coupled: optimise the S seeds jointly as the paper's ``numRepeats`` (METHOD.md §2.2):
        one normaliser S‖Φ0‖², one initial norm σ over the block. Default: independent seeds.
      schedule: a preset name (``cnn``, ``shallow``, …), a `Schedule`, or [(lr, iterations)].
        Default: the representation's (``ijcv`` for ``method="ijcv"``).
      method: ``"paper"`` (CVPR 2015) or ``"ijcv"`` (IJCV 2016: bounded α-norm, projection,
        jitter, AdaGrad-momentum). Default: the one ``objective`` implies, else ``"paper"``.
      lambda_tv, lambda_alpha: paper-unit weights λ_V, λ_α; default the representation's.
      objective: a full `PaperObjective` or `IJCVObjective` (overrides the λ arguments).
      mask: a 0/1 array broadcastable to the code (`jaxinv.masks`).
      chunk: steps per compiled chunk and the snapshot period.
      progress: True for a tqdm bar, or a callable given the number of steps done.
      sharding: a `jax.sharding.Sharding` for the problem axis (see `jaxinv.parallel`).
      max_batch: run at most this many problems (pictures × seeds) at once, one group after
        the other (same compiled program, same results).
      memory_budget: bytes the compiled program may use, or ``"auto"`` for the device's
        free memory; the program's own need per problem (XLA's memory analysis) decides
        how many problems fit. With ``oversize="split"`` a batch that does not fit runs in
        groups that do; with ``oversize="error"`` it is refused with a `JaxinvError`.
      retries: how often an inversion that overflowed is run again from the same start with
        the schedule's rates × ``retry_factor`` (the paper's rates, tuned for CaffeNet,
        overflow on some layers of other networks); 0 keeps the paper's rates always.
      vmap_width: problems vectorised together inside the compiled chunk; more run as a
        sequential map over groups of this many (same results). ``"auto"``:
        `jaxinv.optimize.default_vmap_width` (on CPU, by the weights the representation reads:
        1 for HOG/DSIFT, 4 for convolutional layers, all for large fc weights; the whole batch
        on accelerators and when sharded); None: the whole batch in one vmap.
    """
    _check_whole("seeds", seeds)
    _check_whole("chunk", chunk, unit=" of steps")
    if pictures is not None:
        inputs, targets = _targets_from_pictures(rep, list(pictures))
        image_shape = inputs.shape[1:]
    else:
        if image_shape is None:
            image_shape = rep.input_shape
        if image_shape is None:
            raise JaxinvError(f"{rep.name}: pass image_shape=(H, W, C) with codes; this representation takes any size")
        targets = _check_code(rep, np.asarray(codes), tuple(image_shape))
    if not np.all(np.isfinite(targets)):
        raise JaxinvError(f"{rep.name}: the picture's code has NaN or infinite values")
    method = _method_of(method, objective)
    schedule = resolve_schedule(schedule if schedule is not None else ("ijcv" if method == "ijcv" else rep.schedule))
    obj = make_objective(rep, method=method, lambda_tv=lambda_tv, lambda_alpha=lambda_alpha, objective=objective)
    jitter = obj.jitter_for(rep.stride) if isinstance(obj, IJCVObjective) else 1
    n = targets.shape[0]
    copies = seeds if coupled else 1
    per_image = 1 if coupled else seeds
    if vmap_width not in ("auto", None):
        _check_whole("vmap_width", vmap_width, alternatives=", None or 'auto'")
    if sharding is not None:
        vmap_width = None  # the devices split the batch; a sequential map would gather it
    elif vmap_width == "auto":
        vmap_width = optimize.default_vmap_width(rep.features, rep.params, tuple(int(s) for s in image_shape))
    problem = optimize.Problem(rep.features, obj, schedule, tuple(int(s) for s in image_shape),
                               copies=copies, jitter=jitter, chunk=int(chunk), vmap_width=vmap_width)
    mask_arr = None
    if mask is not None:
        mask_arr = np.asarray(mask, np.float32)
        try:
            np.broadcast_shapes(mask_arr.shape, targets.shape[1:])
        except ValueError:
            raise JaxinvError(f"mask of shape {mask_arr.shape} does not fit codes of shape {targets.shape[1:]};"
                              " build it with jaxinv.masks for this code") from None
        if not np.any(mask_arr * np.ones(targets.shape[1:], np.float32)):
            raise JaxinvError("the mask selects nothing; select at least one code entry")
    _check_normalisers(rep, targets, mask_arr, from_pictures=pictures is not None)
    if mask_arr is not None:
        mask_arr = jnp.asarray(mask_arr)

    if len(image_keys) != n:
        raise JaxinvError(f"{len(image_keys)} keys for {n} targets; pass one key per target")
    if not isinstance(retries, (int, np.integer)) or retries < 0 or not 0 < retry_factor < 1:
        raise JaxinvError("retries must be a whole number >= 0 and retry_factor in (0, 1)")
    keys = jnp.stack([jax.random.split(k, per_image) for k in image_keys])
    keys = keys.reshape(n * per_image, *keys.shape[2:])
    batch_targets = np.repeat(targets, per_image, axis=0)

    started = time.perf_counter()
    group = _group_size(problem, rep, batch_targets, mask_arr, max_batch=max_batch,
                        memory_budget=memory_budget, oversize=oversize)
    run = _optimise_with_retries(problem, rep, batch_targets, keys, mask_arr, group=group, sharding=sharding,
                                 keep_snapshots=keep_snapshots, progress=progress, retries=retries,
                                 retry_factor=retry_factor)
    variables, rejected, energy, snaps, lr_scale, (images_in, final_codes, errors) = run
    seconds = time.perf_counter() - started
    if np.any(rejected > 0):
        warnings.warn(f"{rep.name}: some inversions diverged even at {lr_scale.min():g}× the learning rates and"
                      " kept their last finite iterate (InversionResult.diverged); use a smaller learning rate",
                      stacklevel=3)

    s = seeds
    inputs = np.asarray(images_in).reshape(n, s, *image_shape)
    energy = np.repeat(energy[:, None], copies, axis=1).reshape(n, s, schedule.total, 4)
    snap_its = np.arange(0, schedule.total, chunk) + 1
    if snaps is not None:
        snaps = np.moveaxis(snaps, 2, 1).reshape(n * s, len(snap_its), *problem.variable_shape[1:])
        snaps = np.asarray(problem.images(jnp.asarray(snaps)))
        snaps = snaps.reshape(n, s, len(snap_its), *image_shape)
    pictures_out = np.stack([np.clip(rep.deprocess(x), 0, 255) for x in inputs.reshape(n * s, *image_shape)])
    return InversionResult(
        images=pictures_out.reshape(n, s, *pictures_out.shape[1:]).astype(np.float32),
        inputs=inputs,
        errors=np.asarray(errors).reshape(n, s),
        codes=np.asarray(final_codes).reshape(n, s, *targets.shape[1:]),
        targets=targets,
        energy=energy,
        snapshots=snaps,
        snapshot_iterations=np.asarray(snap_its),
        diverged=np.repeat(rejected > 0, copies).reshape(n, s),
        learning_rate_scale=np.repeat(lr_scale, copies).reshape(n, s),
        seconds=seconds,
    )


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


def _optimise_with_retries(problem: optimize.Problem, rep: Representation, targets: np.ndarray, keys: jax.Array,
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
    energy = np.where(np.isfinite(energy), energy, np.finfo(np.float32).max).astype(np.float32)
    return variables, rejected, energy, snaps, lr_scale, evaluated


def _available_bytes() -> int:
    """Free memory of the default device: the accelerator's limit, else the host's free RAM."""
    stats = jax.devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def _size(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def _group_size(problem: optimize.Problem, rep: Representation, targets: np.ndarray, mask, *,
                max_batch: int | None, memory_budget: int | str | None, oversize: str) -> int | None:
    """How many problems to run at once (None: all), from ``max_batch`` and the memory budget."""
    if oversize not in ("split", "error"):
        raise JaxinvError(f"oversize = {oversize!r}; use 'split' or 'error'")
    if max_batch is not None:
        _check_whole("max_batch", max_batch, alternatives=" or None")
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


def invert(
    rep: Representation,
    picture: np.ndarray | None = None,
    *,
    key: jax.Array,
    code: np.ndarray | None = None,
    image_shape: tuple[int, int, int] | None = None,
    **options: Any,
) -> InversionResult:
    """Invert the code of one picture (or a given ``code``); see `invert_batch` for options.

    The result's arrays have a leading seed axis (S, ...); the seeds' keys are
    ``jax.random.split(key, S)``, so item i of ``invert_batch(rep, pictures, key=k)`` equals
    ``invert(rep, pictures[i], key=jax.random.fold_in(k, i))``.
    """
    if (picture is None) == (code is None):
        raise JaxinvError("pass either a picture or code=..., not both or neither")
    _check_key(key)
    if picture is not None:
        picture = as_picture(picture)
    batch = run_inversion(
        rep, None if picture is None else [picture], image_keys=[key],
        codes=None if code is None else np.asarray(code)[None], image_shape=image_shape, **options,
    )
    return InversionResult(
        images=batch.images[0], inputs=batch.inputs[0], errors=batch.errors[0], codes=batch.codes[0],
        targets=batch.targets[0], energy=batch.energy[0],
        snapshots=None if batch.snapshots is None else batch.snapshots[0],
        snapshot_iterations=batch.snapshot_iterations, diverged=batch.diverged[0],
        learning_rate_scale=batch.learning_rate_scale[0], seconds=batch.seconds,
    )
