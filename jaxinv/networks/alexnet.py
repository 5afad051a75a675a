"""AlexNet: BVLC's Caffe model and torchvision's "one weird trick" variant.

``alexnet`` (``bvlc_alexnet``, used in the IJCV paper): CaffeNet with LRN *before* pooling
(conv → relu → norm → pool), same widths and groups, 227×227 BGR minus the ILSVRC mean.

``alexnet_torchvision`` (METHOD.md §6.2): no LRN, no groups, 64/192/384/256/256 channels,
conv1 padded by 2, 224×224 RGB. torchvision normalises ``(x/255 - m)/s``; here the input space
stays Caffe-like (0-255 minus 255·m, RGB) and a fixed per-channel ``1/(255 s)`` scale, the
hidden first node, completes torchvision's normalisation, so the paper's σ and λ keep their
meaning. At 224 input pool5 is already 6×6 and ``AdaptiveAvgPool2d((6, 6))`` is the identity.
"""

from __future__ import annotations

from jaxinv.networks.caffenet import CAFFE_MEAN_BGR, _tail
from jaxinv.networks.graph import (Node, NetworkSpec, chain, conv, fc, lrn, maxpool, relu,
                                   softmax)

__all__ = ["SPEC", "TORCHVISION_SPEC"]

SPEC = NetworkSpec(
    name="alexnet",
    nodes=chain(
        conv("conv1", 96, 11, stride=4), relu("relu1"),
        lrn("norm1"), maxpool("pool1", 3, 2),
        conv("conv2", 256, 5, pad=2, group=2), relu("relu2"),
        lrn("norm2"), maxpool("pool2", 3, 2),
        *_tail(),
    ),
    input_size=227,
    mean=CAFFE_MEAN_BGR,
    bgr=True,
    description="BVLC AlexNet (bvlc_alexnet): LRN before pool",
)

_TV_MEAN = (0.485, 0.456, 0.406)
_TV_STD = (0.229, 0.224, 0.225)

TORCHVISION_SPEC = NetworkSpec(
    name="alexnet_torchvision",
    nodes=chain(
        Node("normalize", "affine", (), scale=tuple(1.0 / (255.0 * s) for s in _TV_STD),
             shift=(0.0, 0.0, 0.0)),
        conv("conv1", 64, 11, stride=4, pad=2), relu("relu1"), maxpool("pool1", 3, 2),
        conv("conv2", 192, 5, pad=2), relu("relu2"), maxpool("pool2", 3, 2),
        conv("conv3", 384, 3, pad=1), relu("relu3"),
        conv("conv4", 256, 3, pad=1), relu("relu4"),
        conv("conv5", 256, 3, pad=1), relu("relu5"), maxpool("pool5", 3, 2),
        fc("fc6", 4096), relu("relu6"),
        fc("fc7", 4096), relu("relu7"),
        fc("fc8", 1000), softmax("prob"),
    ),
    input_size=224,
    mean=(255.0 * _TV_MEAN[0], 255.0 * _TV_MEAN[1], 255.0 * _TV_MEAN[2]),
    bgr=False,
    hidden=("normalize",),
    description="torchvision AlexNet (one weird trick): no LRN, no groups, RGB 224",
)
