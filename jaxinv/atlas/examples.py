"""Dataset examples: for every unit of a layer, the pictures of a folder that excite it most and least.

A unit of a convolutional layer is a channel c; its response to picture n is its strongest
value over the positions p of the code, s[n, c] = max_p Φ(xₙ)[p, c], at p*[n, c] = argmax_p
(the first position in row-major order on ties). `dataset_examples` runs the network as
trained over the folder in batches (one forward pass per batch computes every layer asked for
that lies on one path, each reduced to s and p* inside the compiled program) and keeps for each
unit a running top-k (largest s) and bottom-k (smallest s: the pictures that excite it least
anywhere), each with its picture's index and position; the activations themselves are never
stored. Ties are broken by the picture's index (the earlier file first). `crop_box` sizes the
crop around p* by the unit's receptive field (lucid's and OpenAI Microscope's dataset examples;
Olah et al. 2017, "Feature Visualization", Distill).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv import images
from jaxinv.errors import JaxinvError
from jaxinv.networks.graph import ancestors
from jaxinv.networks.registry import Features, spec
from jaxinv.representation import Representation
from jaxinv.representations.cnn import CNNFeatures

__all__ = ["UnitExtremes", "crop_box", "dataset_examples", "network_picture"]


@dataclasses.dataclass(frozen=True)
class UnitExtremes:
    """The k pictures of largest and of smallest response s per channel of one layer.

    Attributes:
      layer: the layer's name; code_shape: its (H, W, C) at the network's input size.
      top_values: s of the k most exciting pictures, largest first, (C, k); top_pictures their
        indices in the folder's file order, (C, k); top_positions their p* (row, column), (C, k, 2).
      bottom_values, bottom_pictures, bottom_positions: the same for the k least exciting,
        smallest first.
      pictures: N, the pictures seen.
    """

    layer: str
    code_shape: tuple[int, int, int]
    top_values: np.ndarray
    top_pictures: np.ndarray
    top_positions: np.ndarray
    bottom_values: np.ndarray
    bottom_pictures: np.ndarray
    bottom_positions: np.ndarray
    pictures: int

    def to_json(self) -> dict[str, Any]:
        """Every field as plain lists and numbers (`jaxinv.files.write_json`); `from_json` reads them back."""
        return {f.name: np.asarray(getattr(self, f.name)).tolist() for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> UnitExtremes:
        """The extremes `to_json` wrote."""
        h, w, c = (int(v) for v in record["code_shape"])
        return cls(str(record["layer"]), (h, w, c), np.asarray(record["top_values"], np.float64),
                   np.asarray(record["top_pictures"], np.int64), np.asarray(record["top_positions"], np.int64),
                   np.asarray(record["bottom_values"], np.float64), np.asarray(record["bottom_pictures"], np.int64),
                   np.asarray(record["bottom_positions"], np.int64), int(record["pictures"]))


def network_picture(rep: Representation, picture: np.ndarray) -> np.ndarray:
    """``picture`` as the network sees it, back in RGB [0, 255]: warped to its input size, (S, S, 3)."""
    picture = _rgb(images.as_picture(np.asarray(picture)))
    return np.clip(np.asarray(rep.deprocess(rep.preprocess(picture)), np.float32), 0, 255)


@functools.lru_cache(maxsize=16)
def _program(network: str, deepest: str, layers: tuple[str, ...]) -> Callable[[Any, jax.Array], Any]:
    """(s, p*) of each of ``layers`` for a batch, (n, C) each, from one pass to ``deepest``."""
    features = Features(network)

    def run(params: Any, x: jax.Array) -> tuple[tuple[jax.Array, jax.Array], ...]:
        acts = features.activations(params, x, layer=deepest)
        out = []
        for layer in layers:
            a = acts[layer]
            flat = a.reshape(a.shape[0], -1, a.shape[-1])
            out.append((jnp.max(flat, axis=1), jnp.argmax(flat, axis=1)))
        return tuple(out)

    return jax.jit(run)


def _passes(network: str, layers: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """(deepest, layers) per forward pass: every layer on the way to a pass's deepest joins it."""
    order, nodes = spec(network).layers, spec(network).nodes
    todo = sorted(set(layers), key=order.index, reverse=True)
    found = []
    while todo:
        on_the_way = ancestors(nodes, todo[0])
        found.append((todo[0], tuple(layer for layer in todo if layer in on_the_way)))
        todo = [layer for layer in todo if layer not in on_the_way]
    return found


