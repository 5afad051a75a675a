"""ViT-B/16 (Dosovitskiy et al. 2021) as torchvision's ``vit_b_16`` lays it out.

Tokens are (1, T, D) maps (`jaxinv.networks.tokens`): 16×16 patches of the 224×224 input
give 14×14 = 196 patch tokens plus the class token, T = 197, D = 768. Layers, by
torchvision's module paths: ``conv_proj`` (the patch embedding), ``encoder.pos_embedding``
(class token prepended, position embedding added: the encoder's input), twelve blocks
``encoder.layers.encoder_layer_N`` (alias ``encoder_layer_N``) of ``ln_1`` →
``self_attention`` → ``residual`` (input + attention) → ``ln_2`` → ``mlp.0`` (3072) →
``mlp.1`` (GELU) → ``mlp.3`` (768) → the block's output tokens (residual + MLP); then
``encoder.ln``, ``pre_logits`` (its class token, the head's input), ``heads.head`` and
``prob``. Dropout is the identity at inference: its module paths are aliases.

timm's ``vit_base_patch16_224`` is the same network under other key names
(`jaxinv.weights.timm`). The input is RGB in 0-255 minus the weight file's mean, scaled by
the hidden ``normalize`` node (torchvision: ImageNet mean/std; timm: mean = std = 0.5).
"""

from __future__ import annotations

from jaxinv.networks.graph import Node, NetworkSpec, chain, conv, fc, softmax
from jaxinv.networks.vgg16 import normalize, torchvision_mean

__all__ = ["SPEC", "build"]


def _block(p: str, src: str, dim: int, heads: int, mlp: int) -> tuple[list, list]:
    attention_keys = tuple(f"{p}.self_attention.{k}" for k in (
        "in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"))
    nodes = [
        Node(f"{p}.ln_1", "layernorm", (src,)),
        Node(f"{p}.self_attention", "attention", (), group=heads, keys=attention_keys),
        Node(f"{p}.residual", "add", (src, f"{p}.self_attention"),
             doc="the block's input plus its attention output (ln_2's input)"),
        Node(f"{p}.ln_2", "layernorm", ()),
        Node(f"{p}.mlp.0", "dense", (), out=mlp),
        Node(f"{p}.mlp.1", "gelu", ()),
        Node(f"{p}.mlp.3", "dense", (), out=dim),
        Node(p, "add", (f"{p}.residual", f"{p}.mlp.3"), doc="the block's output tokens"),
    ]
    short = p.rsplit(".", 1)[1]
    aliases = [(short, p), (f"{p}.dropout", f"{p}.self_attention"), (f"{p}.mlp.2", f"{p}.mlp.1"),
               (f"{p}.mlp.4", f"{p}.mlp.3"), (f"{p}.mlp", f"{p}.mlp.3")]
    return nodes, aliases


def build(*, name: str = "vit_b_16", patch: int = 16, dim: int = 768, depth: int = 12,
          heads: int = 12, mlp: int = 3072, classes: int = 1000, input_size: int = 224
          ) -> NetworkSpec:
    """ViT-B/16 at the given sizes (the defaults are the real network's; tests shrink them)."""
    nodes = [normalize(), conv("conv_proj", dim, patch, stride=patch),
             Node("encoder.pos_embedding", "embed", (), keys=("encoder.pos_embedding", "class_token"),
                  doc="class token + patch tokens + position embedding (the encoder's input)")]
    aliases, src = [("encoder.dropout", "encoder.pos_embedding")], "encoder.pos_embedding"
    for i in range(depth):
        block, extra = _block(f"encoder.layers.encoder_layer_{i}", src, dim, heads, mlp)
        nodes += block
        aliases += extra
        src = block[-1].name
    nodes += [Node("encoder.ln", "layernorm", (src,)),
              Node("pre_logits", "select", (), doc="the class token of encoder.ln (the head's input)"),
              fc("heads.head", classes), softmax("prob")]
    aliases += [("encoder", "encoder.ln"), ("heads", "heads.head")]
    return NetworkSpec(
        name=name, nodes=chain(*nodes), input_size=input_size, mean=torchvision_mean(), bgr=False,
        aliases=tuple(aliases), hidden=("normalize",), family="vit_b_16",
        description="ViT-B/16 (torchvision vit_b_16 or timm vit_base_patch16_224), RGB 224")


SPEC = build()
