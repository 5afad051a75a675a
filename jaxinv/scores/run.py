"""A judge network's scores of a set of pictures, in one call: what ``jaxinv score`` writes.

`score_pictures` takes the pictures of a run (reconstructions, visualisations) and returns a
dict of plain numbers, ready for JSON: plausibility and KID against a reference set in the
judge's layer, the judge's top-k classes and transferability when the pictures' classes are
known, and, given the originals the pictures were reconstructed from, how much of the
original the judge still finds (its top-1 class kept, the cosine similarity of its features).
`score_result` does the same for a result in memory (`jaxinv.invert`'s, `jaxinv.maximize`'s).
A measure that is undefined for these pictures (KID of one picture, transferability without a
class) is None, and ``notes`` says why; every key is defined in the dict's ``definitions``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.errors import JaxinvError
from jaxinv.networks.registry import spec
from jaxinv.representation import Representation
from jaxinv.scores.distributions import kid
from jaxinv.scores.host import (
    path_features,
    reference_pictures,
    trained_network_features,
)
from jaxinv.scores.judging import plausibility, top_k_classes, top_k_hits

__all__ = ["KID_SUBSETS", "SCORE_DEFINITIONS", "class_layer", "class_of_label", "score_pictures", "score_result"]

#: The subsets `score_pictures` averages KID over (each of min(N, R) pictures of both sets).
KID_SUBSETS = 100

#: The keys of `score_pictures`' dict, one line each (``pictures[i]`` holds the per-picture ones).
SCORE_DEFINITIONS = {
    "judge": "the network layer whose features are compared (NETWORK:LAYER), a network that should have taken"
             " no part in making the pictures",
    "class_layer": "the judge network's class scores (the layer its softmax reads), null for a network without one",
    "reference_pictures": "R, the number of reference pictures (natural pictures) the features are compared with",
    "k": "how many of the judge's best classes count for transferability",
    "plausibility": "mean over the pictures of (1/R) Σ_r cos(φ(x), φ(x_r)), φ the judge's layer flattened, x_r the"
                    " reference pictures (jaxinv.scores.plausibility, reduction 'mean'); in [−1, 1], higher is"
                    " closer to natural pictures",
    "kid": "KID of the pictures' judge features against the references': the mean over kid_subsets draws of"
           " kid_subset_size = min(N, R) pictures from each set of the unbiased MMD² with the cubic polynomial"
           " kernel (jaxinv.scores.kid; Bińkowski et al. 2018); 0 for one distribution, lower is closer; null"
           " when either set has fewer than 2 pictures (notes says why)",
    "kid_standard_error": "the standard error of kid over the subsets' draws (std / √kid_subsets)",
    "kid_subset_size": "pictures per KID subset, min(N, R)",
    "kid_subsets": "the number of KID subsets",
    "transferability": "the share of the pictures whose label is among the judge's top-k classes"
                       " (jaxinv.scores.transferability; Fel et al. 2023); null when no label is known",
    "class_kept": "the share of the pictures whose judge top-1 class is their original's top-1 class (the"
                  " transferability at k = 1 of a reconstruction); null without originals",
    "original_similarity": "mean over the pictures of cos(φ(x), φ(x0)), x0 the picture's original, in the judge's"
                           " layer; 1 when the judge sees the same; null without originals",
    "original_plausibility": "the plausibility of the originals themselves, what a perfect reconstruction scores;"
                             " null without originals",
    "notes": "for each measure that is null, why",
    "pictures": "per picture: its plausibility, top_classes (the judge's k best, best first), label (the class it"
                " was made for, else its original's top-1 class, else null), top_k_hit (label among top_classes),"
                " original_class (its original's top-1), class_kept and original_similarity",
}

_CLASS_LABEL = re.compile(r"class (\d+)")


def class_layer(network: str) -> str | None:
    """The layer a network's softmax reads (its class scores: ``pool10``, ``loss3/classifier``), None without one."""
    for node in spec(network).nodes:
        if node.op == "softmax":
            return str(node.inputs[0])
    return None


def class_of_label(label: str) -> int | None:
    """The class a visualisation was made for, from its label (``class 145`` → 145; ``class_145_seed0``, a
    ``jaxinv maximize`` file name, too); None for anything else (a channel, a lowered class, a mix)."""
    text = re.sub(r"_seed\d+$", "", label).replace("_", " ").strip()
    found = _CLASS_LABEL.fullmatch(text)
    return int(found.group(1)) if found else None


def _judge_layers(judge: Representation) -> tuple[str, str, str | None]:
    """(network, the judge's layer, the class-score layer or None); a judge that is no network layer is refused."""
    features = trained_network_features(judge, judging="a run's pictures")
    return features.network, features.layer, class_layer(features.network)


