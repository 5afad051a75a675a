"""jaxinv's Caffe networks as functional PyTorch forwards, built from canonical blobs.

Written independently of `jaxinv.networks` (numpy and torch only: torch's own conv, pooling
and LRN ops, NCHW, Caffe blobs ``{layer: [weight, bias]}`` used as they are), so that the
parity tests compare two implementations of Caffe's semantics and the speed baseline runs
what a PyTorch user would write. Two users:

- ``tests/torch_reference.py`` records every layer (parity tests)::

      out = {}
      forward("googlenet", torch_params(blobs), x_nchw, out)    # out[layer] for every layer

- `torch_inversion` stops at one layer and differentiates through it (the speed
  baseline): `LayerNetwork` computes nothing past its layer and keeps no other output.

fc and ``prob`` outputs are (N, O); every other output is NCHW.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, MutableMapping

import numpy as np

__all__ = ["INPUT_SIZE", "LayerNetwork", "forward", "forward_to", "layer_names", "resolve_layer", "torch_params"]

#: The input side of each network (square inputs).
INPUT_SIZE = {"caffenet": 227, "alexnet": 227, "alexnet_torchvision": 224, "squeezenet1_1": 227,
              "googlenet": 224}

Blobs = dict[str, list[np.ndarray]]


def torch_params(blobs: Blobs, *, device=None) -> dict:
    """Canonical numpy blobs as float32 torch tensors (on ``device``)."""
    import torch

    return {k: [torch.as_tensor(np.ascontiguousarray(a, np.float32), device=device) for a in v]
            for k, v in blobs.items()}


# ----------------------------------------------------------------------------- layers


def _conv(p, x, layer, *, stride=1, pad=0, group=1):
    import torch.nn.functional as F

    w, b = p[layer][:2]
    return F.conv2d(x, w, b.reshape(-1), stride=stride, padding=pad, groups=group)


def _fc(p, x, layer):
    import torch
    import torch.nn.functional as F

    w, b = p[layer][:2]
    return F.linear(torch.flatten(x, 1), w, b.reshape(-1))  # NCHW flatten = Caffe's (C, H, W)


def _pool(x, k, s, pad=0):
    import torch.nn.functional as F

    return F.max_pool2d(x, k, s, padding=pad, ceil_mode=True)  # Caffe rounds the size up


def _lrn(x):
    import torch.nn.functional as F

    return F.local_response_norm(x, size=5, alpha=1e-4, beta=0.75, k=1.0)


# ----------------------------------------------------------------------------- networks


def _alexnet_like(p, x, out, *, lrn_first: bool):
    import torch.nn.functional as F

    x = out["conv1"] = _conv(p, x, "conv1", stride=4)
    x = out["relu1"] = F.relu(x)
    for i in (1, 2):
        if lrn_first:
            x = out[f"norm{i}"] = _lrn(x)
            x = out[f"pool{i}"] = _pool(x, 3, 2)
        else:
            x = out[f"pool{i}"] = _pool(x, 3, 2)
            x = out[f"norm{i}"] = _lrn(x)
        if i == 1:
            x = out["conv2"] = _conv(p, x, "conv2", pad=2, group=2)
            x = out["relu2"] = F.relu(x)
    x = out["conv3"] = _conv(p, x, "conv3", pad=1)
    x = out["relu3"] = F.relu(x)
    x = out["conv4"] = _conv(p, x, "conv4", pad=1, group=2)
    x = out["relu4"] = F.relu(x)
    x = out["conv5"] = _conv(p, x, "conv5", pad=1, group=2)
    x = out["relu5"] = F.relu(x)
    x = out["pool5"] = _pool(x, 3, 2)
    _classifier(p, x, out)


def _classifier(p, x, out):
    import torch.nn.functional as F

    x = out["fc6"] = _fc(p, x, "fc6")
    x = out["relu6"] = F.relu(x)
    x = out["fc7"] = _fc(p, x, "fc7")
    x = out["relu7"] = F.relu(x)
    x = out["fc8"] = _fc(p, x, "fc8")
    out["prob"] = F.softmax(x, dim=1)


def _torchvision_alexnet(p, x, out):
    import torch
    import torch.nn.functional as F

    std = torch.tensor([0.229, 0.224, 0.225], device=x.device).view(1, 3, 1, 1)
    x = x / (255.0 * std)  # input = 255 (x01 - mean), RGB
    seq = [("conv1", lambda v: _conv(p, v, "conv1", stride=4, pad=2)), ("relu1", F.relu),
           ("pool1", lambda v: F.max_pool2d(v, 3, 2)),
           ("conv2", lambda v: _conv(p, v, "conv2", pad=2)), ("relu2", F.relu),
           ("pool2", lambda v: F.max_pool2d(v, 3, 2)),
           ("conv3", lambda v: _conv(p, v, "conv3", pad=1)), ("relu3", F.relu),
           ("conv4", lambda v: _conv(p, v, "conv4", pad=1)), ("relu4", F.relu),
           ("conv5", lambda v: _conv(p, v, "conv5", pad=1)), ("relu5", F.relu),
           ("pool5", lambda v: F.max_pool2d(v, 3, 2))]
    for n, f in seq:
        x = out[n] = f(x)
    _classifier(p, F.adaptive_avg_pool2d(x, (6, 6)), out)


def _squeezenet(p, x, out):
    import torch
    import torch.nn.functional as F

    x = out["conv1"] = _conv(p, x, "conv1", stride=2)
    x = out["relu_conv1"] = F.relu(x)
    x = out["pool1"] = _pool(x, 3, 2)
    for i in range(2, 10):
        f = f"fire{i}/"
        s = out[f + "squeeze1x1"] = _conv(p, x, f + "squeeze1x1")
        s = out[f + "relu_squeeze1x1"] = F.relu(s)
        e1 = out[f + "expand1x1"] = _conv(p, s, f + "expand1x1")
        e1 = out[f + "relu_expand1x1"] = F.relu(e1)
        e3 = out[f + "expand3x3"] = _conv(p, s, f + "expand3x3", pad=1)
        e3 = out[f + "relu_expand3x3"] = F.relu(e3)
        x = out[f + "concat"] = torch.cat([e1, e3], 1)
        if i in (3, 5):
            x = out[f"pool{i}"] = _pool(x, 3, 2)
    x = out["conv10"] = _conv(p, x, "conv10")
    x = out["relu_conv10"] = F.relu(x)
    x = out["pool10"] = F.adaptive_avg_pool2d(x, 1)
    out["prob"] = F.softmax(x, dim=1)


def _inception(p, x, out, block: str):
    import torch
    import torch.nn.functional as F

    q = f"inception_{block}/"
    branches = []
    for b, reduce, pad in (("1x1", None, 0), ("3x3", "3x3_reduce", 1), ("5x5", "5x5_reduce", 2)):
        y = x
        if reduce:
            y = out[q + reduce] = _conv(p, y, q + reduce)
            y = out[q + "relu_" + reduce] = F.relu(y)
        y = out[q + b] = _conv(p, y, q + b, pad=pad)
        y = out[q + "relu_" + b] = F.relu(y)
        branches.append(y)
    y = out[q + "pool"] = F.max_pool2d(x, 3, 1, padding=1, ceil_mode=True)
    y = out[q + "pool_proj"] = _conv(p, y, q + "pool_proj")
    y = out[q + "relu_pool_proj"] = F.relu(y)
    branches.append(y)
    return torch.cat(branches, 1)


def _googlenet(p, x, out):
    import torch.nn.functional as F

    x = out["conv1/7x7_s2"] = _conv(p, x, "conv1/7x7_s2", stride=2, pad=3)
    x = out["conv1/relu_7x7"] = F.relu(x)
    x = out["pool1/3x3_s2"] = _pool(x, 3, 2)
    x = out["pool1/norm1"] = _lrn(x)
    x = out["conv2/3x3_reduce"] = _conv(p, x, "conv2/3x3_reduce")
    x = out["conv2/relu_3x3_reduce"] = F.relu(x)
    x = out["conv2/3x3"] = _conv(p, x, "conv2/3x3", pad=1)
    x = out["conv2/relu_3x3"] = F.relu(x)
    x = out["conv2/norm2"] = _lrn(x)
    x = out["pool2/3x3_s2"] = _pool(x, 3, 2)
    for block in ("3a", "3b", "pool3", "4a", "4b", "4c", "4d", "4e", "pool4", "5a", "5b"):
        if block.startswith("pool"):
            x = out[f"{block}/3x3_s2"] = _pool(x, 3, 2)
        else:
            x = out[f"inception_{block}/output"] = _inception(p, x, out, block)
    x = out["pool5/7x7_s1"] = F.avg_pool2d(x, 7, 1, ceil_mode=True)
    x = out["loss3/classifier"] = _fc(p, x, "loss3/classifier")
    out["prob"] = F.softmax(x, dim=1)


_FORWARDS: dict[str, Callable] = {
    "caffenet": lambda p, x, o: _alexnet_like(p, x, o, lrn_first=False),
    "alexnet": lambda p, x, o: _alexnet_like(p, x, o, lrn_first=True),
    "alexnet_torchvision": _torchvision_alexnet,
    "squeezenet1_1": _squeezenet,
    "googlenet": _googlenet,
}


def forward(name: str, params: dict, x, out: MutableMapping) -> None:
    """Network ``name`` on the NCHW batch ``x``: ``out[layer]`` = each layer's output, in order."""
    if name not in _FORWARDS:
        raise ValueError(f"no PyTorch network {name!r}; use one of {', '.join(_FORWARDS)}")
    _FORWARDS[name](params, x, out)


