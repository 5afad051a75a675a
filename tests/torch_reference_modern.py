"""Plain-PyTorch VGG-16, ResNet-50 and ViT-B/16 whose state dicts carry torchvision's key names.

Written for the parity tests from the papers' descriptions with torch.nn modules only
(torchvision is not a dependency): `nn.Conv2d`, `nn.BatchNorm2d` in eval mode (not folded),
`nn.MultiheadAttention`, `nn.LayerNorm`, `nn.GELU`. ``model.state_dict()`` has exactly the keys
torchvision's ``vgg16()``, ``resnet50()`` and ``vit_b_16()`` have, at any width, so saving it
gives a ``.pth`` in torchvision's layout.

    model = vgg16(widths=...) | resnet50(width=...) | vit_b_16(dim=..., ...)
    randomize(model, seed)            # random weights and BatchNorm statistics
    outs = run(model, x_nhwc)         # {jaxinv layer name: NHWC (or (N, 1, T, D)) numpy}

``x_nhwc`` is already normalised the torchvision way ((x/255 - mean)/std, RGB). torch is
imported lazily by the builders: import this module freely, call them after ``require("torch")``.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

__all__ = ["randomize", "resnet50", "run", "vgg16", "vit_b_16"]


def vgg16(*, widths=(64, 128, 256, 512, 512), hidden=4096, classes=1000):
    from torch import nn

    layers, channels = [], 3
    for count, width in zip((2, 2, 3, 3, 3), widths):
        for _ in range(count):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        layers.append(nn.MaxPool2d(2, 2))
    model = nn.Module()
    model.features = nn.Sequential(*layers)
    model.classifier = nn.Sequential(
        nn.Linear(channels * 49, hidden), nn.ReLU(), nn.Dropout(), nn.Linear(hidden, hidden),
        nn.ReLU(), nn.Dropout(), nn.Linear(hidden, classes))
    model.kind = "vgg16"
    return model


def _bottleneck(inputs: int, width: int, stride: int):
    from torch import nn

    block = nn.Module()
    block.conv1 = nn.Conv2d(inputs, width, 1, bias=False)
    block.bn1 = nn.BatchNorm2d(width)
    block.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
    block.bn2 = nn.BatchNorm2d(width)
    block.conv3 = nn.Conv2d(width, 4 * width, 1, bias=False)
    block.bn3 = nn.BatchNorm2d(4 * width)
    block.relu = nn.ReLU()
    if stride != 1 or inputs != 4 * width:
        block.downsample = nn.Sequential(nn.Conv2d(inputs, 4 * width, 1, stride=stride, bias=False),
                                         nn.BatchNorm2d(4 * width))
    return block


def resnet50(*, width=64, blocks=(3, 4, 6, 3), classes=1000):
    from torch import nn

    model = nn.Module()
    model.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
    model.bn1 = nn.BatchNorm2d(width)
    model.relu = nn.ReLU()
    model.maxpool = nn.MaxPool2d(3, 2, padding=1)
    inputs = width
    for i, count in enumerate(blocks, start=1):
        w = width * 2 ** (i - 1)
        stages = []
        for j in range(count):
            stages.append(_bottleneck(inputs, w, 2 if i > 1 and j == 0 else 1))
            inputs = 4 * w
        setattr(model, f"layer{i}", nn.Sequential(*stages))
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    model.fc = nn.Linear(inputs, classes)
    model.kind = "resnet50"
    return model


def vit_b_16(*, patch=16, dim=768, depth=12, heads=12, mlp=3072, classes=1000, image=224):
    import torch
    from torch import nn

    model = nn.Module()
    model.conv_proj = nn.Conv2d(3, dim, patch, stride=patch)
    model.class_token = nn.Parameter(torch.zeros(1, 1, dim))
    model.encoder = nn.Module()
    model.encoder.pos_embedding = nn.Parameter(torch.zeros(1, (image // patch) ** 2 + 1, dim))
    blocks = OrderedDict()
    for i in range(depth):
        block = nn.Module()
        block.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        block.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        block.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        block.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Dropout(), nn.Linear(mlp, dim),
                                  nn.Dropout())
        blocks[f"encoder_layer_{i}"] = block
    model.encoder.layers = nn.Sequential(blocks)
    model.encoder.ln = nn.LayerNorm(dim, eps=1e-6)
    model.heads = nn.Sequential(OrderedDict(head=nn.Linear(dim, classes)))
    model.kind = "vit_b_16"
    return model


def randomize(model, seed: int) -> None:
    """Random parameters and BatchNorm running statistics (so that folding is exercised)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue  # num_batches_tracked
            leaf = name.rsplit(".", 1)[-1]
            noise = torch.randn(tensor.shape, generator=generator)
            norm = ".bn" in name or name.startswith("bn") or "downsample.1" in name or ".ln" in name
            if leaf == "running_var":
                tensor.copy_(0.5 + noise.abs())
            elif "embedding" in name or "token" in name:
                tensor.copy_(0.02 * noise)
            elif norm:
                tensor.copy_((1.0 if leaf == "weight" else 0.0) + 0.1 * noise)
            elif tensor.ndim >= 2:
                gain = 0.2 if ".conv3." in name else 1.0
                tensor.copy_(noise * gain * (2.0 / tensor[0].numel()) ** 0.5)
            else:
                tensor.copy_(noise)
    model.eval()


