"""GoogLeNet (``bvlc_googlenet/deploy.prototxt``), 224×224 BGR, main classifier only.

Inception module ``inception_XY``: four branches (1×1; 1×1 reduce → 3×3 pad 1; 1×1 reduce →
5×5 pad 2; 3×3 max pool stride 1 pad 1 → 1×1 projection), each conv followed by its ReLU,
concatenated into ``inception_XY/output``. Max pools use Caffe's ceil rounding (pool1 112 → 56).
The deploy net has no auxiliary heads; dropout before the classifier is an identity.
"""

from __future__ import annotations

from jaxinv.networks.graph import (NetworkSpec, Node, avgpool, chain, concat, conv, fc, lrn, maxpool,
                                   relu, softmax)

__all__ = ["SPEC"]


def inception(name: str, inputs: str, c1: int, r3: int, c3: int, r5: int, c5: int,
              proj: int) -> tuple:
    p = f"inception_{name}/"
    src = (inputs,)
    return (
        conv(p + "1x1", c1, 1, inputs=src), relu(p + "relu_1x1"),
        conv(p + "3x3_reduce", r3, 1, inputs=src), relu(p + "relu_3x3_reduce"),
        conv(p + "3x3", c3, 3, pad=1), relu(p + "relu_3x3"),
        conv(p + "5x5_reduce", r5, 1, inputs=src), relu(p + "relu_5x5_reduce"),
        conv(p + "5x5", c5, 5, pad=2), relu(p + "relu_5x5"),
        maxpool(p + "pool", 3, 1, pad=1, inputs=src),
        conv(p + "pool_proj", proj, 1), relu(p + "relu_pool_proj"),
        concat(p + "output", tuple(p + b for b in ("relu_1x1", "relu_3x3", "relu_5x5",
                                                   "relu_pool_proj"))),
    )


_BLOCKS = {  # name: (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj), from the prototxt
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}


def _inceptions(names: str, first_input: str) -> tuple:
    out: list[Node] = []
    src = first_input
    for n in names.split():
        out.extend(inception(n, src, *_BLOCKS[n]))
        src = f"inception_{n}/output"
    return tuple(out)


SPEC = NetworkSpec(
    name="googlenet",
    nodes=chain(
        conv("conv1/7x7_s2", 64, 7, stride=2, pad=3), relu("conv1/relu_7x7"),
        maxpool("pool1/3x3_s2", 3, 2), lrn("pool1/norm1"),
        conv("conv2/3x3_reduce", 64, 1), relu("conv2/relu_3x3_reduce"),
        conv("conv2/3x3", 192, 3, pad=1), relu("conv2/relu_3x3"),
        lrn("conv2/norm2"), maxpool("pool2/3x3_s2", 3, 2),
        *_inceptions("3a 3b", "pool2/3x3_s2"),
        maxpool("pool3/3x3_s2", 3, 2, inputs=("inception_3b/output",)),
        *_inceptions("4a 4b 4c 4d 4e", "pool3/3x3_s2"),
        maxpool("pool4/3x3_s2", 3, 2, inputs=("inception_4e/output",)),
        *_inceptions("5a 5b", "pool4/3x3_s2"),
        avgpool("pool5/7x7_s1", 7, 1, inputs=("inception_5b/output",)),
        fc("loss3/classifier", 1000),
        softmax("prob"),
    ),
    input_size=224,
    mean=(104.0, 117.0, 123.0),
    bgr=True,
    aliases=tuple((f"inception_{n}", f"inception_{n}/output") for n in _BLOCKS),
    description="BVLC GoogLeNet, main classifier",
)