# ----------------------------------------------------------------------------- one layer


class _Reached(Exception):
    def __init__(self, value):
        super().__init__()
        self.value = value


class _UpTo(dict):
    """Keeps no output (so nothing outlives autograd's own needs) and stops the forward at ``layer``."""

    def __init__(self, layer: str):
        super().__init__()
        self.layer = layer

    def __setitem__(self, key, value):
        if key == self.layer:
            raise _Reached(value)


def forward_to(name: str, params: dict, x, layer: str):
    """The output of ``layer`` of network ``name`` on ``x``; nothing past it is computed."""
    try:
        forward(name, params, x, _UpTo(layer))
    except _Reached as reached:
        return reached.value
    raise ValueError(f"{name} has no layer {layer!r}; use one of {', '.join(layer_names(name, params))}")


def layer_names(name: str, params: dict | Blobs) -> tuple[str, ...]:
    """Every layer of network ``name`` in order (a shape-only forward on the meta device)."""
    import torch

    meta = {k: [torch.empty(tuple(np.shape(a)), device="meta") for a in v] for k, v in params.items()}
    size = INPUT_SIZE[name]
    out: dict = {}
    forward(name, meta, torch.empty((1, 3, size, size), device="meta"), out)
    return tuple(out)


def resolve_layer(name: str, params: dict | Blobs, layer: str) -> str:
    """``layer`` as `forward` names it: a block's name means its output (``fire9`` →
    ``fire9/concat``, ``inception_4a`` → ``inception_4a/output``)."""
    names = layer_names(name, params)
    for candidate in (layer, layer + "/concat", layer + "/output"):
        if candidate in names:
            return candidate
    raise ValueError(f"{name} has no layer {layer!r}; use one of {', '.join(names)}")


@functools.cache
def _layer_network_class():
    from torch import nn

    class LayerNetwork(nn.Module):
        """Network ``name`` up to ``layer`` as a frozen module (weights are buffers: no gradient)."""

        def __init__(self, name: str, blobs: Blobs, layer: str):
            super().__init__()
            self.network, self.layer = name, resolve_layer(name, blobs, layer)
            self._names: dict[str, list[str]] = {}
            for i, (key, arrays) in enumerate(sorted(blobs.items())):
                self._names[key] = []
                for j, tensor in enumerate(torch_params({key: arrays})[key]):
                    buffer = f"blob{i}_{j}"
                    self.register_buffer(buffer, tensor)
                    self._names[key].append(buffer)
            self.eval()

        def params(self) -> dict:
            return {key: [getattr(self, b) for b in buffers] for key, buffers in self._names.items()}

        def forward(self, x):
            return forward_to(self.network, self.params(), x, self.layer)

    return LayerNetwork


def LayerNetwork(name: str, blobs: Blobs, layer: str):  # noqa: N802 - a class, built lazily
    """An ``nn.Module``: network ``name`` from ``blobs``, NCHW in, the output of ``layer`` out.

    torch is imported only when one is built.
    """
    return _layer_network_class()(name, blobs, layer)
