"""CaffeNet (``bvlc_reference_caffenet``), the network of the CVPR 2015 paper ("CNN-A").

Caffe ``models/bvlc_reference_caffenet/deploy.prototxt``: AlexNet with pooling *before* LRN,
convolutions 2, 4 and 5 in two groups, 227×227 BGR input minus the ILSVRC-2012 mean.
Layer names and order are MatConvNet's ``imagenet-caffe-ref`` (METHOD.md §1.3): conv1 relu1
pool1 norm1 conv2 … fc8, then prob. Dropout is an identity in deploy and is left out.
"""

from __future__ import annotations

from jaxinv.networks.graph import NetworkSpec, chain, conv, fc, lrn, maxpool, relu, softmax

__all__ = ["SPEC", "CAFFE_MEAN_BGR"]

#: Spatial mean of Caffe's ``ilsvrc_2012_mean.npy`` (B, G, R); the paper subtracted the full
#: mean image, whose spatial mean this is (METHOD.md §1.4, §6.1).
CAFFE_MEAN_BGR = (104.00698793, 116.66876762, 122.67891434)


def _tail() -> tuple:
    return (
        conv("conv3", 384, 3, pad=1), relu("relu3"),
        conv("conv4", 384, 3, pad=1, group=2), relu("relu4"),
        conv("conv5", 256, 3, pad=1, group=2), relu("relu5"),
        maxpool("pool5", 3, 2),
        fc("fc6", 4096), relu("relu6"),
        fc("fc7", 4096), relu("relu7"),
        fc("fc8", 1000), softmax("prob"),
    )


SPEC = NetworkSpec(
    name="caffenet",
    nodes=chain(
        conv("conv1", 96, 11, stride=4), relu("relu1"),
        maxpool("pool1", 3, 2), lrn("norm1"),
        conv("conv2", 256, 5, pad=2, group=2), relu("relu2"),
        maxpool("pool2", 3, 2), lrn("norm2"),
        *_tail(),
    ),
    input_size=227,
    mean=CAFFE_MEAN_BGR,
    bgr=True,
    description="CaffeNet (bvlc_reference_caffenet): the paper's CNN-A, pool before LRN",
)
