"""SqueezeNet v1.1 (DeepScale ``SqueezeNet_v1.1/deploy.prototxt``), 227×227 BGR.

Fire module ``fireN``: squeeze 1×1 → ReLU → (expand 1×1 → ReLU ‖ expand 3×3 pad 1 →
ReLU) → concat. Max pools use Caffe's ceil rounding (113 → 56 → 28 → 14); conv10 + ReLU then a
global average pool give the logits ``pool10`` (1×1×1000).
"""

from __future__ import annotations

from jaxinv.networks.graph import (NetworkSpec, avgpool, chain, concat, conv, maxpool, relu,
                                   softmax)

__all__ = ["SPEC"]


def fire(n: int, squeeze: int, expand: int, inputs: str) -> tuple:
    p = f"fire{n}/"
    sq = p + "relu_squeeze1x1"
    return (
        conv(p + "squeeze1x1", squeeze, 1, inputs=(inputs,)), relu(sq),
        conv(p + "expand1x1", expand, 1, inputs=(sq,)), relu(p + "relu_expand1x1"),
        conv(p + "expand3x3", expand, 3, pad=1, inputs=(sq,)), relu(p + "relu_expand3x3"),
        concat(p + "concat", (p + "relu_expand1x1", p + "relu_expand3x3")),
    )


SPEC = NetworkSpec(
    name="squeezenet1_1",
    nodes=chain(
        conv("conv1", 64, 3, stride=2), relu("relu_conv1"), maxpool("pool1", 3, 2),
        *fire(2, 16, 64, "pool1"), *fire(3, 16, 64, "fire2/concat"),
        maxpool("pool3", 3, 2),
        *fire(4, 32, 128, "pool3"), *fire(5, 32, 128, "fire4/concat"),
        maxpool("pool5", 3, 2),
        *fire(6, 48, 192, "pool5"), *fire(7, 48, 192, "fire6/concat"),
        *fire(8, 64, 256, "fire7/concat"), *fire(9, 64, 256, "fire8/concat"),
        conv("conv10", 1000, 1), relu("relu_conv10"),
        avgpool("pool10", 0),
        softmax("prob"),
    ),
    input_size=227,
    mean=(104.0, 117.0, 123.0),
    bgr=True,
    aliases=tuple((f"fire{i}", f"fire{i}/concat") for i in range(2, 10)),
    description="SqueezeNet v1.1 (DeepScale)",
)
