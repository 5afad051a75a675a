"""The public inversion API: `invert` one picture (or a code), `invert_batch` many.

Both check what they are given (`jaxinv.targets`), name the compiled program
(`jaxinv.optimize.Problem`, a preset of the core) and hand it to the host loop
(`jaxinv.runner`), then shape its arrays into an `InversionResult`.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv import optimize
from jaxinv.errors import JaxinvError
from jaxinv.images import as_picture
from jaxinv.objective import IJCVObjective, PaperObjective
from jaxinv.representation import Representation
from jaxinv.runner import check_whole, group_size, optimise_with_retries
from jaxinv.schedules import Schedule, resolve_schedule
from jaxinv.targets import check_code, check_key, check_mask, check_normalisers, targets_from_pictures

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
    check_key(key)
    count = len(pictures) if pictures is not None else len(codes)
    image_keys = [jax.random.fold_in(key, i) for i in range(count)]
    return run_inversion(rep, pictures, codes=codes, image_shape=image_shape, image_keys=image_keys, **options)


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
    check_whole("seeds", seeds)
    check_whole("chunk", chunk, unit=" of steps")
    if not isinstance(retries, (int, np.integer)) or retries < 0 or not 0 < retry_factor < 1:
        raise JaxinvError("retries must be a whole number >= 0 and retry_factor in (0, 1)")
    targets, image_shape = _targets(rep, pictures, codes, image_shape)
    mask = check_mask(mask, targets.shape[1:])
    check_normalisers(rep, targets, mask, from_pictures=pictures is not None)
    mask = None if mask is None else jnp.asarray(mask)
    problem = _problem(rep, image_shape, seeds=seeds, coupled=coupled, schedule=schedule, method=method,
                       lambda_tv=lambda_tv, lambda_alpha=lambda_alpha, objective=objective, chunk=chunk,
                       sharding=sharding, vmap_width=vmap_width)
    if len(image_keys) != len(targets):
        raise JaxinvError(f"{len(image_keys)} keys for {len(targets)} targets; pass one key per target")
    per_image = 1 if coupled else seeds
    keys = jnp.stack([jax.random.split(k, per_image) for k in image_keys])
    keys = keys.reshape(len(targets) * per_image, *keys.shape[2:])
    batch_targets = np.repeat(targets, per_image, axis=0)

    started = time.perf_counter()
    group = group_size(problem, rep, batch_targets, mask, max_batch=max_batch, memory_budget=memory_budget,
                       oversize=oversize)
    run = optimise_with_retries(problem, rep, batch_targets, keys, mask, group=group, sharding=sharding,
                                keep_snapshots=keep_snapshots, progress=progress, retries=retries,
                                retry_factor=retry_factor)
    seconds = time.perf_counter() - started
    rejected, lr_scale = run[1], run[4]
    if np.any(rejected > 0):
        warnings.warn(f"{rep.name}: some inversions diverged even at {lr_scale.min():g}× the learning rates and"
                      " kept their last finite iterate (InversionResult.diverged); use a smaller learning rate",
                      stacklevel=3)
    return _assemble(rep, problem, targets, run, seeds=seeds, seconds=seconds)


def _targets(rep: Representation, pictures: Sequence[np.ndarray] | None, codes: np.ndarray | None,
             image_shape: tuple[int, int, int] | None) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The N target codes and the input shape, from pictures or from given codes."""
    if pictures is not None:
        inputs, targets = targets_from_pictures(rep, list(pictures))
        image_shape = inputs.shape[1:]
    else:
        image_shape = image_shape if image_shape is not None else rep.input_shape
        if image_shape is None:
            raise JaxinvError(f"{rep.name}: pass image_shape=(H, W, C) with codes; this representation takes any size")
        targets = check_code(rep, np.asarray(codes), tuple(image_shape))
    if not np.all(np.isfinite(targets)):
        raise JaxinvError(f"{rep.name}: the picture's code has NaN or infinite values")
    return targets, tuple(int(v) for v in image_shape)


def _problem(rep: Representation, image_shape: tuple[int, int, int], *, seeds: int, coupled: bool, schedule,
             method, lambda_tv, lambda_alpha, objective, chunk: int, sharding, vmap_width) -> optimize.Problem:
    """The compiled program's static description: preset, schedule, shapes, batching."""
    method = _method_of(method, objective)
    schedule = resolve_schedule(schedule if schedule is not None else ("ijcv" if method == "ijcv" else rep.schedule))
    obj = make_objective(rep, method=method, lambda_tv=lambda_tv, lambda_alpha=lambda_alpha, objective=objective)
    jitter = obj.jitter_for(rep.stride) if isinstance(obj, IJCVObjective) else 1
    if vmap_width not in ("auto", None):
        check_whole("vmap_width", vmap_width, alternatives=", None or 'auto'")
    if sharding is not None:
        vmap_width = None  # the devices split the batch; a sequential map would gather it
    elif vmap_width == "auto":
        vmap_width = optimize.default_vmap_width(rep.features, rep.params, image_shape)
    return optimize.Problem(rep.features, obj, schedule, image_shape, copies=seeds if coupled else 1,
                            jitter=jitter, chunk=int(chunk), vmap_width=vmap_width)


def _assemble(rep: Representation, problem: optimize.Problem, targets: np.ndarray, run: tuple, *, seeds: int,
              seconds: float) -> InversionResult:
    """The batch's arrays, reshaped to (N pictures, S seeds, ...), as an `InversionResult`."""
    _, rejected, energy, snaps, lr_scale, (images_in, final_codes, errors) = run
    n, s, shape, copies = len(targets), seeds, problem.image_shape, problem.copies
    total = problem.schedule.total
    inputs = np.asarray(images_in).reshape(n, s, *shape)
    snap_its = np.arange(0, total, problem.chunk) + 1
    if snaps is not None:
        snaps = np.moveaxis(snaps, 2, 1).reshape(n * s, len(snap_its), *problem.variable_shape[1:])
        snaps = np.asarray(problem.images(jnp.asarray(snaps))).reshape(n, s, len(snap_its), *shape)
    pictures_out = np.stack([np.clip(rep.deprocess(x), 0, 255) for x in inputs.reshape(n * s, *shape)])
    return InversionResult(
        images=pictures_out.reshape(n, s, *pictures_out.shape[1:]).astype(np.float32),
        inputs=inputs,
        errors=np.asarray(errors).reshape(n, s),
        codes=np.asarray(final_codes).reshape(n, s, *targets.shape[1:]),
        targets=targets,
        energy=np.repeat(energy[:, None], copies, axis=1).reshape(n, s, total, energy.shape[-1]),
        snapshots=snaps,
        snapshot_iterations=np.asarray(snap_its),
        diverged=np.repeat(rejected > 0, copies).reshape(n, s),
        learning_rate_scale=np.repeat(lr_scale, copies).reshape(n, s),
        seconds=seconds,
    )


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
    check_key(key)
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
