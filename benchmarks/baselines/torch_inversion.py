"""The CVPR 2015 inversion (METHOD.md §1.2, §2.1) in PyTorch eager mode: a speed baseline.

Written as a careful PyTorch user would, independently of `jaxinv` (numpy and torch only):

- the network is an ``nn.Sequential`` of torch's own layers (NCHW, ``groups=2`` convolutions,
  ``ceil_mode`` max pools, ``nn.LocalResponseNorm``, ``nn.Linear`` on the NCHW flatten, which is
  Caffe's (C, H, W) order), built from canonical Caffe blobs ``{layer: [weight, bias]}`` and
  cut at the requested layer, so nothing past it is computed; weights frozen
  (``requires_grad=False``), ``eval()``;
- the variable is the normalised image u = x/σ of B independent problems, (B, C, H, W), the
  only tensor that requires a gradient;
- energy of problem b (METHOD.md §1.2, with jaxinv's size weight c)::

      E_b(u_b) = c ‖Φ(σ u_b) − Φ0_b‖² / ‖Φ0_b‖² + λ_α Σ u_b^α + λ_V Σ_{c,i,j} (d_x² + d_y²)^(β/2)

  with forward differences per channel, zero on the last row and column; the batch minimises
  Σ_b E_b, whose gradient separates by problem;
- heavy-ball momentum v ← μ v − η_t ∇E, u ← u + v, μ = 0.9, v zeroed at the first step of
  every stage of the schedule [(η, iterations), …].

Unlike jaxinv it keeps no snapshots and does not refuse non-finite steps (neither changes an
iterate of a run that stays finite). Usage::

    net = build_network("caffenet", blobs, "conv5")
    inv = TorchInversion(net, targets_nhwc, u0_nhwc, schedule=[(0.004, 100), (0.0004, 200), (0.00004, 100)],
                         lambda_tv=50.0)
    inv.run(20)                    # 20 steps
    x = inv.images_nhwc()          # σ u as (B, H, W, C) numpy
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "CAFFENET_LAYERS",
    "LAMBDA_ALPHA",
    "SIGMA",
    "SQUEEZENET_LAYERS",
    "TorchInversion",
    "build_network",
]

#: σ of the authors' ``x0_sigma.mat`` (METHOD.md §1.1).
SIGMA = 27098.11571533
#: The paper's λ_α = (8e-10 / 2) σ⁴ (METHOD.md §1.2).
LAMBDA_ALPHA = 4e-10 * SIGMA ** 4

CAFFENET_LAYERS = ("conv1", "relu1", "pool1", "norm1", "conv2", "relu2", "pool2", "norm2",
                   "conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool5",
                   "fc6", "relu6", "fc7", "relu7", "fc8")
SQUEEZENET_LAYERS = ("conv1", "relu_conv1", "pool1", "fire2", "fire3", "pool3", "fire4",
                     "fire5", "pool5", "fire6", "fire7", "fire8", "fire9", "conv10",
                     "relu_conv10", "pool10")

Blobs = dict[str, list[np.ndarray]]


def _frozen(module):
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


def _conv(blobs: Blobs, name: str, *, stride: int = 1, pad: int = 0, groups: int = 1):
    import torch
    from torch import nn

    w, b = (np.asarray(a, np.float32) for a in blobs[name][:2])
    out, cin_g, kh, _ = w.shape
    conv = nn.Conv2d(cin_g * groups, out, kh, stride=stride, padding=pad, groups=groups)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(w))
        conv.bias.copy_(torch.from_numpy(b.reshape(-1)))
    return conv


def _linear(blobs: Blobs, name: str):
    import torch
    from torch import nn

    w, b = (np.asarray(a, np.float32) for a in blobs[name][:2])
    fc = nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        fc.weight.copy_(torch.from_numpy(w))
        fc.bias.copy_(torch.from_numpy(b.reshape(-1)))
    return fc


def _caffenet(blobs: Blobs, layer: str):
    from torch import nn

    pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)
    lrn = lambda: nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
    make = {
        "conv1": lambda: _conv(blobs, "conv1", stride=4), "relu1": nn.ReLU, "pool1": pool,
        "norm1": lrn, "conv2": lambda: _conv(blobs, "conv2", pad=2, groups=2), "relu2": nn.ReLU,
        "pool2": pool, "norm2": lrn, "conv3": lambda: _conv(blobs, "conv3", pad=1),
        "relu3": nn.ReLU, "conv4": lambda: _conv(blobs, "conv4", pad=1, groups=2),
        "relu4": nn.ReLU, "conv5": lambda: _conv(blobs, "conv5", pad=1, groups=2),
        "relu5": nn.ReLU, "pool5": pool,
        "fc6": lambda: nn.Sequential(nn.Flatten(1), _linear(blobs, "fc6")), "relu6": nn.ReLU,
        "fc7": lambda: _linear(blobs, "fc7"), "relu7": nn.ReLU, "fc8": lambda: _linear(blobs, "fc8"),
    }
    names = CAFFENET_LAYERS[:CAFFENET_LAYERS.index(layer) + 1]
    return nn.Sequential(*[make[n]() for n in names])


def _fire(blobs: Blobs, n: int):
    import torch
    from torch import nn

    p = f"fire{n}/"

    class Fire(nn.Module):
        def __init__(self):
            super().__init__()
            self.squeeze = _conv(blobs, p + "squeeze1x1")
            self.expand1x1 = _conv(blobs, p + "expand1x1")
            self.expand3x3 = _conv(blobs, p + "expand3x3", pad=1)

        def forward(self, x):
            s = torch.relu(self.squeeze(x))
            return torch.cat([torch.relu(self.expand1x1(s)), torch.relu(self.expand3x3(s))], 1)

    return Fire()


def _squeezenet(blobs: Blobs, layer: str):
    from torch import nn

    pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)
    make = {"conv1": lambda: _conv(blobs, "conv1", stride=2), "relu_conv1": nn.ReLU,
            "pool1": pool, "pool3": pool, "pool5": pool, "conv10": lambda: _conv(blobs, "conv10"),
            "relu_conv10": nn.ReLU, "pool10": lambda: nn.AdaptiveAvgPool2d(1)}
    make.update({f"fire{i}": (lambda i=i: _fire(blobs, i)) for i in range(2, 10)})
    layer = layer.removesuffix("/concat")
    names = SQUEEZENET_LAYERS[:SQUEEZENET_LAYERS.index(layer) + 1]
    return nn.Sequential(*[make[n]() for n in names])


def build_network(name: str, blobs: Blobs, layer: str):
    """``nn.Sequential`` of network ``name`` from canonical blobs, ending at ``layer``; frozen.

    ``caffenet`` (any of `CAFFENET_LAYERS`) or ``squeezenet1_1`` (`SQUEEZENET_LAYERS`, fire
    modules as a whole: ``fire9`` or ``fire9/concat``). Input and output are NCHW; fc outputs
    are (N, O).
    """
    builders = {"caffenet": (_caffenet, CAFFENET_LAYERS), "squeezenet1_1": (_squeezenet, SQUEEZENET_LAYERS)}
    if name not in builders:
        raise ValueError(f"no torch baseline for network {name!r}; use one of {', '.join(builders)}")
    build, layers = builders[name]
    if layer.removesuffix("/concat") not in layers:
        raise ValueError(f"{name} baseline has no layer {layer!r}; use one of {', '.join(layers)}")
    return _frozen(build(blobs, layer))


def _per_step(schedule: Sequence[tuple[float, int]]) -> tuple[list[float], list[bool]]:
    rates, starts = [], []
    for lr, its in schedule:
        rates += [float(lr)] * int(its)
        starts += [True] + [False] * (int(its) - 1)
    return rates, starts


class TorchInversion:
    """B independent inversions, one momentum step per `step` call (see the module doc).

    Args:
      net: a frozen module NCHW image -> code (`build_network`).
      targets: Φ0 of each problem, (B, H', W', C') NHWC as jaxinv gives them, or (B, O).
      u0: the initial normalised image u of each problem, (B, H, W, C) NHWC (jaxinv's
        ``init_carry(...).variable`` with its R = 1 axis dropped).
      schedule: stages [(learning rate, iterations), …]; momentum is zeroed at each start.
      lambda_tv, lambda_alpha, alpha, beta, sigma: the paper's constants (paper units on u).
      size_weight: c, the data term's weight (1 at 227×227×3 and above).
      momentum: μ.
      channels_last: keep activations in torch's channels-last memory format (NHWC strides).
    """

    def __init__(self, net, targets: np.ndarray, u0: np.ndarray, *,
                 schedule: Sequence[tuple[float, int]], lambda_tv: float,
                 lambda_alpha: float = LAMBDA_ALPHA, alpha: float = 6.0, beta: float = 2.0,
                 sigma: float = SIGMA, size_weight: float = 1.0, momentum: float = 0.9,
                 channels_last: bool = False):
        import torch

        self.torch = torch
        self.net = net
        self.channels_last = channels_last
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.net = net.to(memory_format=torch.channels_last)
        t = torch.from_numpy(np.array(targets, np.float32))  # a writable copy
        if t.ndim == 4:
            t = t.permute(0, 3, 1, 2)
        self.targets = t.contiguous(memory_format=fmt) if t.ndim == 4 else t.contiguous()
        self.norms = (self.targets * self.targets).flatten(1).sum(1)
        u = torch.from_numpy(np.array(u0, np.float32)).permute(0, 3, 1, 2)
        self.u = u.contiguous(memory_format=fmt).requires_grad_(True)
        self.v = torch.zeros_like(self.u, requires_grad=False)
        self.rates, self.starts = _per_step(schedule)
        self.lambda_tv, self.lambda_alpha = float(lambda_tv), float(lambda_alpha)
        self.alpha, self.beta, self.sigma = float(alpha), float(beta), float(sigma)
        self.size_weight, self.momentum = float(size_weight), float(momentum)
        self.t = 0

    def energy_terms(self, u):
        """Per-problem [data, λ_V TV, λ_α Σu^α, total], (B, 4); differentiable in ``u``."""
        torch = self.torch
        codes = self.net(u * self.sigma)
        diff = codes - self.targets
        data = (diff * diff).flatten(1).sum(1) / self.norms
        dx = u[:, :, :, 1:] - u[:, :, :, :-1]
        dy = u[:, :, 1:, :] - u[:, :, :-1, :]
        if self.beta == 2:  # the zero last column / row add nothing to Σ d²
            tv = (dx * dx).sum((1, 2, 3)) + (dy * dy).sum((1, 2, 3))
        else:
            dx = torch.nn.functional.pad(dx, (0, 1))
            dy = torch.nn.functional.pad(dy, (0, 0, 0, 1))
            s = dx * dx + dy * dy
            tiny = 1e-12  # jaxinv's floor for a finite gradient at 0
            tv = torch.where(s > tiny, s.clamp_min(tiny) ** (self.beta / 2),
                             s * tiny ** (self.beta / 2 - 1)).sum((1, 2, 3))
        a = self.alpha
        if float(a).is_integer() and int(a) % 2 == 0:
            an = (u ** int(a)).sum((1, 2, 3))
        else:
            an = (u.abs() ** a).sum((1, 2, 3))
        tv, an = self.lambda_tv * tv, self.lambda_alpha * an
        return torch.stack([data, tv, an, self.size_weight * data + tv + an], 1)

    def step(self):
        """One step of every problem; returns the energies before it, (B, 4) (a tensor)."""
        torch = self.torch
        terms = self.energy_terms(self.u)
        (grad,) = torch.autograd.grad(terms[:, 3].sum(), self.u)
        if self.t < len(self.rates):
            keep = 0.0 if self.starts[self.t] else self.momentum
            with torch.no_grad():
                self.v.mul_(keep).add_(grad, alpha=-self.rates[self.t])
                self.u.add_(self.v)
        self.t += 1
        return terms.detach()

    def run(self, steps: int):
        """``steps`` steps; the energies of the last one."""
        terms = None
        for _ in range(steps):
            terms = self.step()
        return terms

    def variable_nhwc(self) -> np.ndarray:
        """u as (B, H, W, C) numpy."""
        return self.u.detach().permute(0, 2, 3, 1).contiguous().numpy()

    def images_nhwc(self) -> np.ndarray:
        """x = σ u as (B, H, W, C) numpy."""
        return self.variable_nhwc() * np.float32(self.sigma)
