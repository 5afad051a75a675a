"""The judge's features of pictures, and the reference pictures: the host side of `jaxinv.scores`.

A judge is any jaxinv `Representation`, usually a layer of a pretrained network
(``jaxinv.cnn("googlenet", layer="loss3/classifier")``); the reference set is any folder of
pictures, by default the shared 100 ImageNet pictures.
"""

from __future__ import annotations

import functools
import os
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv import images
from jaxinv.errors import JaxinvError
from jaxinv.networks.graph import ancestors
from jaxinv.networks.registry import Features, resolve_layer, spec
from jaxinv.representation import Representation
from jaxinv.representations.cnn import CNNFeatures

__all__ = [
    "PICTURE_SUFFIXES",
    "REFERENCE_ENV",
    "judge_features",
    "path_features",
    "reference_folder",
    "reference_pictures",
]

#: The environment variable naming the default reference folder (as the benchmarks read it).
REFERENCE_ENV = "JAXINV_IMAGENET100"
#: The files `reference_pictures` reads from a folder (case-insensitive).
PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def reference_folder() -> pathlib.Path:
    """The default reference set: ``$JAXINV_IMAGENET100``, else a source checkout's
    ``../shared/data/imagenet100`` (the shared 100 ImageNet pictures); a `JaxinvError` if neither is a folder."""
    given = os.environ.get(REFERENCE_ENV)
    root = pathlib.Path(__file__).resolve().parents[2]
    checkout = (root / "pyproject.toml").is_file() and (root / "jaxinv" / "__init__.py").is_file()
    folder = (pathlib.Path(given).expanduser() if given
              else root.parent / "shared" / "data" / "imagenet100" if checkout else None)
    if folder is None or not folder.is_dir():
        where = f" ({folder} is not a folder)" if folder is not None else ""
        raise JaxinvError(f"no default reference pictures{where}; set {REFERENCE_ENV} to a folder of pictures, or"
                          " pass folder=")
    return folder


def picture_files(folder: pathlib.Path) -> list[pathlib.Path]:
    """The files of a folder whose suffix is one of `PICTURE_SUFFIXES`, in name order; a
    `JaxinvError` when there are none."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in PICTURE_SUFFIXES and p.is_file())
    if not files:
        raise JaxinvError(f"no pictures in {str(folder)!r}; it needs {', '.join(PICTURE_SUFFIXES)} files")
    return files


def reference_pictures(*, folder: str | os.PathLike | None = None, limit: int | None = None) -> list[np.ndarray]:
    """The pictures of ``folder`` (default `reference_folder`), in file-name order, as float32 (H, W, 3) in [0, 255].

    Every file whose suffix is one of `PICTURE_SUFFIXES` is read (`jaxinv.images.load`; gray ones
    as three equal channels); ``limit`` keeps the first ``limit``.
    """
    root = reference_folder() if folder is None else pathlib.Path(folder)
    if not root.is_dir():
        raise JaxinvError(f"{str(root)!r} is not a folder; pass a folder of pictures")
    files = picture_files(root)
    if limit is not None and limit < 1:
        raise JaxinvError(f"limit = {limit}; pass a number of pictures >= 1, or None for all")
    return [images.load(p) for p in files[:limit]]


def _inputs(rep: Representation, pictures: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """The pictures in the judge's input space, stacked (N, *input)."""
    if len(pictures) == 0:
        raise JaxinvError("no pictures to judge; pass at least one")
    inputs = []
    for picture in pictures:
        picture = images.as_picture(np.asarray(picture))
        if picture.shape[-1] == 1 and rep.channels == 3:  # a gray picture, as three equal channels
            picture = np.repeat(picture, 3, axis=-1)
        x = np.asarray(rep.preprocess(picture), np.float32)
        rep.check_input(x.shape)
        inputs.append(x)
    if len({x.shape for x in inputs}) > 1:
        raise JaxinvError(f"{rep.name} takes pictures of any size, and these differ; resize them to one size"
                          " (jaxinv.images.resize) so that their features can be compared")
    return np.stack(inputs)


def _batched(function: Callable[[Any, jax.Array], Any], params: Any, inputs: np.ndarray, batch: int) -> list[Any]:
    """``function(params, chunk)`` of each chunk of ``batch`` inputs, the last padded to the same
    shape (one compiled program) and its padding dropped from every output."""
    if batch < 1:
        raise JaxinvError(f"batch = {batch}; pass a number of pictures per program >= 1")
    out: list[Any] = []
    for start in range(0, len(inputs), batch):
        part = inputs[start:start + batch]
        padded = np.concatenate([part, np.zeros((batch - len(part), *part.shape[1:]), part.dtype)])
        result = function(params, jnp.asarray(padded))
        out.append(jax.tree.map(functools.partial(_first, count=len(part)), result))
    return out


def _first(array: jax.Array, *, count: int) -> np.ndarray:
    return np.asarray(array)[:count]


