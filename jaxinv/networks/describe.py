"""What each layer of a network outputs, in words, for ``jaxinv reps``."""

from __future__ import annotations

from jaxinv.networks.graph import NetworkSpec, Node, infer_shapes

__all__ = ["describe"]


def _op_text(n: Node) -> str:
    k = f"{n.kernel}×{n.kernel}"
    if n.op == "conv":
        text = f"convolution {k}" + (f" stride {n.stride}" if n.stride > 1 else "")
        return text + (f", {n.bn} folded in" if n.bn else "")
    if n.op in ("maxpool", "avgpool"):
        kind = "max" if n.op == "maxpool" else "average"
        return f"global {kind} pooling" if n.kernel == 0 else f"{kind} pooling {k} stride {n.stride}"
    return {
        "relu": "ReLU", "fc": "fully connected", "softmax": "softmax over the classes",
        "lrn": "local response normalisation", "concat": "concatenation of " + ", ".join(n.inputs),
        "dense": "linear layer on every token", "layernorm": "LayerNorm of every token",
        "attention": f"multi-head self-attention ({n.group} heads)", "gelu": "GELU",
        "add": "sum of " + " and ".join(n.inputs), "embed": "token embedding",
        "select": "the class token", "affine": "input scaling", "normalize": "input scaling",
    }.get(n.op, n.op)


def _shape_text(shape: tuple[int, int, int], tokens: bool) -> str:
    h, w, c = shape
    return f"{w} tokens × {c}" if tokens and h == 1 and w > 1 else f"{h}×{w}×{c}"


def describe(spec: NetworkSpec) -> dict[str, str]:
    """{layer: "what it is (shape at the network's input size); aliases"} for every layer."""
    shapes = infer_shapes(spec.nodes, spec.input_shape)
    aliases: dict[str, list[str]] = {}
    for alias, target in spec.aliases:
        aliases.setdefault(target, []).append(alias)
    tokens, out = False, {}
    for n in spec.nodes:
        tokens = tokens or n.op == "embed"
        if n.name in spec.hidden:
            continue
        text = f"{n.doc or _op_text(n)} ({_shape_text(shapes[n.name], tokens)})"
        if n.name in aliases:
            text += "; alias " + ", ".join(aliases[n.name])
        out[n.name] = text
    return out
