"""torchvision ``.pth`` state dicts → canonical blobs (PyTorch needed only here, imported lazily).

torchvision's AlexNet (``alexnet-owt-*.pth``): its tensors already have Caffe's layouts: conv
weights (out, in, kh, kw) and linear weights (out, in) with ``torch.flatten`` of an NCHW pool5,
i.e. Caffe's (C, H, W) order. Channels stay RGB, the network's own order.

VGG-16, ResNet-50 and ViT-B/16 (``vgg16-*.pth``, ``resnet50-*.pth``, ``vit_b_16-*.pth``, or
any network registered with their ``family``): keys and layouts are the network's own layer
names (`jaxinv.weights.statedict`, which folds ResNet's BatchNorms), and the blobs carry
torchvision's pre-processing (ImageNet mean/std on RGB at 224). A ViT state dict under timm's
key names (timm's ``pytorch_model.bin``) is renamed first (`jaxinv.weights.timm`).

Files are opened with ``torch.load(..., weights_only=True)``: a ``.pth`` is a pickle, and the
full unpickler would run whatever code the file names.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from jaxinv.errors import JaxinvError
from jaxinv.weights import Blobs

__all__ = ["ALEXNET_KEYS", "read_pth", "write_pth"]

#: torchvision AlexNet module prefix → canonical layer name.
ALEXNET_KEYS: Mapping[str, str] = {
    "features.0": "conv1",
    "features.3": "conv2",
    "features.6": "conv3",
    "features.8": "conv4",
    "features.10": "conv5",
    "classifier.1": "fc6",
    "classifier.4": "fc7",
    "classifier.6": "fc8",
}
_NETWORKS = ("alexnet_torchvision",)
_FIX = "use torchvision's AlexNet weights (alexnet-owt-7be5be79.pth)"
_FAMILY_FILES = {"vgg16": "vgg16-397923af.pth", "resnet50": "resnet50-0676ba61.pth",
                 "vit_b_16": "vit_b_16-c867db91.pth"}


def _pth_networks() -> list[str]:
    from jaxinv.networks import NETWORKS
    return list(_NETWORKS) + [name for name, s in NETWORKS.items() if s.family]


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise JaxinvError(
            "reading .pth files needs PyTorch, which is not installed; pip install torch"
            " (the CPU build is enough), or convert the file on a machine that has it"
        ) from None
    return torch


def _load_failure(exc: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` failed, in words that never advise unsafe loading.

    PyTorch's own message suggests ``weights_only=False``, which would run whatever code a
    pickle names: it is never passed on. A pickle that names code (a global other than
    tensors) is said to be refused; anything else is not a readable file.
    """
    text = str(exc)
    if "Unsupported global" in text:
        return ("holds pickled objects other than tensors (possibly code), which jaxinv refuses to load;"
                " pass a plain state dict of tensors")
    if "weights_only" in text or "Weights only load failed" in text:
        detail = text.split("WeightsUnpickler error:")[-1].strip().splitlines()[0] if "WeightsUnpickler error:" \
            in text else "not a tensor pickle"
        return f"is not a readable PyTorch file ({detail[:120]})"
    detail = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"is not a readable PyTorch file ({detail[:200]})"


