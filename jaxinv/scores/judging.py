"""What a judge network says of pictures: top-k classes, transferability, plausibility, the path check.

A *judge* is a network that took no part in making the pictures it scores (a visualisation
made on SqueezeNet judged by GoogLeNet). These functions take the judge's outputs as arrays:
logits for the classes, features of one layer for plausibility, features of several layers for
the path check (`jaxinv.scores.judge_features` and `jaxinv.scores.path_features` compute them).
All are pure `jax.numpy`, jit- and vmap-friendly (``k``, ``reduction`` and ``similarity`` static).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from jaxinv.errors import JaxinvError

__all__ = ["PathScore", "activation_path", "plausibility", "top_k_classes", "top_k_hits", "transferability"]

Array = npt.ArrayLike | jax.Array
#: Below this norm a vector counts as zero: its cosine with anything is 0, not NaN.
EPS = 1e-12


def top_k_classes(logits: Array, *, k: int = 5) -> jax.Array:
    """The k classes of highest score, best first: (..., C) → (..., k) int32 (`jax.lax.top_k`).

    Of equal scores the lower class index comes first (as a stable ``argsort(-logits)``).
    """
    scores = jnp.asarray(logits)
    if scores.ndim < 1 or not 1 <= k <= scores.shape[-1]:
        raise JaxinvError(f"top-{k} of scores of shape {scores.shape}; pass 1 <= k <= the number of classes")
    return jax.lax.top_k(scores, k)[1]


def _scores_for(logits: Array, labels: Array) -> tuple[jax.Array, jax.Array]:
    """Logits (*L, C) for labels of shape L: trailing axes beyond L's flattened to the C classes."""
    scores, classes = jnp.asarray(logits), jnp.asarray(labels)
    if not jnp.issubdtype(classes.dtype, jnp.integer):
        raise JaxinvError(f"labels have dtype {classes.dtype}; pass integer class indices")
    lead = classes.shape
    if scores.ndim <= len(lead) or scores.shape[:len(lead)] != lead:
        raise JaxinvError(f"logits of shape {scores.shape} do not match labels of shape {lead}; pass one row of"
                          " class scores per label")
    scores = scores.reshape(*lead, -1)
    if not isinstance(classes, jax.core.Tracer):  # concrete (not inside jit or vmap): check the range here
        values = np.asarray(classes)
        if values.size and (values.min() < 0 or values.max() >= scores.shape[-1]):
            raise JaxinvError(f"labels run from {values.min()} to {values.max()} but there are"
                              f" {scores.shape[-1]} classes; pass indices in [0, {scores.shape[-1]})")
    return scores, classes


def top_k_hits(logits: Array, labels: Array, *, k: int = 5) -> jax.Array:
    """Whether each label is among the judge's k best classes: bool, the shape of ``labels``.

    hit_i = [y_i ∈ top-k(z_i)], with z_i the judge's scores of picture i (`top_k_classes`). A
    label outside [0, C) is never a hit (refused when ``labels`` is a concrete array).

    Args:
      logits: (N, C) class scores, or (N, ...) whose trailing axes flatten to C (a network's
        (1, 1, C) score map).
      labels: (N,) class indices.
      k: how many of the best classes count.
    """
    scores, classes = _scores_for(logits, labels)
    return jnp.any(top_k_classes(scores, k=k) == classes[..., None], axis=-1)


def transferability(logits: Array, labels: Array, *, k: int = 5) -> jax.Array:
    """The fraction of pictures whose label is in a judge's top-k: (1/N) Σ_i [y_i ∈ top-k(z_i)].

    Transferability in MACO's sense (Fel et al., "Unlocking feature visualization for deeper
    networks with MAgnitude Constrained Optimization", NeurIPS 2023, §4): a class visualisation
    made on one network is classified by other networks, none of which took part in making it;
    the share they recognise says whether it shows the class or only what fools its own network.
    ``logits`` are the judge's scores of the visualisations, ``labels`` the classes they were made
    for. A scalar in [0, 1] (`top_k_hits` gives each picture's verdict).

    Args:
      logits: (N, C) class scores, or (N, ...) whose trailing axes flatten to C.
      labels: (N,) integer class indices.
      k: 5 for top-5 (the default), 1 for top-1.
    """
    return jnp.mean(top_k_hits(logits, labels, k=k).astype(jnp.float32))


def _against(features: Array, reference_features: Array) -> tuple[jax.Array, jax.Array, bool]:
    """(F (N, D), R (R, D), one picture?) from one picture's code S or a batch (N, *S), and (R, *S)."""
    reference, code = jnp.asarray(reference_features), jnp.asarray(features)
    if reference.ndim < 2 or reference.shape[0] < 1:
        raise JaxinvError(f"reference features of shape {reference.shape}; pass a set (R, ...) of at least one"
                          " picture's features")
    shape = reference.shape[1:]
    single = code.shape == shape
    if not single and code.shape[1:] != shape:
        raise JaxinvError(f"features of shape {code.shape} do not match the reference pictures' {shape}; pass one"
                          " picture's features or a batch (N, ...) of the same judge layer")
    dtype = jnp.promote_types(jnp.result_type(code, reference), jnp.float32)
    flat = code.reshape(1 if single else code.shape[0], -1).astype(dtype)
    return flat, reference.reshape(reference.shape[0], -1).astype(dtype), single


def _unit(rows: jax.Array) -> jax.Array:
    """Each row divided by its norm (a row of norm below `EPS` becomes 0)."""
    norm = jnp.linalg.norm(rows, axis=-1, keepdims=True)
    return jnp.where(norm > EPS, rows / jnp.maximum(norm, EPS), 0.0)


