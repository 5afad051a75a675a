"""A network as a Caffe-style graph of named layers, and the NNX module that runs it.

A network is a tuple of `Node` in topological order. Each node is one Caffe layer; its
name is the name a user stops at. Caffe's in-place ReLUs become nodes of their own (named as
the prototxt's ReLU layer), so ``conv1`` is the pre-activation and ``relu1`` the activation.
`Graph.__call__` computes only the ancestors of the requested layer, so a truncated network
costs nothing past its layer (and its jaxpr holds nothing past it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxinv.networks import layers as L
from jaxinv.networks import tokens as T

__all__ = ["Node", "Graph", "Shape", "infer_shapes", "blob_shapes", "receptive_fields",
           "ancestors"]

Shape = tuple[int, int, int]  # (H, W, C)

PARAM_OPS = ("conv", "fc", "dense", "layernorm", "attention", "embed", "normalize")


@dataclasses.dataclass(frozen=True)
class Node:
    """One Caffe layer.

    op: ``conv`` (out, kernel, stride, pad, group), ``fc`` (out), ``relu``, ``maxpool`` /
    ``avgpool`` (kernel, stride, pad; kernel 0 = global), ``lrn`` (size, alpha, beta, k),
    ``concat``, ``softmax``, ``affine`` (scale, shift per channel: a fixed input normaliser).
    Residual and transformer ops (`jaxinv.networks.tokens`; tokens are (1, T, D) maps):
    ``add`` (sum of the inputs), ``normalize`` (the weight file's input scale, a parameter),
    ``embed`` (class token + position embedding), ``layernorm``, ``attention`` (``group`` =
    heads), ``dense`` (out; a per-token linear layer), ``gelu``, ``select`` (the class token).

    ceil: Caffe's ceil rounding of pooled sizes (False: PyTorch's default floor).
    keys: the state-dict keys of the node's blobs when they are not ``NAME.weight`` and
      ``NAME.bias``; bn: the state-dict prefix of a BatchNorm folded into this convolution.
    doc: what the layer's output is, for ``jaxinv reps`` (generated from the op if empty).
    """

    name: str
    op: str
    inputs: tuple[str, ...]
    out: int = 0
    kernel: int = 0
    stride: int = 1
    pad: int = 0
    group: int = 1
    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0
    scale: tuple[float, ...] = ()
    shift: tuple[float, ...] = ()
    ceil: bool = True
    keys: tuple[str, ...] = ()
    bn: str = ""
    doc: str = ""


def ancestors(nodes: tuple[Node, ...], name: str) -> frozenset[str]:
    """The layers ``name`` depends on, itself included."""
    by_name = {n.name: n for n in nodes}
    needed, stack = set(), [name]
    while stack:
        cur = stack.pop()
        if cur in needed or cur not in by_name:
            continue
        needed.add(cur)
        stack.extend(by_name[cur].inputs)
    return frozenset(needed)


def _pool_kernel(node: Node, shape: tuple[int, ...]) -> tuple[int, int, int]:
    if node.kernel == 0:  # global pooling: one window over the whole map
        return shape[0], 1, 0
    return node.kernel, node.stride, node.pad


def infer_shapes(nodes: tuple[Node, ...], input_shape: Shape) -> dict[str, Shape]:
    """Output (H, W, C) of every layer for an input of ``input_shape``."""
    shapes: dict[str, Shape] = {"data": input_shape}
    for n in nodes:
        h, w, c = shapes[n.inputs[0]]
        if n.op == "conv":
            shapes[n.name] = ((h + 2 * n.pad - n.kernel) // n.stride + 1,
                              (w + 2 * n.pad - n.kernel) // n.stride + 1, n.out)
        elif n.op in ("maxpool", "avgpool"):
            k, s, p = _pool_kernel(n, (h, w, c))
            size = L.caffe_pool_size if n.ceil else L.floor_pool_size
            shapes[n.name] = (size(h, k, s, p), size(w, k, s, p), c)
        elif n.op == "fc":
            shapes[n.name] = (1, 1, n.out)
        elif n.op == "dense":
            shapes[n.name] = (h, w, n.out)
        elif n.op == "embed":
            shapes[n.name] = (1, h * w + 1, c)
        elif n.op == "select":
            shapes[n.name] = (1, 1, c)
        elif n.op == "concat":
            shapes[n.name] = (h, w, sum(shapes[i][2] for i in n.inputs))
        else:
            shapes[n.name] = (h, w, c)
    return shapes


def blob_shapes(nodes: tuple[Node, ...], input_shape: Shape) -> dict[str, list[tuple[int, ...]]]:
    """Canonical blob shapes (Caffe layouts) every parametric layer needs."""
    shapes = infer_shapes(nodes, input_shape)
    out = {}
    for n in nodes:
        h, w, c = shapes[n.inputs[0]]
        if n.op == "conv":
            out[n.name] = [(n.out, c // n.group, n.kernel, n.kernel), (n.out,)]
        elif n.op == "fc":
            out[n.name] = [(n.out, h * w * c), (n.out,)]
        elif n.op == "dense":
            out[n.name] = [(n.out, c), (n.out,)]
        elif n.op in ("layernorm", "normalize"):
            out[n.name] = [(c,), (c,)]
        elif n.op == "attention":
            out[n.name] = [(3 * c, c), (3 * c,), (c, c), (c,)]
        elif n.op == "embed":
            out[n.name] = [(1, h * w + 1, c), (1, 1, c)]
    return out


def receptive_fields(nodes: tuple[Node, ...], input_shape: Shape) -> dict[str, tuple[int, int]]:
    """(size, stride) in input pixels of each layer's units (fc = a conv over its whole input)."""
    shapes = infer_shapes(nodes, input_shape)
    rf: dict[str, tuple[int, int]] = {"data": (1, 1)}
    for n in nodes:
        size, stride = max(rf[i] for i in n.inputs)
        h = shapes[n.inputs[0]][0]
        if n.op == "conv":
            rf[n.name] = (size + (n.kernel - 1) * stride, stride * n.stride)
        elif n.op in ("maxpool", "avgpool"):
            k, s, _ = _pool_kernel(n, shapes[n.inputs[0]])
            rf[n.name] = (size + (k - 1) * stride, stride * s)
        elif n.op == "fc":
            rf[n.name] = (size + (h - 1) * stride, stride)
        elif n.op == "attention":  # every token sees every patch: the whole input
            rf[n.name] = (max(input_shape[:2]), stride)
        else:
            rf[n.name] = (size, stride)
    del rf["data"]
    return rf


