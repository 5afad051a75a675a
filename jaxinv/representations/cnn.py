"""``cnn(name, layer=...)``: a layer of a CNN of the zoo as a `Representation`.

The code of an image is the layer's activation; the input space is the network's (channel
order of the network, 0-255 minus its mean, warped to S×S). Recommended λ_V (paper units on
u = x/σ, METHOD.md §1.2-1.3):

- CaffeNet: the paper's per-layer values, 0.5 for conv1…relu2, 5 for pool2…relu4, 50 for
  conv5…fc8 (the code's λ_TV 1/10/100 halved);
- other networks, by the layer's receptive-field size r against the input size S:
  r < S/4 → 0.5, r < 2S/3 → 5, else 50 — the rule that reproduces CaffeNet's table
  exactly (`lambda_tv`);
- ViT token maps after the first attention: 5 (`vit_lambda_tv`).
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import jax

from jaxinv.errors import JaxinvError
from jaxinv.networks.graph import infer_shapes
from jaxinv.networks.registry import Features, receptive_field, resolve_layer, spec
from jaxinv.core.settings import LAMBDA_ALPHA
from jaxinv.representation import Representation
from jaxinv.weights.loading import load_network

__all__ = ["cnn", "lambda_tv", "lambda_by_receptive_field", "receptive_field", "vit_lambda_tv",
           "CNNFeatures"]


_CAFFENET_LAMBDA = {
    **dict.fromkeys(("conv1", "relu1", "pool1", "norm1", "conv2", "relu2"), 0.5),
    **dict.fromkeys(("pool2", "norm2", "conv3", "relu3", "conv4", "relu4"), 5.0),
    **dict.fromkeys(("conv5", "relu5", "pool5", "fc6", "relu6", "fc7", "relu7", "fc8",
                     "prob"), 50.0),
}


def lambda_tv(name: str, layer: str) -> float:
    """Recommended λ_V (paper units) for ``layer`` of network ``name``.

    CaffeNet: the authors' table (METHOD.md §1.3). Other networks: by the layer's
    receptive-field size r as a fraction of the input size S: r < S/4 → 0.5, r < 2S/3 → 5,
    else 50 — the rule that reproduces the authors' CaffeNet table exactly (conv2's 51 px
    and pool2's 67 px, relu4's 131 px and conv5's 163 px of 227 fall on either side), and
    gives the whole-image layers (classifiers, global pools) the weight of CaffeNet's fc8.
    """
    layer = resolve_layer(name, layer)
    if name == "caffenet":
        return _CAFFENET_LAMBDA[layer]
    if spec(name).family == "vit_b_16":
        return vit_lambda_tv(name, layer)
    return lambda_by_receptive_field(receptive_field(name)[layer][0], spec(name).input_size)


def vit_lambda_tv(name: str, layer: str) -> float:
    """λ_V of a ViT layer: the rule where it applies, 5 for attended token maps.

    The patch embedding and the encoder's input (16-pixel fields) follow the rule (0.5), and
    so does the class token alone (``pre_logits``, the head, ``prob``: the whole picture, no
    position, 50, as CaffeNet's fc layers). After the first attention every token's field is
    the whole picture, which the rule would weigh 50; but the residual stream carries each
    token's own patch at its position through every block, so the token map stays organised
    in space like a mid-level convolutional map: the middle value 5. Measured with random
    weights (tests/test_networks_modern.py): ``encoder_layer_10``'s feature error fell 3.6×
    at 50, 14× at 5 and 50× at 0.5 in the same 100 iterations.
    """
    s = spec(name)
    size = receptive_field(name)[layer][0]
    height, width, _ = infer_shapes(s.nodes, s.input_shape)[layer]
    if size < s.input_size or height * width == 1:
        return lambda_by_receptive_field(size, s.input_size)
    return 5.0


def lambda_by_receptive_field(size: int, input_size: int) -> float:
    """λ_V from a receptive-field size (see `lambda_tv`)."""
    fraction = size / input_size
    return 0.5 if fraction < 0.25 else 5.0 if fraction < 2 / 3 else 50.0


@dataclasses.dataclass(frozen=True)
class CNNFeatures:
    """``features(params, x)`` on one image (S, S, 3): the code at ``layer``.

    Frozen so that equal (network, layer, slope) compare and hash equal, and jit reuses
    programs. ``relu_slope`` > 0 makes every ReLU on the way leaky (IJCV 2016's activation
    maximisation, slope 0.05); 0, the default, is the network as trained, computed exactly as
    before the option existed.
    """

    network: str
    layer: str
    relu_slope: float = 0.0

    def __call__(self, params: Any, x: jax.Array) -> jax.Array:
        return Features(self.network)(params, x[None], layer=self.layer, relu_slope=self.relu_slope)[0]


def cnn(name: str, *, layer: str, weights: str | pathlib.Path | dict | None = None,
        prototxt: str | pathlib.Path | None = None, relu_slope: float = 0.0) -> Representation:
    """Layer ``layer`` of network ``name`` (weights: a file, blobs, or None for the cache).

    ``relu_slope``: 0 (default) is the trained network; a slope in (0, 1) makes every ReLU
    before ``layer`` leaky, ``max(x, 0) + slope·min(x, 0)`` (IJCV 2016 maximises activations
    with 0.05).
    """
    spec(name)
    layer = resolve_layer(name, layer)
    if not 0.0 <= relu_slope < 1.0:
        raise JaxinvError(f"relu_slope = {relu_slope}; use a slope in [0, 1) (0 = the trained network,"
                          " 0.05 = IJCV 2016's maximisation)")
    net = load_network(name, weights=weights, prototxt=prototxt)
    return Representation(
        name=f"{name}:{layer}",
        features=CNNFeatures(name, layer, float(relu_slope)),
        params=net.params,
        input_shape=(net.input_size, net.input_size, 3),
        channels=3,
        preprocess=net.preprocess,
        deprocess=net.deprocess,
        stride=int(receptive_field(name)[layer][1]),
        lambda_tv=lambda_tv(name, layer),
        lambda_alpha=LAMBDA_ALPHA,
        schedule="cnn",
        layers=net.layers,
    )
