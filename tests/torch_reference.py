"""PyTorch CPU reference implementations of jaxinv's networks, built from canonical blobs.

Written independently of `jaxinv.networks` (torch's own conv/pool/LRN ops, NCHW, Caffe blobs
used as they are) so that parity tests compare two implementations of Caffe's semantics.

    outs = torch_model(name, blobs)(x_nhwc)   # {layer name: NHWC numpy array}

``x_nhwc`` is a numpy (N, S, S, 3) batch in the network's input space (what
``net.preprocess`` returns, batched). Every layer of ``jaxinv.networks.load(name).layers`` is a
key of the result (``fc``/``prob`` outputs are (N, O)). torch is imported lazily: import this
module freely, call `torch_model` only after ``require("torch")``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["torch_model"]

Blobs = dict[str, list[np.ndarray]]


def torch_model(name: str, blobs: Blobs) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """A function NHWC batch -> {layer: NHWC activations} for network ``name`` and ``blobs``."""
    import torch
    import torch.nn.functional as F

    t = {k: [torch.from_numpy(np.ascontiguousarray(a, np.float32)) for a in v]
         for k, v in blobs.items()}

    def conv(x, layer, *, stride=1, pad=0, group=1):
        w, b = t[layer][:2]
        return F.conv2d(x, w, b, stride=stride, padding=pad, groups=group)

    def fc(x, layer):
        w, b = t[layer][:2]
        return F.linear(torch.flatten(x, 1), w, b)  # NCHW flatten = Caffe's (C, H, W)

    def pool(x, k, s, pad=0):
        return F.max_pool2d(x, k, s, padding=pad, ceil_mode=True)

    def lrn(x):
        return F.local_response_norm(x, size=5, alpha=1e-4, beta=0.75, k=1.0)

    def alexnet_like(x, out, *, lrn_first: bool):
        def record(n, v):
            out[n] = v
            return v
        x = record("conv1", conv(x, "conv1", stride=4))
        x = record("relu1", F.relu(x))
        for i in (1, 2):
            if lrn_first:
                x = record(f"norm{i}", lrn(x))
                x = record(f"pool{i}", pool(x, 3, 2))
            else:
                x = record(f"pool{i}", pool(x, 3, 2))
                x = record(f"norm{i}", lrn(x))
            if i == 1:
                x = record("conv2", conv(x, "conv2", pad=2, group=2))
                x = record("relu2", F.relu(x))
        x = record("conv3", conv(x, "conv3", pad=1))
        x = record("relu3", F.relu(x))
        x = record("conv4", conv(x, "conv4", pad=1, group=2))
        x = record("relu4", F.relu(x))
        x = record("conv5", conv(x, "conv5", pad=1, group=2))
        x = record("relu5", F.relu(x))
        x = record("pool5", pool(x, 3, 2))
        classifier(x, out)

    def classifier(x, out):
        x = out["fc6"] = fc(x, "fc6")
        x = out["relu6"] = F.relu(x)
        x = out["fc7"] = fc(x, "fc7")
        x = out["relu7"] = F.relu(x)
        x = out["fc8"] = fc(x, "fc8")
        out["prob"] = F.softmax(x, dim=1)

    def torchvision_alexnet(x, out):
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        x = x / (255.0 * std)  # input = 255 (x01 - mean), RGB
        seq = [("conv1", lambda v: conv(v, "conv1", stride=4, pad=2)), ("relu1", F.relu),
               ("pool1", lambda v: F.max_pool2d(v, 3, 2)),
               ("conv2", lambda v: conv(v, "conv2", pad=2)), ("relu2", F.relu),
               ("pool2", lambda v: F.max_pool2d(v, 3, 2)),
               ("conv3", lambda v: conv(v, "conv3", pad=1)), ("relu3", F.relu),
               ("conv4", lambda v: conv(v, "conv4", pad=1)), ("relu4", F.relu),
               ("conv5", lambda v: conv(v, "conv5", pad=1)), ("relu5", F.relu),
               ("pool5", lambda v: F.max_pool2d(v, 3, 2))]
        for n, f in seq:
            x = out[n] = f(x)
        classifier(F.adaptive_avg_pool2d(x, (6, 6)), out)

    def squeezenet(x, out):
        x = out["conv1"] = conv(x, "conv1", stride=2)
        x = out["relu_conv1"] = F.relu(x)
        x = out["pool1"] = pool(x, 3, 2)
        for i in range(2, 10):
            p = f"fire{i}/"
            s = out[p + "squeeze1x1"] = conv(x, p + "squeeze1x1")
            s = out[p + "relu_squeeze1x1"] = F.relu(s)
            e1 = out[p + "expand1x1"] = conv(s, p + "expand1x1")
            e1 = out[p + "relu_expand1x1"] = F.relu(e1)
            e3 = out[p + "expand3x3"] = conv(s, p + "expand3x3", pad=1)
            e3 = out[p + "relu_expand3x3"] = F.relu(e3)
            x = out[p + "concat"] = torch.cat([e1, e3], 1)
            if i in (3, 5):
                x = out[f"pool{i}"] = pool(x, 3, 2)
        x = out["conv10"] = conv(x, "conv10")
        x = out["relu_conv10"] = F.relu(x)
        x = out["pool10"] = F.adaptive_avg_pool2d(x, 1)
        out["prob"] = F.softmax(x, dim=1)

    def googlenet(x, out):
        x = out["conv1/7x7_s2"] = conv(x, "conv1/7x7_s2", stride=2, pad=3)
        x = out["conv1/relu_7x7"] = F.relu(x)
        x = out["pool1/3x3_s2"] = pool(x, 3, 2)
        x = out["pool1/norm1"] = lrn(x)
        x = out["conv2/3x3_reduce"] = conv(x, "conv2/3x3_reduce")
        x = out["conv2/relu_3x3_reduce"] = F.relu(x)
        x = out["conv2/3x3"] = conv(x, "conv2/3x3", pad=1)
        x = out["conv2/relu_3x3"] = F.relu(x)
        x = out["conv2/norm2"] = lrn(x)
        x = out["pool2/3x3_s2"] = pool(x, 3, 2)
        for block in ("3a", "3b", "pool3", "4a", "4b", "4c", "4d", "4e", "pool4", "5a", "5b"):
            if block.startswith("pool"):
                x = out[f"{block}/3x3_s2"] = pool(x, 3, 2)
                continue
            p = f"inception_{block}/"
            branches = []
            for b, reduce, pad in (("1x1", None, 0), ("3x3", "3x3_reduce", 1),
                                   ("5x5", "5x5_reduce", 2)):
                y = x
                if reduce:
                    y = out[p + reduce] = conv(y, p + reduce)
                    y = out[p + "relu_" + reduce] = F.relu(y)
                y = out[p + b] = conv(y, p + b, pad=pad)
                branches.append(F.relu(y))
                out[p + "relu_" + b] = branches[-1]
            y = out[p + "pool"] = F.max_pool2d(x, 3, 1, padding=1, ceil_mode=True)
            y = out[p + "pool_proj"] = conv(y, p + "pool_proj")
            branches.append(F.relu(y))
            out[p + "relu_pool_proj"] = branches[-1]
            x = out[p + "output"] = torch.cat(branches, 1)
        x = out["pool5/7x7_s1"] = F.avg_pool2d(x, 7, 1, ceil_mode=True)
        x = out["loss3/classifier"] = fc(x, "loss3/classifier")
        out["prob"] = F.softmax(x, dim=1)

    forward = {
        "caffenet": lambda x, o: alexnet_like(x, o, lrn_first=False),
        "alexnet": lambda x, o: alexnet_like(x, o, lrn_first=True),
        "alexnet_torchvision": torchvision_alexnet,
        "squeezenet1_1": squeezenet,
        "googlenet": googlenet,
    }[name]

    def run(x_nhwc: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(x_nhwc, np.float32)).permute(0, 3, 1, 2)
            forward(x.contiguous(), out)
        return {k: (v.permute(0, 2, 3, 1) if v.ndim == 4 else v).numpy() for k, v in out.items()}

    return run
