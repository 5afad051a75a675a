"""The public inversion API: `invert` one picture (or a code), `invert_batch` many, under any prior.

Both check what they are given (`jaxinv.targets`), build the prior's `Solver` of one problem
(`jaxinv.core.prior`: paper, ijcv, lucid, maco, dip, or a `Preset` of your own), hand it to
the one host loop (`jaxinv.runner.run`) and shape what comes back into an `InversionResult`.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.core.presets import Preset
from jaxinv.core.priors import PRIOR_NAMES, input_shape
from jaxinv.core.priors import prior as named_prior
from jaxinv.core.settings import IJCVObjective, PaperObjective
from jaxinv.errors import JaxinvError
from jaxinv.images import as_picture
from jaxinv.representation import Representation
from jaxinv.runner import Outcome, Progress, RunOptions, check_whole, run
from jaxinv.targets import check_code, check_key, check_mask, check_normalisers, targets_from_pictures

__all__ = ["InversionResult", "invert", "invert_batch", "resolve_prior"]


@dataclasses.dataclass(frozen=True)
class InversionResult:
    """Reconstructions of one or more codes; leading axes (N, S) for `invert_batch`, (S,) for `invert`.

    Attributes:
      images: reconstructions as pictures in [0, 255] (clipped), (..., H, W, C').
      inputs: reconstructions in the representation's input space, (..., H, W, C); the
        final iterate.
      errors: ‖M ⊙ (Φ(x*) − Φ0)‖² / ‖M ⊙ Φ0‖² per reconstruction, (...): the squared
        normalised error (docs/METRICS.md relates it to the paper's printed metric).
      codes: Φ(x*) per reconstruction.
      targets: Φ0 per picture ((N, ...) or (...)).
      energy: per iteration, before its step, each term's value and the total, (..., T, K + 1):
        [term_1, …, term_K, Σ_k w_k·term_k], the terms unweighted, in the prior's units (the
        same record whatever the prior). For the paper's prior [data, TV^β(u), N_α(u), c·data +
        λ_V·TV^β + λ_α·N_α] (c = 1 at the paper's input sizes); for IJCV's [data, TV, N_α,
        C·data + TV + N_α]; lucid and maco [data, TV², total]; dip [data, total]. In the coupled
        mode the joint energy, repeated for each copy. A value that overflowed is recorded as
        the largest float32, never inf or NaN.
      snapshots: input-space iterates after iterations ``snapshot_iterations``, (..., K, H, W, C);
        with the default chunk of 25 these include the paper's saved iteration 376 (CNN) or 776.
      snapshot_iterations: 1-based iteration numbers of the snapshots, (K,).
      diverged: True where some steps overflowed and were refused even after the retries
        (the result is then the last finite iterate, or the start where even that had no
        finite error); lower the learning rate for those.
      learning_rate_scale: the factor the schedule's rates were run at (1, or
        ``retry_factor``^k after k retries of a diverged inversion).
      seconds: wall-clock time of the optimisation, compilation included.
      prior: the name of the prior that ran: the `Preset`'s ``name`` (``custom`` unless set).
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
    prior: str = "paper"

    def item(self, index: int) -> "InversionResult":
        """Picture ``index`` of a batch: arrays with the seed axis leading (as `invert` gives)."""
        per_picture = ("images", "inputs", "errors", "codes", "targets", "energy", "snapshots", "diverged",
                       "learning_rate_scale")
        picked: dict[str, Any] = {name: None if getattr(self, name) is None else getattr(self, name)[index]
                                  for name in per_picture}
        return dataclasses.replace(self, **picked)


def resolve_prior(rep: Representation, image_shape: Sequence[int], prior: str | Preset | None, *,
                  objective: PaperObjective | IJCVObjective | None = None, method: str | None = None,
                  **options: Any) -> Preset:
    """The `Preset` that ``prior`` names for ``rep`` at ``image_shape``, with the prior's ``options``.

    ``prior``: a name of `jaxinv.core.PRIOR_NAMES` (default ``paper``, or what ``objective``
    implies) or a `Preset` of your own, used as it is. ``objective``: a whole `PaperObjective` or
    `IJCVObjective` (it implies the prior). ``method``: the 0.1 name of ``prior``, deprecated.
    Options a prior does not take are refused by name (`jaxinv.core.prior_options`).
    """
    if method is not None:
        warnings.warn("jaxinv.invert(method=...) is deprecated; use prior=", DeprecationWarning, stacklevel=3)
        if method not in PRIOR_NAMES:
            raise JaxinvError(f"unknown method {method!r}; use prior= with one of {', '.join(PRIOR_NAMES)}")
        if prior not in (None, method):
            raise JaxinvError(f"method={method!r} and prior={prior!r} disagree; pass prior= alone")
        prior = method
    if isinstance(prior, Preset):
        given = sorted(k for k, v in {**options, "objective": objective}.items() if v is not None)
        if given:
            raise JaxinvError(f"a Preset is used as it is; drop {', '.join(given)} (set them in the Preset)")
        return prior
    if objective is not None:
        implied = "ijcv" if isinstance(objective, IJCVObjective) else "paper"
        if prior not in (None, implied):
            raise JaxinvError(f"prior={prior!r} with a {type(objective).__name__}; drop method= or prior= (the"
                              f" objective decides) or pass prior={implied!r}")
        prior, options = implied, {**options, "config": objective}
    name = "paper" if prior is None else prior
    return named_prior(name, rep, image_shape=tuple(image_shape),
                       **{k: v for k, v in options.items() if v is not None})


