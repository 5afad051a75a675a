"""State dicts under torchvision's key names → canonical blobs of VGG-16, ResNet-50, ViT-B/16.

The networks of `jaxinv.networks` whose spec has a ``family`` name their layers by
torchvision's module paths, so a node ``features.0`` reads ``features.0.weight`` and
``features.0.bias``; a node lists other keys in ``Node.keys`` (attention's ``in_proj_weight``
…, the embedding's ``encoder.pos_embedding`` and ``class_token``). A convolution with
``Node.bn`` has its BatchNorm folded in (inference):

    s = γ / √(σ² + ε),  W' = W · s (per output channel),  b' = β − μ s,   ε = 1e-5

(``nn.BatchNorm2d``'s default ε). The weight file's pre-processing becomes the blobs of the
hidden ``normalize`` node: [mean (0-255, RGB), scale] such that the network computes
``(pixel − mean) · scale``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from jaxinv.errors import JaxinvError
from jaxinv.networks.graph import Node
from jaxinv.weights import Blobs

__all__ = ["BN_EPS", "blobs_from_state", "expected_keys", "family_of", "torchvision_preprocessing"]

BN_EPS = 1e-5
_BN_PARTS = ("weight", "bias", "running_mean", "running_var")


def family_of(network: str | None) -> str:
    """The torchvision-named family (``vgg16``, ``resnet50``, ``vit_b_16``) of ``network``, or ''."""
    if network is None:
        return ""
    from jaxinv.networks import NETWORKS
    spec = NETWORKS.get(network)
    return spec.family if spec is not None else ""


def torchvision_preprocessing() -> tuple[tuple[float, ...], tuple[float, ...]]:
    """torchvision's ``Normalize(mean, std)`` on x/255 as (mean in 0-255, scale): RGB, 224."""
    from jaxinv.networks.vgg16 import TORCHVISION_MEAN, TORCHVISION_STD
    return tuple(255.0 * m for m in TORCHVISION_MEAN), tuple(1.0 / (255.0 * s) for s in TORCHVISION_STD)


def _node_keys(node: Node) -> tuple[str, ...]:
    return node.keys or (f"{node.name}.weight", f"{node.name}.bias")


def expected_keys(network: str) -> dict[str, tuple[int, ...]]:
    """{state-dict key: shape} of network ``network``, in the network's order."""
    from jaxinv.networks import spec
    from jaxinv.networks.graph import blob_shapes

    s = spec(network)
    shapes = blob_shapes(s.nodes, s.input_shape)
    out: dict[str, tuple[int, ...]] = {}
    for node in s.nodes:
        if node.name not in shapes or node.op == "normalize":
            continue
        keys, wanted = _node_keys(node), shapes[node.name]
        if node.bn:
            out[keys[0]] = tuple(wanted[0])
            out.update({f"{node.bn}.{part}": tuple(wanted[1]) for part in _BN_PARTS})
        else:
            out.update({key: tuple(shape) for key, shape in zip(keys, wanted)})
    return out


def _looks_like(state_keys: set[str], network: str) -> str:
    """A hint naming the network whose keys ``state_keys`` are, when it is another one."""
    from jaxinv.networks import NETWORKS

    for name, other in NETWORKS.items():
        if other.family and name != network and other.family != NETWORKS[network].family \
                and set(expected_keys(name)) <= state_keys:
            return f" (its keys are {name}'s: pass --name {name})"
    return ""


def _check_keys(state: Mapping[str, np.ndarray], network: str, file: str, fix: str) -> None:
    wanted = expected_keys(network)
    keys = set(state)
    ignorable = {k for k in keys if k.endswith(".num_batches_tracked")}
    missing = [k for k in wanted if k not in keys]
    unexpected = sorted(keys - set(wanted) - ignorable)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:4]}" + (f" and {len(missing) - 4} more" if len(missing) > 4 else ""))
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:4]}" + (f" and {len(unexpected) - 4} more" if len(unexpected) > 4 else ""))
        raise JaxinvError(f"{file!r} is not a {network} state dict{_looks_like(keys, network)}:"
                          f" {'; '.join(parts)}; {fix}")
    for key, shape in wanted.items():
        got = tuple(np.shape(state[key]))
        if got != shape:
            raise JaxinvError(f"{file!r}: {key} has shape {got}, {network} needs {shape}"
                              f" (the first key that does not fit); {fix}")


def blobs_from_state(state: Mapping[str, np.ndarray], network: str, *, file: str, fix: str,
                     mean: tuple[float, ...], scale: tuple[float, ...]) -> Blobs:
    """Check ``state`` (float32 numpy arrays by torchvision key) against ``network``; blobs.

    Missing or unexpected keys and the first wrong shape raise a one-line `JaxinvError`.
    """
    from jaxinv.networks import spec

    _check_keys(state, network, file, fix)
    params = _param_names(network)
    blobs: Blobs = {}
    for node in spec(network).nodes:
        if node.op == "normalize":
            blobs[node.name] = [np.asarray(mean, np.float32), np.asarray(scale, np.float32)]
        elif node.bn:
            weight = np.asarray(state[_node_keys(node)[0]], np.float64)
            gamma, beta, mu, var = (np.asarray(state[f"{node.bn}.{p}"], np.float64) for p in _BN_PARTS)
            factor = gamma / np.sqrt(var + BN_EPS)
            blobs[node.name] = [(weight * factor[:, None, None, None]).astype(np.float32),
                                (beta - mu * factor).astype(np.float32)]
        elif node.name in params:
            blobs[node.name] = [np.ascontiguousarray(state[k], np.float32) for k in _node_keys(node)]
    return blobs


def _param_names(network: str) -> set[str]:
    from jaxinv.networks import spec
    from jaxinv.networks.graph import PARAM_OPS

    return {n.name for n in spec(network).nodes if n.op in PARAM_OPS}