def params_from_blobs(nodes: tuple[Node, ...], input_shape: Shape,
                      blobs: dict[str, list[np.ndarray]]) -> dict[str, tuple[np.ndarray, ...]]:
    """Canonical blobs -> (kernel, bias) in this module's layouts (shapes already checked).

    conv (O, C/G, kh, kw) -> (G, kh, kw, C/G, O/G); fc (O, C·H·W) -> (H·W·C, O), the rows
    permuted from Caffe's (C, H, W) flatten order to NHWC's (H, W, C).
    """
    shapes = infer_shapes(nodes, input_shape)
    out = {}
    for n in nodes:
        if n.op in PARAM_OPS:
            arrays = [np.asarray(a, np.float32) for a in blobs[n.name][:len(_ARITY[n.op])]]
            out[n.name] = tuple(np.ascontiguousarray(a)
                                for a in node_params(n, arrays, shapes[n.inputs[0]]))
    return out


_ARITY = {"conv": "wb", "fc": "wb", "dense": "wb", "layernorm": "wb", "normalize": "ms",
          "attention": "wbwb", "embed": "pc"}


def node_params(n: Node, arrays: list[Any], in_shape: Shape) -> tuple[Any, ...]:
    """One node's canonical blobs -> its module's arrays (array methods only: numpy or jax).

    conv (O, C/G, kh, kw) -> (G, kh, kw, C/G, O/G); fc (O, C·H·W) -> (H·W·C, O), rows from
    Caffe's (C, H, W) flatten order to NHWC's (H, W, C); dense and attention weights are
    transposed (x Wᵀ); the rest keep their shapes, flattened to one axis where they are vectors.
    """
    if n.op == "conv":
        w, b = arrays
        o, ci, kh, kw = w.shape
        return w.reshape(n.group, o // n.group, ci, kh, kw).transpose(0, 3, 4, 2, 1), b.reshape(-1)
    if n.op == "fc":
        w, b = arrays
        h, wd, c = in_shape
        return w.reshape(n.out, c, h, wd).transpose(2, 3, 1, 0).reshape(h * wd * c, n.out), b.reshape(-1)
    if n.op in ("dense", "attention"):
        return tuple(a.T if a.ndim == 2 else a.reshape(-1) for a in arrays)
    if n.op == "embed":
        return arrays[0].reshape(-1, in_shape[2]), arrays[1].reshape(-1)
    return tuple(a.reshape(-1) for a in arrays)


class Graph(nnx.Module):
    """Runs a tuple of `Node` on (N, H, W, C) input, stopping at a named layer."""

    def __init__(self, nodes: tuple[Node, ...], weights: dict[str, tuple[Any, ...]]):
        self.nodes = tuple(nodes)
        mods = {}
        for n in nodes:
            if n.op in PARAM_OPS:
                arrays = [jnp.asarray(a) for a in weights[n.name]]
                mods[n.name] = _module(n, arrays)
        self.layers = nnx.Dict(mods)

    def __call__(self, x: jax.Array, *, layer: str, relu_slope: float = 0.0,
                 relu: Callable[[jax.Array], jax.Array] | None = None) -> jax.Array:
        return self.activations(x, layer=layer, relu_slope=relu_slope, relu=relu)[layer]

    def activations(self, x: jax.Array, *, layer: str, relu_slope: float = 0.0,
                    relu: Callable[[jax.Array], jax.Array] | None = None) -> dict[str, jax.Array]:
        """Every activation computed on the way to ``layer`` (its ancestors only).

        ``relu_slope`` > 0 makes every ReLU leaky (`layers.leaky_relu`), as IJCV 2016's
        activation maximisation does; 0 is the network as it was trained. ``relu``, when given,
        replaces every ReLU on the way (`jaxinv.atlas.dead.redirected_relu`, say).
        """
        needed = ancestors(self.nodes, layer)
        acts = {"data": x}
        for n in self.nodes:
            if n.name not in needed:
                continue
            acts[n.name] = (relu(acts[n.inputs[0]]) if relu is not None and n.op == "relu"
                            else self._apply(n, [acts[i] for i in n.inputs], relu_slope))
            if n.name == layer:
                del acts["data"]
                return acts
        raise KeyError(layer)

    def _apply(self, n: Node, xs: list[jax.Array], relu_slope: float = 0.0) -> jax.Array:
        x = xs[0]
        if n.op in PARAM_OPS:
            return self.layers[n.name](x)
        if n.op == "relu":
            return L.leaky_relu(x, relu_slope) if relu_slope else L.relu(x)
        if n.op == "maxpool":
            k, s, p = _pool_kernel(n, x.shape[1:])
            return L.max_pool(x, kernel=k, stride=s, pad=p, ceil=n.ceil)
        if n.op == "avgpool":
            k, s, p = _pool_kernel(n, x.shape[1:])
            return L.avg_pool(x, kernel=k, stride=s, pad=p)
        if n.op == "add":
            return sum(xs[1:], xs[0])
        if n.op == "gelu":
            return T.gelu(x)
        if n.op == "select":
            return x[:, :, :1]
        if n.op == "lrn":
            return L.lrn(x, size=n.size, alpha=n.alpha, beta=n.beta, k=n.k)
        if n.op == "concat":
            return jnp.concatenate(xs, axis=-1)
        if n.op == "softmax":
            return L.softmax(x)
        if n.op == "affine":
            return x * jnp.asarray(n.scale, x.dtype) + jnp.asarray(n.shift, x.dtype)
        raise ValueError(f"unknown op {n.op!r}")


def _module(n: Node, arrays: list[jax.Array]) -> nnx.Module:
    if n.op == "conv":
        return L.Conv(*arrays, stride=n.stride, pad=n.pad)
    if n.op == "fc":
        return L.Linear(*arrays)
    if n.op == "attention":
        return T.Attention(*arrays, heads=n.group)
    return {"dense": T.Dense, "layernorm": T.LayerNorm, "embed": T.Embed,
            "normalize": T.Normalize}[n.op](*arrays)


@dataclasses.dataclass(frozen=True)
class NetworkSpec:
    """Everything that defines a network except its weights.

    mean: subtracted from the input, in the network's channel order and 0-255 units.
    bgr: whether the network's input channels are (B, G, R) (Caffe's convention).
    aliases: short names (``fire5``) for layers (``fire5/concat``).
    hidden: nodes that are not user-facing layers (a fixed input normaliser).
    family: the architecture (``vgg16``, ``resnet50``, ``vit_b_16``) of networks whose layers
      are named by torchvision's state-dict module paths; empty for the Caffe-named ones.
    """

    name: str
    nodes: tuple[Node, ...]
    input_size: int
    mean: tuple[float, float, float]
    bgr: bool
    aliases: tuple[tuple[str, str], ...] = ()
    hidden: tuple[str, ...] = ()
    description: str = ""
    family: str = ""

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes if n.name not in self.hidden)

    @property
    def input_shape(self) -> Shape:
        return (self.input_size, self.input_size, 3)