def _nhwc(t):
    return (t.permute(0, 2, 3, 1) if t.ndim == 4 else t).detach().numpy()


def _vgg(model, x, out):
    for i, layer in enumerate(model.features):
        x = out[f"features.{i}"] = layer(x)
    x = x.flatten(1)
    for i in (0, 1, 3, 4, 6):
        x = out[f"classifier.{i}"] = model.classifier[i](x)


def _resnet(model, x, out):
    import torch.nn.functional as F

    x = out["conv1"] = model.bn1(model.conv1(x))
    x = out["relu"] = F.relu(x)
    x = out["maxpool"] = model.maxpool(x)
    for i in range(1, 5):
        for j, block in enumerate(getattr(model, f"layer{i}")):
            p = f"layer{i}.{j}"
            y = out[f"{p}.conv1"] = block.bn1(block.conv1(x))
            y = out[f"{p}.relu1"] = F.relu(y)
            y = out[f"{p}.conv2"] = block.bn2(block.conv2(y))
            y = out[f"{p}.relu2"] = F.relu(y)
            y = out[f"{p}.conv3"] = block.bn3(block.conv3(y))
            shortcut = x
            if hasattr(block, "downsample"):
                shortcut = out[f"{p}.downsample"] = block.downsample(x)
            y = out[f"{p}.add"] = y + shortcut
            x = out[p] = F.relu(y)
    x = out["avgpool"] = model.avgpool(x)
    out["fc"] = model.fc(x.flatten(1))


def _vit(model, x, out):
    import torch

    x = out["conv_proj"] = model.conv_proj(x)
    tokens = x.flatten(2).transpose(1, 2)
    tokens = torch.cat([model.class_token.expand(len(tokens), -1, -1), tokens], dim=1)
    x = out["encoder.pos_embedding"] = tokens + model.encoder.pos_embedding
    for name, block in model.encoder.layers.named_children():
        p = f"encoder.layers.{name}"
        y = out[f"{p}.ln_1"] = block.ln_1(x)
        y = out[f"{p}.self_attention"] = block.self_attention(y, y, y, need_weights=False)[0]
        x = out[f"{p}.residual"] = x + y
        y = out[f"{p}.ln_2"] = block.ln_2(x)
        for i in (0, 1, 3):
            y = out[f"{p}.mlp.{i}"] = block.mlp[i](y)
        x = out[p] = x + y
    x = out["encoder.ln"] = model.encoder.ln(x)
    x = out["pre_logits"] = x[:, 0]
    out["heads.head"] = model.heads.head(x)


def run(model, x_nhwc: np.ndarray) -> dict[str, np.ndarray]:
    """{layer: activation} of every jaxinv layer of ``model`` for a normalised NHWC batch."""
    import torch

    out: dict = {}
    forward = {"vgg16": _vgg, "resnet50": _resnet, "vit_b_16": _vit}[model.kind]
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(x_nhwc, np.float32)).permute(0, 3, 1, 2)
        forward(model, x.contiguous(), out)
        out["prob"] = torch.softmax(out[list(out)[-1]].flatten(1), dim=1)
    return {k: _nhwc(v) for k, v in out.items()}