class _Running:
    """The running top-k and bottom-k of one layer (host arrays, (C, ≤k))."""

    def __init__(self, channels: int, k: int):
        self.k = k
        empty = np.zeros((channels, 0))
        self.top: tuple[np.ndarray, ...] = (empty, empty.astype(np.int64), np.zeros((channels, 0, 2), np.int64))
        self.bottom: tuple[np.ndarray, ...] = self.top

    def add(self, values: np.ndarray, first: int, flat: np.ndarray, width: int) -> None:
        """A batch's s (n, C) and flat p* (n, C), its pictures numbered from ``first``."""
        n, c = values.shape
        pictures = np.broadcast_to(np.arange(first, first + n)[None], (c, n))
        positions = np.stack(np.divmod(flat.T, width), axis=-1)
        self.top = self._merge(self.top, (values.T.astype(np.float64), pictures, positions), sign=-1.0)
        self.bottom = self._merge(self.bottom, (values.T.astype(np.float64), pictures, positions), sign=1.0)

    def extremes(self, layer: str, shape: tuple[int, int, int], pictures: int) -> UnitExtremes:
        """What was kept, as `UnitExtremes`."""
        (tv, tp, tpos), (bv, bp, bpos) = self.top, self.bottom
        return UnitExtremes(layer, shape, tv, tp, tpos, bv, bp, bpos, pictures)

    def _merge(self, kept: tuple[np.ndarray, ...], new: tuple[np.ndarray, ...], *, sign: float
               ) -> tuple[np.ndarray, ...]:
        # kept entries have smaller picture indices than new ones: a stable sort keeps ties in file order
        joined = [np.concatenate([a, b], axis=1) for a, b in zip(kept, new)]
        order = np.argsort(sign * joined[0], axis=1, kind="stable")[:, :self.k]
        return tuple(np.take_along_axis(a, order if a.ndim == 2 else order[..., None], axis=1) for a in joined)


def dataset_examples(rep: Representation, files: Sequence[str | os.PathLike], *, layers: Sequence[str],
                     k: int = 9, batch: int = 16) -> dict[str, UnitExtremes]:
    """Every channel's top-k and bottom-k pictures of ``files`` at each of ``layers``.

    Args:
      rep: a layer of a jaxinv network as trained (``jaxinv.cnn(NETWORK, layer=...)``); its
        weights and preprocessing (warped to the input size S) serve every layer.
      files: the pictures, in the order their indices refer to (at least one).
      layers: the layers' full names (`jaxinv.networks.resolve_layer`).
      k: the pictures kept per unit and side (at most the number of pictures).
      batch: pictures per forward pass (loaded, run and dropped one batch at a time).
    """
    features = rep.features
    if not isinstance(features, CNNFeatures) or features.relu_slope:
        raise JaxinvError(f"{rep.name} is not a layer of a jaxinv network as trained; pass"
                          " jaxinv.cnn(NETWORK, layer=...) without relu_slope")
    if not files:
        raise JaxinvError("no pictures given for the dataset examples; pass a folder with pictures")
    if k < 1 or batch < 1:
        raise JaxinvError(f"k = {k}, batch = {batch}; pass k >= 1 and batch >= 1")
    k = min(k, len(files))
    shapes = {layer: _shape(CNNFeatures(features.network, layer), rep) for layer in layers}
    running = {layer: _Running(shapes[layer][-1], k) for layer in layers}
    passes = _passes(features.network, layers)
    for first in range(0, len(files), batch):
        part = [np.asarray(rep.preprocess(_rgb(images.load(f))), np.float32) for f in files[first:first + batch]]
        padded = np.concatenate([np.stack(part), np.zeros((batch - len(part), *part[0].shape), np.float32)])
        for deepest, wanted in passes:
            results = _program(features.network, deepest, wanted)(rep.params, jnp.asarray(padded))
            for layer, (values, flat) in zip(wanted, results):
                running[layer].add(np.asarray(values)[:len(part)], first, np.asarray(flat)[:len(part)],
                                   shapes[layer][1])
    return {layer: running[layer].extremes(layer, shapes[layer], len(files)) for layer in layers}


def _shape(features: CNNFeatures, rep: Representation) -> tuple[int, int, int]:
    """The code's (H, W, C) at the network's input size."""
    h, w, c = (int(v) for v in jax.eval_shape(features, rep.params,
                                              jax.ShapeDtypeStruct(rep.input_shape, jnp.float32)).shape)
    return h, w, c


def _rgb(picture: np.ndarray) -> np.ndarray:
    """A gray picture (H, W, 1) as three equal channels; an RGB one as it is."""
    return np.repeat(picture, 3, axis=-1) if picture.ndim == 3 and picture.shape[-1] == 1 else picture


def crop_box(position: Sequence[int], code_shape: Sequence[int], *, field: int, size: int) -> tuple[int, int, int]:
    """(top, left, side) of the crop of an S×S network picture around code position (i, j).

    The unit at (i, j) of an H×W code is centred near ((i + ½)·S/H, (j + ½)·S/W) (the code
    spread evenly over the picture: exact up to a stride at the borders); the crop is its
    receptive field, ``field`` pixels a side (at most S), moved inside the picture.
    """
    side = int(min(field, size))
    corner = []
    for index, cells in zip(position, code_shape[:2]):
        centre = (int(index) + 0.5) * size / int(cells)
        corner.append(int(np.clip(round(centre - side / 2), 0, size - side)))
    return corner[0], corner[1], side