def _ranks(rows: jax.Array) -> jax.Array:
    """Each row's values replaced by their ranks 0..D−1, ties sharing their mean rank (scipy's 'average')."""
    ordered = jnp.sort(rows, axis=-1)
    below = jax.vmap(lambda s, v: jnp.searchsorted(s, v, side="left"))(ordered, rows)
    upto = jax.vmap(lambda s, v: jnp.searchsorted(s, v, side="right"))(ordered, rows)
    return (below + upto - 1).astype(rows.dtype) / 2.0


def _similarities(a: jax.Array, b: jax.Array, similarity: str) -> jax.Array:
    """(N, R) cosine similarities of rows, or Spearman correlations (cosine of centred ranks)."""
    if similarity == "spearman":
        a, b = _ranks(a), _ranks(b)
        a, b = a - a.mean(axis=-1, keepdims=True), b - b.mean(axis=-1, keepdims=True)
    elif similarity != "cosine":
        raise JaxinvError(f"similarity {similarity!r}; use 'cosine' or 'spearman'")
    return jnp.matmul(_unit(a), _unit(b).T, precision=jax.lax.Precision.HIGHEST)


def plausibility(features: Array, reference_features: Array, *,
                 reduction: Literal["mean", "centroid"] = "mean") -> jax.Array:
    """Cosine similarity of a picture's features to a reference set's, in one judge layer.

    - ``"mean"`` (default): (1/R) Σ_r cos(f, r_r), the mean of the similarities to each reference
      picture (each counts once, whatever its norm);
    - ``"centroid"``: cos(f, r̄), the similarity to the references' mean feature r̄ = (1/R) Σ_r r_r.

    cos(a, b) = ⟨a, b⟩ / (‖a‖ ‖b‖), 0 where either is 0 (a dead ReLU layer), so in [−1, 1] and
    1 only for features equal up to a positive scale. Plausibility after MACO (Fel et al.,
    NeurIPS 2023, §4), which scores how close a visualisation lies to real pictures of its class
    in the feature space of a judge's late layer; here closeness is the cosine similarity, and
    the values compare with each other (one judge layer, one reference set), not with MACO's
    table. The mean over references is the default because it lets no few references of large
    norm dominate (the centroid does).

    Args:
      features: one picture's features (shape S), or a batch (N, *S).
      reference_features: the reference set (R, *S), of the same judge layer.
      reduction: ``"mean"`` or ``"centroid"``.

    Returns:
      A scalar for one picture, (N,) for a batch.
    """
    flat, reference, single = _against(features, reference_features)
    if reduction == "mean":
        score = jnp.mean(_similarities(flat, reference, "cosine"), axis=-1)
    elif reduction == "centroid":
        score = _similarities(flat, jnp.mean(reference, axis=0, keepdims=True), "cosine")[:, 0]
    else:
        raise JaxinvError(f"reduction {reduction!r}; use 'mean' or 'centroid'")
    return score[0] if single else score


class PathScore(NamedTuple):
    """The path check's result: the similarity at each layer and its mean over the layers.

    Attributes:
      curve: (L,) for one picture, (N, L) for a batch: layer l's mean similarity to the references.
      summary: the curve's mean over its L layers: a scalar, or (N,).
    """

    curve: jax.Array
    summary: jax.Array


def activation_path(picture_features: Sequence[Array], reference_features: Sequence[Array], *,
                    similarity: Literal["cosine", "spearman"] = "cosine") -> PathScore:
    """The path check: layer by layer, how similarly a judge responds to a picture and to references.

    curve_l = (1/R) Σ_r sim(φ_l(x), φ_l(x_r)) for each of the L layers l, summary = (1/L) Σ_l curve_l,

    with φ_l the judge's features at layer l (flattened), x_r the R reference pictures and sim the
    cosine (``"cosine"``) or Spearman's rank correlation (``"spearman"``: the Pearson correlation
    of the values' ranks, ties given their mean rank). Geirhos, Zimmermann, Bilodeau, Brendel &
    Kim ("Don't trust your eyes: on the (un)reliability of feature visualizations", ICML 2024,
    §4) compare, layer by layer, how a network responds to feature visualisations and to natural
    pictures as a sanity check of the visualisations: a picture the network processes as it
    processes natural ones stays similar to them along the way, not only at the layer that was
    maximised. Identical features give 1 at every layer; a layer where either code is 0 (or
    constant, for Spearman) counts 0.

    Args:
      picture_features: per layer, one picture's features (shape S_l) or a batch (N, *S_l),
        shallow to deep (`jaxinv.scores.path_features`).
      reference_features: per layer, the reference set's (R, *S_l), in the same order.
      similarity: ``"cosine"`` or ``"spearman"``.

    Returns:
      `PathScore` (curve, summary).
    """
    if len(picture_features) != len(reference_features) or not picture_features:
        raise JaxinvError(f"{len(picture_features)} layers of the picture's features for"
                          f" {len(reference_features)} of the references'; pass the same layers (at least one)")
    rows, singles = [], set()
    for code, reference in zip(picture_features, reference_features):
        flat, ref, single = _against(code, reference)
        rows.append(jnp.mean(_similarities(flat, ref, similarity), axis=-1))
        singles.add((single, flat.shape[0]))
    if len(singles) > 1:
        raise JaxinvError("the layers hold features of different numbers of pictures; pass one picture's (or one"
                          " batch's) features at every layer")
    curve = jnp.stack(rows, axis=-1)
    curve = curve[0] if single else curve
    return PathScore(curve, jnp.mean(curve, axis=-1))
