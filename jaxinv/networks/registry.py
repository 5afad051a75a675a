"""``load(name, weights=...)``: a network with its weights, pre-processing and pure features.

The pure function is ``features(params, x, *, layer)`` on an NHWC batch ``x`` (N, S, S, 3) in
the network's input space (channel order of the network, 0-255 minus the mean). It computes
only what ``layer`` needs. ``params`` is the `flax.nnx.State` of the network's `Graph`.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from flax import nnx

from jaxinv.errors import JaxinvError
from jaxinv.networks import alexnet, caffenet, googlenet, resnet50, squeezenet, vgg16, vit
from jaxinv.networks.describe import describe
from jaxinv.networks.graph import (Graph, NetworkSpec, blob_shapes, infer_shapes, node_params,
                                   params_from_blobs, receptive_fields)

__all__ = ["NETWORKS", "Features", "Network", "check_blobs", "describe_layers", "init_blobs",
           "load", "params_from", "receptive_field", "register", "resolve_layer", "spec"]

NETWORKS: dict[str, NetworkSpec] = {
    s.name: s for s in (caffenet.SPEC, alexnet.SPEC, alexnet.TORCHVISION_SPEC,
                        squeezenet.SPEC, googlenet.SPEC, vgg16.SPEC, resnet50.SPEC, vit.SPEC)
}


def register(network: NetworkSpec) -> NetworkSpec:
    """Add a network (a variant such as a narrower VGG-16 for tests) under its own name.

    Registering the same spec again is a no-op; another spec under a taken name is refused,
    since compiled programs are cached by name.
    """
    known = NETWORKS.get(network.name)
    if known is not None and known != network:
        raise JaxinvError(f"a different network is already registered as {network.name!r}; pick another name")
    NETWORKS[network.name] = network
    return network

Blobs = dict[str, list[np.ndarray]]


def spec(name: str) -> NetworkSpec:
    """The architecture of network ``name``; `JaxinvError` listing valid names otherwise."""
    try:
        return NETWORKS[name]
    except (KeyError, TypeError):
        raise JaxinvError(
            f"unknown network {name!r}; choose one of {', '.join(NETWORKS)}") from None


def resolve_layer(name: str, layer: str) -> str:
    """The canonical layer name of ``layer`` (aliases such as ``fire5`` resolved)."""
    s = spec(name)
    aliases = dict(s.aliases)
    layer = aliases.get(layer, layer)
    if layer not in s.layers:
        valid = ", ".join(s.layers)
        extra = f" (aliases: {', '.join(aliases)})" if aliases else ""
        raise JaxinvError(f"{name} has no layer {layer!r}; choose one of {valid}{extra}")
    return layer


def describe_layers(name: str) -> dict[str, str]:
    """{layer: what its output is, its shape and aliases} for every layer of network ``name``."""
    return describe(spec(name))


def receptive_field(name: str) -> dict[str, tuple[int, int]]:
    """(size, stride) in input pixels of the units of every layer of network ``name``."""
    s = spec(name)
    rf = receptive_fields(s.nodes, s.input_shape)
    return {layer: rf[layer] for layer in s.layers}


@functools.lru_cache(maxsize=None)
def _graphdef(name: str) -> nnx.GraphDef:
    s = spec(name)
    blobs = blob_shapes(s.nodes, s.input_shape)
    shapes = infer_shapes(s.nodes, s.input_shape)

    def build() -> Graph:  # traced abstractly: no weight-sized array is ever allocated
        return Graph(s.nodes, {n.name: node_params(n, [jax.numpy.zeros(b) for b in blobs[n.name]],
                                                   shapes[n.inputs[0]])
                               for n in s.nodes if n.name in blobs})
    return nnx.split(nnx.eval_shape(build))[0]


@dataclasses.dataclass(frozen=True)
class Features:
    """``features(params, x, *, layer)``: the pure forward pass of one network, to ``layer``.

    A frozen dataclass so that equal networks compare (and hash) equal: jit caches on it.
    """

    network: str

    def __call__(self, params: Any, x: jax.Array, *, layer: str, relu_slope: float = 0.0,
                 relu: Callable[[jax.Array], jax.Array] | None = None) -> jax.Array:
        """``relu_slope`` > 0 makes every ReLU on the way leaky (IJCV 2016's maximisation);
        ``relu``, when given, replaces every ReLU on the way (`Graph.activations`)."""
        layer = resolve_layer(self.network, layer)
        model = nnx.merge(_graphdef(self.network), params)
        return model(x, layer=layer, relu_slope=relu_slope, relu=relu)

    def activations(self, params: Any, x: jax.Array, *,
                    layer: str = "prob") -> dict[str, jax.Array]:
        """{layer: activation} of every user-facing layer computed on the way to ``layer``."""
        layer = resolve_layer(self.network, layer)
        acts = nnx.merge(_graphdef(self.network), params).activations(x, layer=layer)
        hidden = spec(self.network).hidden
        return {k: v for k, v in acts.items() if k not in hidden}


def check_blobs(name: str, blobs: Blobs) -> None:
    """Raise `JaxinvError` naming missing layers or blob shapes that do not fit ``name``.

    The first layer (in the network's order) whose blobs do not fit is named.
    """
    s = spec(name)
    expected = blob_shapes(s.nodes, s.input_shape)
    missing = [k for k in expected if k not in blobs]
    if missing:
        raise JaxinvError(
            f"weights for {name} lack blobs for layer(s) {', '.join(missing)}; use the weight"
            f" file of {name} ({s.description})")
    for layer, shapes in expected.items():
        got = [tuple(np.shape(a)) for a in blobs[layer]]
        if got[:len(shapes)] != [tuple(x) for x in shapes]:
            parts = " (weight, bias)" if len(shapes) == 2 else ""
            raise JaxinvError(
                f"{name} layer {layer!r}: blob shapes {got} do not fit the architecture, which"
                f" expects {[tuple(x) for x in shapes]}{parts}; use the weight file of {name}")


def params_from(name: str, blobs: Blobs) -> nnx.State:
    """Canonical blobs -> the `nnx.State` that `Features` takes (checked first)."""
    s = spec(name)
    check_blobs(name, blobs)
    weights = params_from_blobs(s.nodes, s.input_shape, blobs)
    return nnx.split(Graph(s.nodes, weights))[1]


def init_blobs(name: str, *, key: jax.Array | int = 0) -> Blobs:
    """Random canonical blobs for ``name``: He-normal weights, N(0, 1) biases.

    Weights ~ N(0, 2 / fan_in) keep each layer's activations at the scale of the input
    (±100 for 0-255 images), where LRN is active; biases are visible but small.
    """
    s = spec(name)
    if isinstance(key, int):
        seed: Any = key
    else:  # a typed key (jax.random.key) or a raw uint32 one (jax.random.PRNGKey)
        is_typed = jax.dtypes.issubdtype(getattr(key, "dtype", None), jax.dtypes.prng_key)
        data = jax.random.key_data(key) if is_typed else key
        seed = np.asarray(data, np.uint32).ravel().tolist()
    rng = np.random.default_rng(seed)
    out = {}
    nodes = {n.name: n for n in s.nodes}
    bias = 0.02 if s.family else 1.0  # inputs of ±2 (torchvision-normalised), not ±100
    for layer, shapes in blob_shapes(s.nodes, s.input_shape).items():
        out[layer] = init_node_blobs(nodes[layer], shapes, rng, mean=s.mean, bias=bias)
    return out


def init_node_blobs(node: Any, shapes: list[tuple[int, ...]], rng: np.random.Generator, *,
                    mean: tuple[float, ...], bias: float = 1.0) -> list[np.ndarray]:
    """One node's random blobs (see `init_blobs`; conv and fc exactly as before).

    Every weight matrix is He-normal over its fan-in, every bias N(0, ``bias``²): 1 for the
    Caffe networks' ±100 inputs, 0.02 for the torchvision-named ones, whose normalised inputs
    are ±2 (the same small bias-to-signal ratio). A LayerNorm's scale
    is 1 + N(0, 0.1²) and its shift N(0, 0.1²); embeddings are N(0, 0.02²) (ViT's own init
    scale); the input scaling keeps the spec's default pre-processing. A residual branch's
    last convolution (ResNet's ``conv3``) is scaled by 0.2 so that 16 residual sums stay
    within a few orders of magnitude of the input.
    """
    def normal(shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)

    if node.op == "normalize":
        return [np.asarray(mean, np.float32), np.asarray(node.scale, np.float32)]
    if node.op == "layernorm":
        return [1.0 + normal(shapes[0], 0.1), normal(shapes[1], 0.1)]
    if node.op == "embed":
        return [normal(shapes[0], 0.02), normal(shapes[1], 0.02)]
    blobs = []
    for shape in shapes:
        if len(shape) == 1:
            blobs.append(normal(shape, bias))
        else:
            gain = 0.2 if node.bn and node.name.endswith(".conv3") else 1.0
            blobs.append(normal(shape, gain * np.sqrt(2.0 / int(np.prod(shape[1:])))))
    return blobs


def _as_picture(picture: Any) -> np.ndarray:
    img = np.asarray(picture)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise JaxinvError(
            f"expected a picture of shape (H, W, 3), got shape {img.shape}; pass an RGB image")
    return img[:, :, :3]


@dataclasses.dataclass(frozen=True, eq=False)
class Network:
    """A loaded network: architecture, weights and pre-processing."""

    spec: NetworkSpec
    params: nnx.State

    @property
    def name(self) -> str:
        """The network's name (``squeezenet1_1``, …)."""
        return self.spec.name

    @property
    def mean(self) -> tuple[float, ...]:
        """The mean subtracted from the input: the weight file's where it carries one."""
        layers = self.params["layers"]
        if "normalize" in layers:
            return tuple(float(v) for v in np.asarray(layers["normalize"]["mean"][...]))
        return tuple(self.spec.mean)

    @property
    def layers(self) -> tuple[str, ...]:
        """The layers a representation can end at, input to output."""
        return self.spec.layers

    @property
    def input_size(self) -> int:
        """S, the side in pixels of the (S, S, 3) input the network takes."""
        return self.spec.input_size

    @property
    def features(self) -> Features:
        """The pure ``features(params, x, layer=...)`` of this architecture (hashable, jit-static)."""
        return Features(self.spec.name)

    def preprocess(self, picture: Any) -> np.ndarray:
        """(H, W, 3) RGB picture in [0, 255] -> network input (S, S, 3) float32.

        A warp (no crop) with ``skimage.transform.resize(..., anti_aliasing=True)``, then the
        network's channel order, minus its mean (the README's Caffe pre-processing).
        """
        from skimage.transform import resize

        img = _as_picture(picture)
        size = (self.input_size, self.input_size)
        if img.dtype == np.uint8:
            img = resize(img, size, anti_aliasing=True) * 255.0  # skimage scales uint8 to [0, 1]
        else:
            img = resize(img.astype(np.float64), size, anti_aliasing=True)
        if self.spec.bgr:
            img = img[:, :, ::-1]
        return (img - np.asarray(self.mean)).astype(np.float32)

    def deprocess(self, x: Any) -> np.ndarray:
        """Network input -> RGB picture in [0, 255] (unclipped)."""
        img = np.asarray(x, np.float32) + np.asarray(self.mean, np.float32)
        return img[..., ::-1] if self.spec.bgr else img

    def apply(self, x: jax.Array, *, layer: str) -> jax.Array:
        """The features of batch ``x`` (N, S, S, 3) at ``layer`` with this network's params."""
        return _jit_features(self.features, resolve_layer(self.name, layer))(self.params, x)

    def activations(self, x: jax.Array, *, layer: str = "prob") -> dict[str, jax.Array]:
        """All activations up to ``layer`` of batch ``x`` in one jitted pass (for tests)."""
        layer = resolve_layer(self.name, layer)
        acts = _jit_activations(self.features, layer)(self.params, x)
        return {k: acts[k] for k in self.layers if k in acts}  # jit sorts dict keys

    def receptive_field(self) -> dict[str, tuple[int, int]]:
        """(size, stride) in input pixels of the units of every layer (`receptive_field`)."""
        return receptive_field(self.name)


@functools.lru_cache(maxsize=None)
def _jit_features(features: Features, layer: str) -> Any:
    return jax.jit(functools.partial(features, layer=layer))


@functools.lru_cache(maxsize=None)
def _jit_activations(features: Features, layer: str) -> Any:
    return jax.jit(functools.partial(features.activations, layer=layer))


def load(name: str, *, weights: Blobs) -> Network:
    """Network ``name`` with ``weights``, a canonical blobs dict (`init_blobs`, a reader's output).

    To read a weight file or the cache, use `jaxinv.weights.load_network` (the weights
    package sits above this one: its readers check files against these architectures).
    """
    s = spec(name)
    if isinstance(weights, (str, pathlib.Path)) or weights is None:
        raise JaxinvError(f"networks.load takes a blobs dict; to read {'the cache' if weights is None else 'a file'}"
                          f" use jaxinv.weights.load_network({name!r}, weights=...) or jaxinv.cnn(...)")
    if not isinstance(weights, dict):
        raise JaxinvError(
            f"weights must be a blobs dict, got {type(weights).__name__}; read a file with"
            " jaxinv.weights.load_network(name, weights=PATH)")
    blobs = weights
    return Network(s, params_from(name, blobs))
