"""A network with its weights from a file, the cache or blobs: the reader above the architectures."""

from __future__ import annotations

import pathlib

from jaxinv.networks import Network, load
from jaxinv.weights import Blobs, read_blobs

__all__ = ["load_network", "cached_weights"]


def cached_weights(name: str) -> pathlib.Path:
    """The weights of network ``name`` when none are given: the cache's converted file, else the
    shared folder's (`jaxinv.weights.shared.locate_weights`), or a one-line `JaxinvError` naming
    every place looked at and how to get them."""
    from jaxinv.weights.shared import locate_weights

    return locate_weights(name)


def load_network(name: str, *, weights: str | pathlib.Path | Blobs | None = None,
                 prototxt: str | pathlib.Path | None = None) -> Network:
    """Network ``name`` with ``weights``: a file path (any format `read_blobs` reads), a canonical
    blobs dict, or None for the converted weights in the cache or, failing that, the shared
    folder's Caffe file (`jaxinv.weights.shared`)."""
    from jaxinv.networks import spec

    spec(name)  # an unknown name is refused before any file is read
    if weights is None:
        weights = cached_weights(name)
    if isinstance(weights, (str, pathlib.Path)):
        weights = read_blobs(weights, network=name, prototxt=prototxt)
    return load(name, weights=weights)