def invert_batch(
    rep: Representation,
    pictures: Sequence[np.ndarray] | np.ndarray | None = None,
    *,
    key: jax.Array | Sequence[jax.Array],
    codes: np.ndarray | None = None,
    image_shape: tuple[int, int, int] | None = None,
    prior: str | Preset | None = None,
    seeds: int = 1,
    coupled: bool = False,
    mask: np.ndarray | None = None,
    chunk: int = 25,
    keep_snapshots: bool = True,
    progress: Progress = None,
    sharding: Any = None,
    retries: int = 2,
    retry_factor: float = 0.3,
    max_batch: int | None = None,
    memory_budget: int | str | None = None,
    oversize: str = "split",
    vmap_width: int | str | None = "auto",
    **prior_options: Any,
) -> InversionResult:
    """Invert the codes of N pictures of one size (or N given codes), S seeds each, at once.

    Args:
      rep: the representation.
      pictures: N pictures (H, W, C) in [0, 255]; their codes are the targets.
      key: a `jax.random` key (picture i uses ``fold_in(key, i)``, split into its S seeds, so a
        picture's result does not depend on the rest of the batch), or N keys (an array or a
        list), one per picture.
      codes: instead of pictures, N target codes (N, ...) with ``image_shape`` (H, W, C) of
        the input space (an artificial code, say).
      prior: the image prior, a name (``paper``, the default; ``ijcv``, ``lucid``, ``maco``,
        ``dip``: `jaxinv.core.priors`) or a `jaxinv.core.Preset`.
      seeds: S reconstructions per code.
      coupled: optimise the S seeds jointly as the paper's ``numRepeats`` (METHOD.md §2.2):
        one normaliser S‖Φ0‖², one start of norm σ over the block.
      mask: a 0/1 array broadcastable to the code (`jaxinv.masks`).
      chunk: steps per compiled call, and the snapshot period (iterations 1, k+1, 2k+1, …).
        This and the next nine are how the host runs the batch (`jaxinv.runner.RunOptions`);
        none of them changes what a problem computes.
      keep_snapshots: keep the iterates after the first step of each chunk.
      progress: None (default): a tqdm bar on stderr when stderr is a terminal, nothing otherwise;
        True: a bar always; False: silent (no bar, no retry notice); or a callable given the
        number of steps done.
      sharding: a `jax.sharding.Sharding` of the problem axis (`jaxinv.parallel.batch_sharding`).
      retries: how often an inversion that overflowed is run again from its start at lower rates.
      retry_factor: the factor every rate is multiplied by at each retry.
      max_batch: run at most this many problems at once, one group after the other.
      memory_budget: bytes the compiled program may use, or ``"auto"`` (the device's free memory).
      oversize: ``"split"`` runs a batch over ``memory_budget`` in groups that fit; ``"error"``
        refuses it.
      vmap_width: problems vectorised together inside the program (``"auto"``:
        `jaxinv.program.default_vmap_width`; None: the whole batch in one vmap).
      **prior_options: the prior's own options, `jaxinv.core.prior_options` (for every prior
        ``schedule``: a preset name, a `Schedule` or [(rate, iterations), …]; for ``paper``
        ``lambda_tv``, ``lambda_alpha``; for ``ijcv`` ``data_weight``; ``objective``, a whole
        `PaperObjective` or `IJCVObjective`, picks paper or ijcv). Others are refused by name.
    """
    if (pictures is None) == (codes is None):
        raise JaxinvError("pass either pictures or codes (with image_shape), not both or neither")
    if pictures is not None:
        if isinstance(pictures, np.ndarray) and pictures.ndim in (2, 3):
            raise JaxinvError("invert_batch takes a sequence of pictures; use invert() for one picture")
        pictures = [as_picture(p) for p in pictures]
        if not pictures:
            raise JaxinvError("no pictures given; pass at least one")
    count = len(pictures) if pictures is not None else len(np.asarray(codes))
    options = RunOptions(chunk=chunk, keep_snapshots=keep_snapshots, progress=progress, sharding=sharding,
                         retries=retries, retry_factor=retry_factor, max_batch=max_batch,
                         memory_budget=memory_budget, oversize=oversize, vmap_width=vmap_width,
                         label=f"inverting {rep.name}", noun=f"{rep.name} inversions")
    return _invert(rep, pictures, codes, image_shape, _picture_keys(key, count), prior=prior, seeds=seeds,
                   coupled=coupled, mask=mask, options=options, prior_options=prior_options)


