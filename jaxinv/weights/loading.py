"""A network with its weights from a file, the cache or blobs: the reader above the architectures."""

from __future__ import annotations

import pathlib

from jaxinv.errors import JaxinvError
from jaxinv.networks import Network, load
from jaxinv.weights import Blobs, read_blobs

__all__ = ["load_network", "cached_weights"]


def cached_weights(name: str) -> pathlib.Path:
    """The converted weights of network ``name`` in the cache, or a `JaxinvError` that says how to get them."""
    from jaxinv.weights.cache import cached_path

    hint = (f"no weights given for {name} and none in the cache; pass weights=PATH (CLI: --weights PATH),"
            f" or cache them with `jaxinv weights convert FILE --name {name}` or `jaxinv weights download {name}`")
    try:
        path = cached_path(name)
    except (FileNotFoundError, KeyError, LookupError):
        path = None
    if path is None or not pathlib.Path(path).is_file():
        raise JaxinvError(hint)
    return pathlib.Path(path)


def load_network(name: str, *, weights: str | pathlib.Path | Blobs | None = None,
                 prototxt: str | pathlib.Path | None = None) -> Network:
    """Network ``name`` with ``weights``: a file path (any format `read_blobs` reads), a canonical
    blobs dict, or None for the converted weights in the cache."""
    from jaxinv.networks import spec

    spec(name)  # an unknown name is refused before any file is read
    if weights is None:
        weights = cached_weights(name)
    if isinstance(weights, (str, pathlib.Path)):
        weights = read_blobs(weights, network=name, prototxt=prototxt)
    return load(name, weights=weights)
