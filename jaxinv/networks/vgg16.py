"""VGG-16 (Simonyan & Zisserman 2015, configuration D), as torchvision's ``vgg16`` lays it out.

Layers are named by torchvision's module paths: ``features.0`` … ``features.30`` (13 3×3
convolutions with padding 1, each followed by its ReLU, five 2×2 max pools), ``classifier.0``,
``.3``, ``.6`` (fully connected, 4096, 4096, 1000) with their ReLUs at ``.1`` and ``.4``, plus
``prob``. The paper's names are aliases: ``conv5_3`` = ``features.28``, ``relu5_3`` =
``features.29``, ``pool5`` = ``features.30``, ``fc6``/``fc7``/``fc8`` = ``classifier.0/3/6``.
torchvision's ``AdaptiveAvgPool2d((7, 7))`` is the identity at the 224×224 input (pool5 is
7×7 already), and dropout is the identity at inference, so both are aliases of their input.

The input is RGB in 0-255 minus the weight file's mean; the hidden ``normalize`` node applies
the weight file's scale (torchvision: 1/(255 std); MatConvNet's ``.mat``: 1), which the
converters store with the weights.
"""

from __future__ import annotations

from jaxinv.networks.graph import Node, NetworkSpec, chain, conv, fc, maxpool, relu, softmax

__all__ = ["SPEC", "TORCHVISION_MEAN", "TORCHVISION_STD", "build", "normalize"]

TORCHVISION_MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet RGB mean and std, in [0, 1]
TORCHVISION_STD = (0.229, 0.224, 0.225)
_BLOCKS = (2, 2, 3, 3, 3)  # convolutions per block, configuration D


def normalize() -> Node:
    """The hidden input node: the weight file's scale (default torchvision's 1/(255 std))."""
    return Node("normalize", "normalize", (), scale=tuple(1.0 / (255.0 * s) for s in TORCHVISION_STD),
                doc="the weight file's input scale")


def torchvision_mean() -> tuple[float, float, float]:
    return tuple(255.0 * m for m in TORCHVISION_MEAN)  # type: ignore[return-value]


def build(*, name: str = "vgg16", widths: tuple[int, ...] = (64, 128, 256, 512, 512),
          hidden: int = 4096, classes: int = 1000, input_size: int = 224) -> NetworkSpec:
    """VGG-16 at the given widths (the defaults are the real network's; tests shrink them)."""
    nodes, aliases, index = [normalize()], [], 0
    for block, (count, width) in enumerate(zip(_BLOCKS, widths), start=1):
        for i in range(1, count + 1):
            nodes += [conv(f"features.{index}", width, 3, pad=1), relu(f"features.{index + 1}")]
            aliases += [(f"conv{block}_{i}", f"features.{index}"),
                        (f"relu{block}_{i}", f"features.{index + 1}")]
            index += 2
        nodes.append(maxpool(f"features.{index}", 2, 2, ceil=False))
        aliases.append((f"pool{block}", f"features.{index}"))
        index += 1
    last_pool = f"features.{index - 1}"
    nodes += [fc("classifier.0", hidden), relu("classifier.1"), fc("classifier.3", hidden),
              relu("classifier.4"), fc("classifier.6", classes), softmax("prob")]
    aliases += [("avgpool", last_pool), ("fc6", "classifier.0"), ("relu6", "classifier.1"),
                ("classifier.2", "classifier.1"), ("drop6", "classifier.1"),
                ("fc7", "classifier.3"), ("relu7", "classifier.4"),
                ("classifier.5", "classifier.4"), ("drop7", "classifier.4"),
                ("fc8", "classifier.6")]
    return NetworkSpec(
        name=name, nodes=chain(*nodes), input_size=input_size, mean=torchvision_mean(), bgr=False,
        aliases=tuple(aliases), hidden=("normalize",), family="vgg16",
        description="VGG-16 (torchvision vgg16 or MatConvNet imagenet-vgg-verydeep-16), RGB 224")


SPEC = build()