def _state_dict(obj: Any, name: str) -> dict[str, Any]:
    """The state dict inside what ``torch.load`` returned (bare, or a training checkpoint)."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping):
        raise JaxinvError(f"{name!r} holds a {type(obj).__name__}, not a state dict; {_FIX}")
    # nn.DataParallel saves every key under 'module.'.
    return {(k[7:] if isinstance(k, str) and k.startswith("module.") else k): v for k, v in obj.items()}


def _load_state(torch: Any, path: pathlib.Path, fix: str) -> dict[str, Any]:
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        raise JaxinvError(f"{path.name!r} {_load_failure(exc)}; {fix}") from None
    return _state_dict(obj, path.name)


def _read_family(path: pathlib.Path, network: str, family: str) -> Blobs:
    """A VGG-16 / ResNet-50 / ViT-B/16 state dict (torchvision's or timm's ViT keys)."""
    from jaxinv.weights.statedict import blobs_from_state, torchvision_preprocessing
    from jaxinv.weights.timm import TIMM_PREPROCESSING, is_timm_vit, torchvision_keys

    torch = _torch()
    fix = f"use torchvision's {family} weights ({_FAMILY_FILES[family]}) with --name {network}"
    state = _load_state(torch, path, fix)
    arrays = {}
    for key, tensor in state.items():
        if not isinstance(tensor, torch.Tensor) or not (tensor.is_floating_point() or str(key).endswith("num_batches_tracked")):
            raise JaxinvError(f"{path.name!r}: {key} is not a floating-point tensor; {fix}")
        arrays[str(key)] = tensor.detach().to(torch.float32).numpy()
    mean, scale = torchvision_preprocessing()
    if family == "vit_b_16" and is_timm_vit(arrays):
        arrays, (mean, scale) = torchvision_keys(arrays), TIMM_PREPROCESSING
    return blobs_from_state(arrays, network, file=path.name, fix=fix, mean=mean, scale=scale)


def read_pth(path: str | os.PathLike[str], *, network: str | None = None) -> Blobs:
    """Read a torchvision state dict into canonical blobs (RGB; Caffe layouts for AlexNet).

    ``network`` None means torchvision's AlexNet; VGG-16, ResNet-50 and ViT-B/16 need their name.

    Missing or unexpected keys and wrong shapes raise :class:`JaxinvError`, so a different
    model's file is never half-converted.
    """
    from jaxinv.weights.official import expected_shapes

    from jaxinv.weights.statedict import family_of

    path = pathlib.Path(path)
    family = family_of(network)
    if network is not None and network not in _NETWORKS and not family:
        raise JaxinvError(
            f".pth files hold torchvision networks ({', '.join(_pth_networks())}), not {network!r};"
            " pass one of those as --name or convert the network's own weight file"
        )
    if network is not None and family:  # family_of(None) is ''
        return _read_family(path, network, family)
    torch = _torch()
    state = _load_state(torch, path, _FIX)
    wanted = {f"{prefix}.{part}" for prefix in ALEXNET_KEYS for part in ("weight", "bias")}
    missing = sorted(wanted - state.keys())
    unexpected = sorted(str(k) for k in state.keys() - wanted)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:4]}" + (" ..." if len(missing) > 4 else ""))
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:4]}" + (" ..." if len(unexpected) > 4 else ""))
        raise JaxinvError(f"{path.name!r} is not a torchvision AlexNet state dict: {'; '.join(parts)}; {_FIX}")
    shapes = expected_shapes("alexnet_torchvision") or {}
    blobs: Blobs = {}
    for prefix, layer in ALEXNET_KEYS.items():
        arrays = []
        for index, part in enumerate(("weight", "bias")):
            tensor = state[f"{prefix}.{part}"]
            if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
                raise JaxinvError(f"{path.name!r}: {prefix}.{part} is not a floating-point tensor; {_FIX}")
            if tuple(tensor.shape) != tuple(shapes[layer][index]):
                raise JaxinvError(
                    f"{path.name!r}: {prefix}.{part} has shape {tuple(tensor.shape)},"
                    f" torchvision AlexNet needs {tuple(shapes[layer][index])}; {_FIX}"
                )
            arrays.append(np.ascontiguousarray(tensor.detach().to(torch.float32).numpy()))
        blobs[layer] = arrays
    return blobs


def write_pth(blobs: Mapping[str, list[np.ndarray]], path: str | os.PathLike[str]) -> pathlib.Path:
    """Write AlexNet canonical blobs as a torchvision state dict, atomically (tests, export)."""
    from jaxinv.weights.cache import atomic_path

    torch = _torch()
    state = {}
    for prefix, layer in ALEXNET_KEYS.items():
        if layer not in blobs:
            raise JaxinvError(f"the blobs lack layer {layer!r} of torchvision AlexNet")
        for part, array in zip(("weight", "bias"), blobs[layer]):
            state[f"{prefix}.{part}"] = torch.from_numpy(np.array(array, np.float32))
    path = pathlib.Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, str(tmp))
    return path