def _stack(pictures: Sequence[np.ndarray] | np.ndarray, name: str) -> list[np.ndarray]:
    """The pictures as a list of (H, W, C) arrays, refused when there are none."""
    found = list(pictures)
    if not found:
        raise JaxinvError(f"no {name} to score; pass at least one picture (H, W, C) in [0, 255]")
    return [np.asarray(p) for p in found]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cos(a_i, b_i) of rows, (N,), each with `plausibility` against the one-row set b_i."""
    return np.asarray(jax.vmap(lambda x, y: plausibility(x, y[None]))(jnp.asarray(a), jnp.asarray(b)))


def _kid_part(features: np.ndarray, reference: np.ndarray, key: jax.Array) -> tuple[dict[str, Any], str | None]:
    """KID with subsets of min(N, R) pictures, or nulls and the reason when a set is too small."""
    n, r = len(features), len(reference)
    if min(n, r) < 2:
        which = f"there is {n} picture" if n < 2 else f"there is {r} reference picture"
        why = (f"KID needs at least 2 pictures in each set and {which}; score a run of several seeds or cells"
               " (or more reference pictures)")
        return {"kid": None, "kid_standard_error": None, "kid_subset_size": None, "kid_subsets": None}, why
    size = min(n, r)
    result = kid(features, reference, key=key, subsets=KID_SUBSETS, subset_size=size)
    return ({"kid": float(result.mean), "kid_standard_error": float(result.standard_error),
             "kid_subset_size": size, "kid_subsets": KID_SUBSETS}, None)


def _labels(given: Sequence[int] | None, original_top: np.ndarray | None, classes: int) -> tuple[
        np.ndarray | None, str | None]:
    """The labels transferability checks (given ones, else the originals' top-1), or None and why not."""
    if given is not None:
        labels = np.asarray(list(given))
        if not np.issubdtype(labels.dtype, np.integer):
            raise JaxinvError(f"labels have dtype {labels.dtype}; pass one integer class per picture")
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            return None, (f"the labels run from {labels.min()} to {labels.max()} but the judge has {classes} classes;"
                          " judge with a network of the same classes")
        return labels, None
    if original_top is not None:
        return original_top[:, 0], None
    return None, ("no class is known: the pictures were made for no class (jaxinv maximize --class C makes such"
                  " pictures) and have no original whose class to keep")


def _class_part(n: int, logits: np.ndarray | None, original_logits: np.ndarray | None,
                labels: Sequence[int] | None, *, k: int, notes: dict[str, str],
                network: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """transferability and class_kept, and per picture top_classes, label, top_k_hit, original_class, class_kept."""
    if logits is None:
        notes["transferability"] = notes["class_kept"] = f"the judge network {network} has no class scores (no softmax)"
        return {"transferability": None, "class_kept": None}, [
            dict.fromkeys(("top_classes", "label", "top_k_hit", "original_class", "class_kept")) for _ in range(n)]
    scores = logits.reshape(n, -1)
    top = np.asarray(top_k_classes(scores, k=k))
    original_top = None if original_logits is None else np.asarray(
        top_k_classes(original_logits.reshape(n, -1), k=1))
    labels_used, why = _labels(labels, original_top, scores.shape[1])
    hits = None if labels_used is None else np.asarray(top_k_hits(scores, labels_used, k=k))
    kept = None if original_top is None else top[:, 0] == original_top[:, 0]
    if why is not None:
        notes["transferability"] = why
    rows = [{"top_classes": [int(c) for c in top[i]],
             "label": None if labels_used is None else int(labels_used[i]),
             "top_k_hit": None if hits is None else bool(hits[i]),
             "original_class": None if original_top is None else int(original_top[i, 0]),
             "class_kept": None if kept is None else bool(kept[i])} for i in range(n)]
    return {"transferability": None if hits is None else float(np.mean(hits)),
            "class_kept": None if kept is None else float(np.mean(kept))}, rows


def _originals(originals: Sequence[np.ndarray] | np.ndarray | None, count: int) -> list[np.ndarray] | None:
    """One original per picture: ``originals`` as given (``count`` of them) or one shared by all."""
    if originals is None:
        return None
    found = _stack(originals, "originals")
    if len(found) not in (1, count):
        raise JaxinvError(f"{len(found)} originals for {count} pictures; pass one original per picture, or one for all")
    return found


def score_pictures(pictures: Sequence[np.ndarray] | np.ndarray, *, judge: Representation, key: jax.Array,
                   reference: Sequence[np.ndarray] | np.ndarray | None = None, labels: Sequence[int] | None = None,
                   originals: Sequence[np.ndarray] | np.ndarray | None = None, k: int = 5,
                   batch: int = 8) -> dict[str, Any]:
    """A judge network's scores of a set of pictures, as a dict of plain numbers (keys in ``definitions``).

    - **plausibility**: mean over the pictures of (1/R) Σ_r cos(φ(x), φ(x_r)), φ the judge's layer
      and x_r the R reference pictures (`jaxinv.scores.plausibility`); per picture in ``pictures``.
    - **kid** and **kid_standard_error**: `jaxinv.scores.kid` of the pictures' features against the
      references', `KID_SUBSETS` subsets of min(N, R) pictures; None (and a note) below 2 pictures.
    - **transferability**: the share of pictures whose label is among the judge's top-k classes, at
      its class-score layer (`class_layer`; `jaxinv.scores.transferability`). The labels are
      ``labels`` when given (the classes visualisations were made for), else each original's top-1
      class; None (and a note) with neither.
    - with ``originals``: **class_kept** (the share whose top-1 class is their original's),
      **original_similarity** (mean cos(φ(x), φ(x0))) and **original_plausibility** (the originals'
      plausibility, what a perfect reconstruction scores).

    Features come from `jaxinv.scores.path_features`: the judge's layer and its class scores in one
    forward pass, every picture warped to the network's input size.

    Args:
      pictures: N pictures (H, W, C) in [0, 255].
      judge: a layer of a jaxinv network as trained, e.g. ``jaxinv.cnn("squeezenet1_1", layer="pool10")``.
      key: the `jax.random` key of KID's subsets.
      reference: natural pictures, default `jaxinv.scores.reference_pictures` (the shared 100).
      labels: the class each picture was made for (N integers), or None.
      originals: the picture each one reconstructs: N of them, or one for all; None for visualisations.
      k: the top-k of transferability (1 to the judge's number of classes).
      batch: pictures per compiled program.

    Returns:
      A dict of `SCORE_DEFINITIONS`' keys; None where a measure is undefined, ``notes`` saying why.
    """
    found = _stack(pictures, "pictures")
    originals_found = _originals(originals, len(found))
    if labels is not None and len(list(labels)) != len(found):
        raise JaxinvError(f"{len(list(labels))} labels for {len(found)} pictures; pass one class per picture")
    network, layer, classes_at = _judge_layers(judge)
    layers = [layer] + ([classes_at] if classes_at is not None and classes_at != layer else [])
    made = path_features(judge, found, layers=layers, batch=batch)
    real = path_features(judge, reference_pictures() if reference is None else _stack(reference, "references"),
                         layers=[layer], batch=batch)[0]
    shown = None if originals_found is None else [
        np.repeat(a, len(found) // len(originals_found), axis=0)
        for a in path_features(judge, originals_found, layers=layers, batch=batch)]
    at = layers.index(classes_at) if classes_at is not None else None
    notes: dict[str, str] = {}
    classes, rows = _class_part(len(found), None if at is None else made[at],
                                None if at is None or shown is None else shown[at], labels, k=k, notes=notes,
                                network=network)
    each = np.asarray(plausibility(made[0], real))
    kid_scores, why = _kid_part(made[0], real, key)
    if why is not None:
        notes["kid"] = why
    similar = None if shown is None else _cosines(made[0], shown[0])
    if shown is None:
        notes.update({name: "no originals: these pictures reconstruct no picture" for name in
                      ("class_kept", "original_similarity", "original_plausibility")})
    rows = [{"plausibility": float(each[i]), **row,
             "original_similarity": None if similar is None else float(similar[i])} for i, row in enumerate(rows)]
    return {"judge": judge.name, "class_layer": classes_at, "reference_pictures": len(real), "k": k,
            "plausibility": float(np.mean(each)), **kid_scores, **classes,
            "original_similarity": None if similar is None else float(np.mean(similar)),
            "original_plausibility": None if shown is None else float(np.mean(plausibility(shown[0], real))),
            "notes": notes, "pictures": rows,
            "definitions": dict(SCORE_DEFINITIONS)}


def score_result(result: Any, *, judge: Representation, key: jax.Array,
                 reference: Sequence[np.ndarray] | np.ndarray | None = None,
                 original: Sequence[np.ndarray] | np.ndarray | None = None, k: int = 5,
                 batch: int = 8) -> dict[str, Any]:
    """`score_pictures` of a result in memory: every picture of ``result.images`` (..., H, W, C).

    A `jaxinv.visualize.Visualization` (``images`` (B, R, H, W, 3)) brings its labels: a cell made
    for ``class C`` is labelled C (when every cell is a class; else there are no labels). An
    `jaxinv.InversionResult` brings none; pass ``original=``, the picture it reconstructs (as
    ``jaxinv.images`` loads it), or for `jaxinv.invert_batch`'s (N, S, ...) the N pictures, each
    shared by its S seeds. The pictures come in ``images``' order, flattened.
    """
    images = np.asarray(result.images)
    if images.ndim < 4:
        raise JaxinvError(f"result.images has shape {images.shape}; pass a result of jaxinv.invert or maximize")
    lead = images.shape[:-3]
    pictures = list(images.reshape(-1, *images.shape[-3:]))
    each = len(pictures) // lead[0]
    found = [class_of_label(str(label)) for label in getattr(result, "labels", None) or ()]
    known = [c for c in found if c is not None]
    labels = [c for c in known for _ in range(each)] if found and len(known) == len(found) == lead[0] else None
    originals: list[np.ndarray] | None = None
    if isinstance(original, np.ndarray) and original.ndim == 3:  # one picture, shared by every seed
        originals = [original]
    elif original is not None:
        originals = [o for o in _stack(original, "originals") for _ in range(each)]
    return score_pictures(pictures, judge=judge, key=key, reference=reference, labels=labels, originals=originals,
                          k=k, batch=batch)
