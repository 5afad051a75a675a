"""Weight files: readers for the formats users hold, the safetensors cache, downloads.

Every reader returns the same canonical *blobs* dict, so one path serves all formats::

    {caffe_layer_name: [weight, bias]}   # float32 numpy arrays

- names are the Caffe layer names of the network's deploy prototxt (``conv1``,
  ``fire2/squeeze1x1``, ``inception_3a/1x1``, ``loss3/classifier``); torchvision's AlexNet
  uses ``conv1`` … ``conv5``, ``fc6``, ``fc7``, ``fc8``;
- convolution weights in Caffe's layout (out, in/group, kh, kw); inner-product weights
  (out, in) with the input flattened in Caffe's (C, H, W) order;
- input channels in the network's own order (BGR for the Caffe networks, RGB for
  torchvision's AlexNet).
"""

from __future__ import annotations

import pathlib

import numpy as np

from jaxinv.errors import JaxinvError

Blobs = dict[str, list[np.ndarray]]

__all__ = ["Blobs", "load_network", "read_blobs"]


def read_blobs(path: str | pathlib.Path, *, network: str | None = None,
               prototxt: str | pathlib.Path | None = None) -> Blobs:
    """Read a weight file of any supported format into canonical blobs.

    The format is chosen by the file's suffix: ``.caffemodel`` (current and V1 formats),
    ``.mat`` (MatConvNet), ``.pth``/``.pt`` (torchvision state dict, ``weights_only=True``),
    ``.safetensors`` (jaxinv's own converted cache files, or timm's ViT-B/16 and ResNet-50).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise JaxinvError(f"weight file {str(path)!r} not found; check the path")
    suffix = path.suffix.lower()
    if suffix == ".caffemodel":
        from jaxinv.weights.caffe import read_caffemodel
        return read_caffemodel(path, prototxt=prototxt)
    if suffix == ".mat":
        from jaxinv.weights.matconvnet import read_mat
        return read_mat(path, network=network)
    if suffix in (".pth", ".pt"):
        from jaxinv.weights.torchvision import read_pth
        return read_pth(path, network=network)
    if suffix == ".safetensors":
        from jaxinv.weights.statedict import family_of
        from jaxinv.weights.timm import is_timm_file, read_timm
        if network is not None and family_of(network) and is_timm_file(path):  # timm's, not jaxinv's own cache
            return read_timm(path, network=network)
        from jaxinv.weights.cache import read_safetensors
        return read_safetensors(path)
    raise JaxinvError(
        f"weight file {path.name!r} has an unsupported type {suffix!r};"
        " use a .caffemodel, .mat, .pth or .safetensors file"
    )


from jaxinv.weights.loading import load_network  # noqa: E402  (it reads Blobs and read_blobs above)