def chain(*nodes: Node, start: str = "data") -> tuple[Node, ...]:
    """Nodes whose empty ``inputs`` mean "the previous node" (``start`` for the first)."""
    out, prev = [], start
    for n in nodes:
        if not n.inputs:
            n = dataclasses.replace(n, inputs=(prev,))
        out.append(n)
        prev = n.name
    return tuple(out)


def conv(name: str, out: int, kernel: int, *, stride: int = 1, pad: int = 0, group: int = 1,
         inputs: tuple[str, ...] = ()) -> Node:
    return Node(name, "conv", inputs, out=out, kernel=kernel, stride=stride, pad=pad, group=group)


def fc(name: str, out: int, *, inputs: tuple[str, ...] = ()) -> Node:
    return Node(name, "fc", inputs, out=out)


def relu(name: str, *, inputs: tuple[str, ...] = ()) -> Node:
    return Node(name, "relu", inputs)


def maxpool(name: str, kernel: int, stride: int, *, pad: int = 0, ceil: bool = True,
            inputs: tuple[str, ...] = ()) -> Node:
    return Node(name, "maxpool", inputs, kernel=kernel, stride=stride, pad=pad, ceil=ceil)


def avgpool(name: str, kernel: int, stride: int = 1, *, inputs: tuple[str, ...] = ()) -> Node:
    return Node(name, "avgpool", inputs, kernel=kernel, stride=stride)


def lrn(name: str, *, inputs: tuple[str, ...] = ()) -> Node:
    """LRN with the AlexNet/GoogLeNet constants: local_size 5, α 1e-4, β 0.75, k 1."""
    return Node(name, "lrn", inputs, size=5, alpha=1e-4, beta=0.75, k=1.0)


def concat(name: str, inputs: tuple[str, ...]) -> Node:
    return Node(name, "concat", inputs)


def softmax(name: str = "prob") -> Node:
    return Node(name, "softmax", ())
