"""Representations by name, as the CLI and the benchmarks spell them: ``NAME[:LAYER]``.

- ``hog``, ``hogb``, ``dsift``: the paper's shallow representations (METHOD.md §3), on
  255·gray − 128 at full resolution.
- ``avgpool``: 2×2 average pooling (a linear test bed).
- ``NETWORK:LAYER``: a layer of a network of `jaxinv.networks` (``caffenet:conv5``,
  ``squeezenet1_1:fire5``, ``googlenet:inception_4a``), with its weights from ``weights=``
  or the cache.
"""

from __future__ import annotations

import difflib
import os
import pathlib
from collections.abc import Callable

from jaxinv.errors import JaxinvError
from jaxinv.representation import Representation

__all__ = ["get", "shallow_names", "network_names", "network_layers", "network_layer_descriptions"]


def _hog() -> Representation:
    from jaxinv.representations.hog import paper_hog
    return paper_hog()


def _hogb() -> Representation:
    from jaxinv.representations.hog import paper_hogb
    return paper_hogb()


def _dsift() -> Representation:
    from jaxinv.representations.dsift import paper_dsift
    return paper_dsift()


def _avgpool() -> Representation:
    from jaxinv.representations.pooling import average_pool
    return average_pool(factor=2)


SHALLOW: dict[str, tuple[Callable[[], Representation], str]] = {
    "hog": (_hog, "VLFeat HOG (UoCTTI, 27-D, cell 8, hard orientations), the paper's HOG"),
    "hogb": (_hogb, "VLFeat HOG with bilinear orientations, the paper's HOGb"),
    "dsift": (_dsift, "VLFeat dense SIFT, bin 5, step 15 px, the paper's DSIFT"),
    "avgpool": (_avgpool, "2x2 average pooling, a linear test representation"),
}


def shallow_names() -> list[str]:
    """The shallow representations' names (``hog``, ``hogb``, ``dsift``, ``avgpool``), which take no layer."""
    return list(SHALLOW)


def network_names() -> list[str]:
    """The networks' names (``caffenet``, ``squeezenet1_1``, …), each taken as ``NETWORK:LAYER``."""
    from jaxinv.networks import NETWORKS
    return list(NETWORKS)


def network_layers(network: str) -> list[str]:
    """The layers of ``network`` a representation can end at, input to output."""
    from jaxinv.networks import spec
    return list(spec(network).layers)


def network_layer_descriptions(network: str) -> dict[str, str]:
    """{layer: what its output is, its shape and its aliases} for `jaxinv reps`."""
    from jaxinv.networks import describe_layers
    return describe_layers(network)


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def get(spec: str, *, weights: str | os.PathLike | None = None) -> Representation:
    """The representation named ``spec`` (``hog``, ``squeezenet1_1:fire5``, …)."""
    name, _, layer = spec.partition(":")
    if name in SHALLOW:
        if layer:
            raise JaxinvError(f"{name!r} has no layers; use --rep {name}")
        if weights is not None:
            raise JaxinvError(f"{name} takes no weights; drop --weights (weights=) or name a network layer")
        return SHALLOW[name][0]()
    networks = network_names()
    if name not in networks:
        options = shallow_names() + networks
        raise JaxinvError(
            f"unknown representation {name!r}{_suggest(name, options)}; use one of: {', '.join(options)}"
            " (networks as NETWORK:LAYER; `jaxinv reps` lists the layers)"
        )
    layers = network_layers(name)
    if not layer:
        raise JaxinvError(f"{name} needs a layer, as {name}:LAYER; its layers: {', '.join(layers)}")
    from jaxinv.representations.cnn import cnn
    return cnn(name, layer=layer, weights=None if weights is None else pathlib.Path(weights))
