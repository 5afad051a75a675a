"""The table of official weight files (``official.json`` beside this module) and known shapes.

``official.json`` is the one source of truth for names, URLs and published checksums; this
module only loads it. The shape tables below are a fallback check for conversions when the
networks package offers none; ``jaxinv.networks`` is the authority on architectures.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
from collections.abc import Mapping

import numpy as np

from jaxinv.errors import JaxinvError

__all__ = ["OfficialFile", "ALGORITHMS", "check_shapes", "entries", "entry", "expected_shapes"]

ALGORITHMS = ("sha1", "sha256", "sha256-prefix")
_TABLE = pathlib.Path(__file__).with_name("official.json")


@dataclasses.dataclass(frozen=True)
class OfficialFile:
    """One official weight file: where to get it and how to check it."""

    name: str
    network: str
    description: str
    file: str
    format: str
    url: str
    hash: str | None
    algorithm: str | None
    hash_source: str
    prototxt_url: str | None
    licence: str


@functools.cache
def entries() -> tuple[OfficialFile, ...]:
    """All official files, in the table's order."""
    table = json.loads(_TABLE.read_text(encoding="utf-8"))
    files = tuple(OfficialFile(**row) for row in table["files"])
    for row in files:
        if (row.hash is None) != (row.algorithm is None) or (row.algorithm and row.algorithm not in ALGORITHMS):
            raise AssertionError(f"official.json: bad checksum fields for {row.name!r}")
    return files


def entry(name: str) -> OfficialFile:
    """The official file called ``name`` (or, failing that, the first one for network ``name``)."""
    for row in entries():
        if row.name == name:
            return row
    for row in entries():
        if row.network == name:
            return row
    known = ", ".join(row.name for row in entries())
    raise JaxinvError(f"unknown weights name {name!r}; use one of {known} (see 'jaxinv weights list')")


def _alexnet_family(channels: tuple[int, int, int, int, int], groups: tuple[int, ...], in_ch: int = 3
                    ) -> dict[str, list[tuple[int, ...]]]:
    kernels = (11, 5, 3, 3, 3)
    shapes: dict[str, list[tuple[int, ...]]] = {}
    previous = in_ch
    for index, (out, k) in enumerate(zip(channels, kernels)):
        group = groups[index]
        shapes[f"conv{index + 1}"] = [(out, previous // group, k, k), (out,)]
        previous = out
    shapes["fc6"] = [(4096, channels[-1] * 6 * 6), (4096,)]
    shapes["fc7"] = [(4096, 4096), (4096,)]
    shapes["fc8"] = [(1000, 4096), (1000,)]
    return shapes


_CAFFENET = _alexnet_family((96, 256, 384, 384, 256), (1, 2, 1, 2, 2))
_SHAPES: Mapping[str, dict[str, list[tuple[int, ...]]]] = {
    "caffenet": _CAFFENET,
    "alexnet": _CAFFENET,  # BVLC AlexNet differs from CaffeNet in layer order, not in shapes
    "alexnet_torchvision": _alexnet_family((64, 192, 384, 256, 256), (1, 1, 1, 1, 1)),
}


def expected_shapes(name: str) -> dict[str, list[tuple[int, ...]]] | None:
    """Canonical blob shapes ``{layer: [weight shape, bias shape]}`` of network ``name``.

    From the networks package when it knows ``name``, else from the AlexNet-family table here,
    else None.
    """
    try:
        from jaxinv.networks.graph import blob_shapes
        from jaxinv.networks.registry import NETWORKS
    except ImportError:
        NETWORKS = {}
    if name in NETWORKS:
        spec = NETWORKS[name]
        return {layer: [tuple(s) for s in shapes] for layer, shapes in blob_shapes(spec.nodes, spec.input_shape).items()}
    shapes = _SHAPES.get(name)
    return None if shapes is None else {layer: list(s) for layer, s in shapes.items()}


def check_shapes(name: str, blobs: Mapping[str, list[np.ndarray]]) -> None:
    """Raise JaxinvError if ``blobs`` lack a layer of network ``name`` or have a wrong shape.

    Networks not tabled here pass unchecked (the networks package checks them when loading).
    """
    shapes = expected_shapes(name)
    if shapes is None:
        return
    missing = [layer for layer in shapes if layer not in blobs]
    if missing:
        raise JaxinvError(
            f"the weights lack layers {missing} of network {name!r}; check --name matches the file"
        )
    for layer, wanted in shapes.items():
        got = [tuple(np.shape(a)) for a in blobs[layer]]
        if got != [tuple(s) for s in wanted]:
            raise JaxinvError(
                f"layer {layer!r} has blob shapes {got}, network {name!r} needs {wanted};"
                " check --name matches the file"
            )