def _picture_keys(key: Any, count: int) -> list[jax.Array]:
    """One key per picture: ``fold_in(key, i)``, or the N keys given."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.ndim == 1:
        key = [key[i] for i in range(len(key))]
    if isinstance(key, (list, tuple)):
        if len(key) != count:
            raise JaxinvError(f"{len(key)} keys for {count} targets; pass one key per target, or one key")
        for k in key:
            check_key(k)
        return list(key)
    check_key(key)
    return [jax.random.fold_in(key, i) for i in range(count)]


def _invert(rep: Representation, pictures: list[np.ndarray] | None, codes: np.ndarray | None,
            image_shape: Sequence[int] | None, image_keys: list[jax.Array], *, prior: str | Preset | None,
            seeds: int, coupled: bool, mask: Any, options: RunOptions, prior_options: dict[str, Any]
            ) -> InversionResult:
    """The inversion of N targets × S seeds through the one runner."""
    check_whole("seeds", seeds)
    targets, shape = _targets(rep, pictures, codes, image_shape)
    mask = check_mask(mask, targets.shape[1:])
    check_normalisers(rep, targets, mask, from_pictures=pictures is not None)
    preset = resolve_prior(rep, shape, prior, **prior_options)
    copies = seeds if coupled else 1
    per_target = 1 if coupled else seeds
    keys = jnp.stack([jax.random.split(k, per_target) for k in image_keys])
    keys = keys.reshape(len(targets) * per_target, *keys.shape[2:])

    def solver_at(scale: float) -> Any:
        return preset.scaled(scale).solver(rep.features, rep.params, image_shape=shape, copies=copies)

    outcome = run(solver_at(1.0), np.repeat(targets, per_target, axis=0), keys=keys, mask=mask, rescale=solver_at,
                  options=options)
    if np.any(outcome.rejected > 0):
        warnings.warn(f"{rep.name}: some inversions diverged even at {outcome.learning_rate_scale.min():g}× the"
                      " learning rates and kept their last finite iterate (InversionResult.diverged); use a"
                      " smaller learning rate", stacklevel=3)
    return _assemble(rep, targets, outcome, seeds=seeds, copies=copies, name=preset.name)


def _targets(rep: Representation, pictures: list[np.ndarray] | None, codes: np.ndarray | None,
             image_shape: Sequence[int] | None) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The N target codes and the input shape, from pictures or from given codes."""
    if pictures is not None:
        inputs, targets = targets_from_pictures(rep, pictures)
        shape = input_shape(rep, image_shape=inputs.shape[1:])
    else:
        shape = input_shape(rep, image_shape=image_shape)
        targets = check_code(rep, np.asarray(codes), shape)
    if not np.all(np.isfinite(targets)):
        raise JaxinvError(f"{rep.name}: the picture's code has NaN or infinite values")
    return targets, shape


def _assemble(rep: Representation, targets: np.ndarray, outcome: Outcome, *, seeds: int, copies: int,
              name: str) -> InversionResult:
    """The runner's (B, R, ...) arrays reshaped to (N pictures, S seeds, ...)."""
    n, s = len(targets), seeds
    inputs = outcome.images.reshape(n, s, *outcome.images.shape[2:])
    shape = inputs.shape[2:]
    snaps = outcome.snapshots
    if snaps is not None:  # (B, K, R, H, W, C) -> (N, S, K, H, W, C)
        snaps = np.moveaxis(snaps, 2, 1).reshape(n, s, snaps.shape[1], *shape)
    shown = np.clip(rep.deprocess(inputs.reshape(n * s, *shape)), 0, 255).astype(np.float32)
    energy = outcome.energy
    return InversionResult(
        images=shown.reshape(n, s, *shown.shape[1:]),
        inputs=inputs,
        errors=outcome.errors.reshape(n, s),
        codes=outcome.codes.reshape(n, s, *targets.shape[1:]),
        targets=targets,
        energy=np.repeat(energy[:, None], copies, axis=1).reshape(n, s, *energy.shape[1:]),
        snapshots=snaps,
        snapshot_iterations=outcome.snapshot_iterations,
        diverged=np.repeat(outcome.rejected > 0, copies).reshape(n, s),
        learning_rate_scale=np.repeat(outcome.learning_rate_scale, copies).reshape(n, s),
        seconds=outcome.seconds,
        prior=name,
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
    """Invert the code of one picture (or a given ``code``); options as `invert_batch`.

    The result's arrays have a leading seed axis (S, ...); the seeds' keys are
    ``jax.random.split(key, S)``, so item i of ``invert_batch(rep, pictures, key=k)`` equals
    ``invert(rep, pictures[i], key=jax.random.fold_in(k, i))``.
    """
    if (picture is None) == (code is None):
        raise JaxinvError("pass either a picture or code=..., not both or neither")
    check_key(key)
    batch = invert_batch(rep, None if picture is None else [picture], key=[key],
                         codes=None if code is None else np.asarray(code)[None], image_shape=image_shape, **options)
    return batch.item(0)
