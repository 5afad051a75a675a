"""timm's ViT-B/16 and ResNet-50 ``.safetensors`` (``vit_base_patch16_224.*``, ``resnet50.*``).

timm's ``VisionTransformer`` computes what torchvision's ``vit_b_16`` does (pre-norm blocks,
LayerNorm ε = 1e-6, exact GELU, class-token head) under other key names; this module renames
them and hands the state dict to `jaxinv.weights.statedict`:

    patch_embed.proj.*       → conv_proj.*
    cls_token, pos_embed     → class_token, encoder.pos_embedding
    blocks.N.norm1/norm2.*   → encoder.layers.encoder_layer_N.ln_1/ln_2.*
    blocks.N.attn.qkv.*      → ….self_attention.in_proj_weight / in_proj_bias (q, k, v rows: same order)
    blocks.N.attn.proj.*     → ….self_attention.out_proj.*
    blocks.N.mlp.fc1/fc2.*   → ….mlp.0/mlp.3.*
    norm.*, head.*           → encoder.ln.*, heads.head.*

timm's ViT-B/16 files normalise with mean = std = 0.5 (``pretrained_cfg``), recorded with the
converted weights as mean 127.5 and scale 1/127.5. timm's ResNet-50 keys are torchvision's
and its files normalise with ImageNet's mean/std, as torchvision's. Keys timm's other ViT variants add
(``fc_norm``, ``norm_pre``, register tokens, a missing head) are refused, naming the key.
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Mapping, Sequence

import numpy as np

from jaxinv.errors import JaxinvError
from jaxinv.weights import Blobs

__all__ = ["TIMM_PREPROCESSING", "is_timm_file", "is_timm_vit", "read_timm", "timm_keys",
           "torchvision_keys"]

TIMM_PREPROCESSING = ((127.5, 127.5, 127.5), (1 / 127.5, 1 / 127.5, 1 / 127.5))
_FIX = "use timm's vit_base_patch16_224 model.safetensors with --name vit_b_16"

_BLOCK = "encoder.layers.encoder_layer_"
_RULES = (  # (timm pattern, torchvision replacement)
    (r"patch_embed\.proj\.(weight|bias)", r"conv_proj.\1"),
    (r"cls_token", "class_token"),
    (r"pos_embed", "encoder.pos_embedding"),
    (r"blocks\.(\d+)\.norm1\.(weight|bias)", _BLOCK + r"\1.ln_1.\2"),
    (r"blocks\.(\d+)\.norm2\.(weight|bias)", _BLOCK + r"\1.ln_2.\2"),
    (r"blocks\.(\d+)\.attn\.qkv\.(weight|bias)", _BLOCK + r"\1.self_attention.in_proj_\2"),
    (r"blocks\.(\d+)\.attn\.proj\.(weight|bias)", _BLOCK + r"\1.self_attention.out_proj.\2"),
    (r"blocks\.(\d+)\.mlp\.fc1\.(weight|bias)", _BLOCK + r"\1.mlp.0.\2"),
    (r"blocks\.(\d+)\.mlp\.fc2\.(weight|bias)", _BLOCK + r"\1.mlp.3.\2"),
    (r"norm\.(weight|bias)", r"encoder.ln.\1"),
    (r"head\.(weight|bias)", r"heads.head.\1"),
)


def is_timm_vit(state: Mapping[str, object] | set[str]) -> bool:
    """Whether a state dict uses timm's ViT key names."""
    return "patch_embed.proj.weight" in state


def is_timm_file(path: str | os.PathLike[str]) -> bool:
    """Whether a ``.safetensors`` file is a state dict (timm's) rather than jaxinv's own cache file.

    Only the header is read: jaxinv's files carry their ``jaxinv-blobs`` metadata.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            return "jaxinv-blobs" not in (handle.metadata() or {})
    except (SafetensorError, OSError, ValueError):
        return False  # the jaxinv reader reports what is wrong with the file


def _rename(key: str, rules: Sequence[tuple[str, str]]) -> str | None:
    for pattern, replacement in rules:
        if re.fullmatch(pattern, key):
            return re.sub(f"^{pattern}$", replacement, key)
    return None


def torchvision_keys(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """timm's ViT keys → torchvision's; a key with no counterpart is refused by name."""
    out = {}
    for key, value in state.items():
        new = _rename(key, _RULES)
        if new is None:
            raise JaxinvError(f"timm key {key!r} has no counterpart in ViT-B/16 (another timm"
                              f" variant?); {_FIX}")
        out[new] = value
    return out


def timm_keys(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """torchvision's ViT keys → timm's (tests, and handing weights back to timm users)."""
    block = re.escape(_BLOCK)
    inverse = (
        (r"conv_proj\.(weight|bias)", r"patch_embed.proj.\1"),
        (r"class_token", "cls_token"),
        (r"encoder\.pos_embedding", "pos_embed"),
        (block + r"(\d+)\.ln_1\.(weight|bias)", r"blocks.\1.norm1.\2"),
        (block + r"(\d+)\.ln_2\.(weight|bias)", r"blocks.\1.norm2.\2"),
        (block + r"(\d+)\.self_attention\.in_proj_(weight|bias)", r"blocks.\1.attn.qkv.\2"),
        (block + r"(\d+)\.self_attention\.out_proj\.(weight|bias)", r"blocks.\1.attn.proj.\2"),
        (block + r"(\d+)\.mlp\.0\.(weight|bias)", r"blocks.\1.mlp.fc1.\2"),
        (block + r"(\d+)\.mlp\.3\.(weight|bias)", r"blocks.\1.mlp.fc2.\2"),
        (r"encoder\.ln\.(weight|bias)", r"norm.\1"),
        (r"heads\.head\.(weight|bias)", r"head.\1"),
    )
    out = {}
    for key, value in state.items():
        new = _rename(key, inverse)
        if new is None:
            raise JaxinvError(f"key {key!r} is not a ViT-B/16 key")
        out[new] = value
    return out


def read_timm(path: str | os.PathLike[str], *, network: str = "vit_b_16") -> Blobs:
    """Read timm's ViT-B/16 or ResNet-50 ``.safetensors`` into blobs with timm's pre-processing."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from jaxinv.weights.statedict import blobs_from_state, family_of, torchvision_preprocessing

    path = pathlib.Path(path)
    family = family_of(network)
    if family not in ("vit_b_16", "resnet50"):
        raise JaxinvError(f"timm .safetensors files hold ViT-B/16 or ResNet-50 here, not {network!r};"
                          " pass --name vit_b_16 or --name resnet50")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise JaxinvError(f"{path.name!r} is not a readable safetensors file ({detail}); {_FIX}") from None
    fix = _FIX if family == "vit_b_16" else f"use timm's resnet50 model.safetensors with --name {network}"
    for key, value in state.items():
        if not (np.issubdtype(value.dtype, np.floating) or key.endswith("num_batches_tracked")):
            raise JaxinvError(f"{path.name!r}: {key} is not a floating-point tensor; {fix}")
    if family == "resnet50":
        mean, scale = torchvision_preprocessing()
    elif is_timm_vit(state):
        state, (mean, scale) = torchvision_keys(state), TIMM_PREPROCESSING
    else:
        raise JaxinvError(f"{path.name!r} has no 'patch_embed.proj.weight', so it is not a timm ViT; {fix}")
    return blobs_from_state({k: v.astype(np.float32) for k, v in state.items()},
                            network, file=path.name, fix=fix, mean=mean, scale=scale)
