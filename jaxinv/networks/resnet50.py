"""ResNet-50 (He et al. 2016) as torchvision's ``resnet50`` (v1.5: the stride on the 3×3).

Layers are named by torchvision's module paths. A convolution node carries its BatchNorm
folded in at conversion (inference only: ``γ (W x - μ)/√(σ² + ε) + β`` is the convolution
with weights ``W γ/√(σ² + ε)`` and bias ``β - μ γ/√(σ² + ε)``), so ``layer3.5.conv2`` is the
output of ``layer3.5.bn2`` (an alias). In bottleneck ``layerI.J``: ``conv1`` (1×1) →
``relu1`` → ``conv2`` (3×3, stride 2 in the first block of layers 2-4) → ``relu2`` → ``conv3``
(1×1, 4× wider) ; ``downsample`` (1×1 convolution and BatchNorm of the block's input, first
block of each layer) ; ``add`` (the residual sum) → ``layerI.J`` (the block's output, after
its last ReLU). Torchvision applies one ``relu`` module three times, so ``relu1`` and
``relu2`` are names of this module only. The stem's max pool rounds down (PyTorch's floor
mode: 112 → 56, where Caffe's ceil would give 57).
"""

from __future__ import annotations

import dataclasses

from jaxinv.networks.graph import (Node, NetworkSpec, avgpool, chain, conv, fc, maxpool, relu,
                                   softmax)
from jaxinv.networks.vgg16 import normalize, torchvision_mean

__all__ = ["SPEC", "build"]

EXPANSION = 4


def _conv_bn(name: str, out: int, kernel: int, bn: str, *, stride: int = 1, pad: int = 0,
             weight: str = "", inputs: tuple[str, ...] = ()) -> Node:
    node = conv(name, out, kernel, stride=stride, pad=pad, inputs=inputs)
    return dataclasses.replace(node, keys=(f"{weight or name}.weight",), bn=bn)


def _bottleneck(p: str, src: str, width: int, stride: int, downsample: bool) -> tuple[list, list]:
    nodes = [
        _conv_bn(f"{p}.conv1", width, 1, f"{p}.bn1", inputs=(src,)), relu(f"{p}.relu1"),
        _conv_bn(f"{p}.conv2", width, 3, f"{p}.bn2", stride=stride, pad=1), relu(f"{p}.relu2"),
        _conv_bn(f"{p}.conv3", width * EXPANSION, 1, f"{p}.bn3"),
    ]
    aliases = [(f"{p}.bn{i}", f"{p}.conv{i}") for i in (1, 2, 3)]
    shortcut = src
    if downsample:
        shortcut = f"{p}.downsample"
        nodes.append(_conv_bn(shortcut, width * EXPANSION, 1, f"{p}.downsample.1", stride=stride,
                              weight=f"{p}.downsample.0", inputs=(src,)))
        aliases.append((f"{p}.downsample.1", shortcut))
    nodes += [Node(f"{p}.add", "add", (f"{p}.conv3", shortcut),
                   doc="the residual sum, before the block's last ReLU"),
              Node(p, "relu", (f"{p}.add",), doc="the bottleneck's output, after its last ReLU")]
    return nodes, aliases


def build(*, name: str = "resnet50", width: int = 64, blocks: tuple[int, ...] = (3, 4, 6, 3),
          classes: int = 1000, input_size: int = 224) -> NetworkSpec:
    """ResNet-50 with base width ``width`` (64 for the real network; tests shrink it)."""
    nodes = [normalize(), _conv_bn("conv1", width, 7, "bn1", stride=2, pad=3), relu("relu"),
             maxpool("maxpool", 3, 2, pad=1, ceil=False)]
    aliases, src = [("bn1", "conv1")], "maxpool"
    for layer, count in enumerate(blocks, start=1):
        for j in range(count):
            stride = 2 if layer > 1 and j == 0 else 1
            block, extra = _bottleneck(f"layer{layer}.{j}", src, width * 2 ** (layer - 1),
                                       stride, j == 0)
            nodes += block
            aliases += extra
            src = f"layer{layer}.{j}"
        aliases.append((f"layer{layer}", src))
    nodes += [avgpool("avgpool", 0, inputs=(src,)), fc("fc", classes), softmax("prob")]
    return NetworkSpec(
        name=name, nodes=chain(*nodes), input_size=input_size, mean=torchvision_mean(), bgr=False,
        aliases=tuple(aliases), hidden=("normalize",), family="resnet50",
        description="ResNet-50 (torchvision resnet50, BatchNorm folded), RGB 224")


SPEC = build()