@functools.lru_cache(maxsize=32)
def _vmapped(features: Callable[[Any, jax.Array], jax.Array]) -> Callable[[Any, jax.Array], jax.Array]:
    return jax.jit(jax.vmap(features, in_axes=(None, 0)))


def judge_features(rep: Representation, pictures: Sequence[np.ndarray] | np.ndarray, *,
                   batch: int = 16) -> np.ndarray:
    """The judge's code of each picture, stacked: (N, *code shape) float32 on the host.

    Each picture ([0, 255], any size) goes through ``rep.preprocess`` (a network warps it to its
    input size) and ``rep.features``, ``batch`` pictures per compiled program, so that row i is
    ``rep(pictures[i])``. For a classifier's last layer the rows are its logits
    (`jaxinv.scores.transferability`); for any layer, the features `plausibility`, `kid` and
    `frechet_distance` compare.

    Args:
      rep: the judge, e.g. ``jaxinv.cnn("googlenet", layer="loss3/classifier")``.
      pictures: (H, W, C) pictures in [0, 255]; of one size unless ``rep`` warps them.
      batch: pictures per program (memory against the number of programs run).
    """
    inputs = _inputs(rep, pictures)
    try:
        run = _vmapped(rep.features)
    except TypeError:  # an unhashable features callable: compiled for this call only
        run = jax.jit(jax.vmap(rep.features, in_axes=(None, 0)))
    return np.concatenate(_batched(run, rep.params, inputs, min(batch, len(inputs)))).astype(np.float32)


@functools.lru_cache(maxsize=32)
def _layers_program(network: str, deepest: str, wanted: tuple[str, ...]) -> Callable[[Any, jax.Array], Any]:
    features = Features(network)

    def run(params: Any, x: jax.Array) -> tuple[jax.Array, ...]:
        acts = features.activations(params, x, layer=deepest)
        return tuple(acts[layer] for layer in wanted)

    return jax.jit(run)


def _groups(network: str, layers: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """(deepest, layers) groups that one forward pass each computes, deepest layer first."""
    order = spec(network).layers
    nodes = spec(network).nodes
    todo = sorted(set(layers), key=order.index, reverse=True)
    groups = []
    while todo:
        deepest = todo[0]
        on_the_way = ancestors(nodes, deepest)
        groups.append((deepest, tuple(layer for layer in todo if layer in on_the_way)))
        todo = [layer for layer in todo if layer not in on_the_way]
    return groups


def trained_network_features(judge: Representation, *, judging: str) -> CNNFeatures:
    """The features of ``judge``, a layer of a jaxinv network as trained, which judges ``judging``;
    anything else (HOG, a function of your own, leaky ReLUs) is refused with the fix."""
    features = judge.features
    if not isinstance(features, CNNFeatures):
        raise JaxinvError(f"the judge {judge.name} is not a layer of a jaxinv network; pass a network layer as the"
                          f" judge of {judging}, e.g. jaxinv.cnn('squeezenet1_1', layer='pool10')")
    if features.relu_slope:
        raise JaxinvError(f"the judge {judge.name} has leaky ReLUs (relu_slope={features.relu_slope}); judge with the"
                          f" trained network, jaxinv.cnn({features.network!r}, layer=...)")
    return features


def path_features(rep: Representation, pictures: Sequence[np.ndarray] | np.ndarray, *, layers: Sequence[str],
                  batch: int = 8) -> list[np.ndarray]:
    """The judge network's features of each picture at each of ``layers``: one (N, *S_l) array per layer.

    What `jaxinv.scores.activation_path` compares. ``rep`` is a layer of a jaxinv network
    (`jaxinv.cnn`, the network as trained); its weights serve every layer, and every layer on
    the way to the deepest one asked for is computed in one forward pass per batch. Layer names
    are the network's (``jaxinv.networks.describe_layers``), short aliases such as ``fire5``
    included; the arrays come in the order of ``layers``. Memory grows with the layers' sizes:
    early convolutional layers hold about a megabyte per picture.

    Args:
      rep: a layer of a jaxinv network, e.g. ``jaxinv.cnn("squeezenet1_1", layer="pool10")``.
      pictures: (H, W, C) pictures in [0, 255], warped to the network's input size.
      layers: the layers of the curve, shallow to deep (at least one).
      batch: pictures per program.
    """
    features = trained_network_features(rep, judging="the path check")
    if isinstance(layers, str) or not layers:
        raise JaxinvError("layers must be a list of layer names (at least one); pass e.g. layers=['fire3', 'fire5']")
    names = [resolve_layer(features.network, layer) for layer in layers]
    inputs = _inputs(rep, pictures)
    found: dict[str, np.ndarray] = {}
    for deepest, wanted in _groups(features.network, names):
        chunks = _batched(_layers_program(features.network, deepest, wanted), rep.params, inputs,
                          min(batch, len(inputs)))
        for i, layer in enumerate(wanted):
            found[layer] = np.concatenate([chunk[i] for chunk in chunks]).astype(np.float32)
    return [found[name] for name in names]
