"""The CNN zoo: CaffeNet, BVLC AlexNet, torchvision AlexNet, SqueezeNet v1.1, GoogLeNet, VGG-16,
ResNet-50, ViT-B/16.

``net = load(NAME, weights=BLOBS)`` (a file or the cache: ``jaxinv.weights.load_network(NAME, weights=PATH)``); ``net.apply(x, layer=...)`` on NHWC batches;
``net.features`` is the pure ``features(params, x, *, layer)``.
"""

from jaxinv.networks.registry import (NETWORKS, Features, Network, check_blobs, describe_layers,
                                      init_blobs, load, receptive_field, register, resolve_layer,
                                      spec)

__all__ = ["NETWORKS", "Features", "Network", "check_blobs", "describe_layers", "init_blobs",
           "load", "receptive_field", "register", "resolve_layer", "spec"]
