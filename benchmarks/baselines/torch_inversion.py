"""The CVPR 2015 inversion (METHOD.md §1.2, §2.1) in PyTorch eager mode: a speed baseline.

Written as a careful PyTorch user would, independently of `jaxinv` (numpy and torch only):

- the network is `torch_networks.LayerNetwork`: torch's own functional layers (NCHW,
  ``groups=2`` convolutions, ``ceil_mode`` max pools, local response norm, ``F.linear`` on
  the NCHW flatten, which is Caffe's (C, H, W) order) on canonical Caffe blobs, stopped at the
  requested layer, so nothing past it is computed; weights are buffers (no gradient), ``eval()``;
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

__all__ = ["LAMBDA_ALPHA", "SIGMA", "TorchInversion", "build_network"]

#: σ of the authors' ``x0_sigma.mat`` (METHOD.md §1.1).
SIGMA = 27098.11571533
#: The paper's λ_α = (8e-10 / 2) σ⁴ (METHOD.md §1.2).
LAMBDA_ALPHA = 4e-10 * SIGMA ** 4


def build_network(name: str, blobs: dict[str, list[np.ndarray]], layer: str):
    """A frozen module of network ``name`` from canonical blobs, ending at ``layer``.

    Any network and layer of `torch_networks` (``caffenet``, ``squeezenet1_1``,
    ``googlenet``, …); a block's name means its output (``fire9``, ``inception_4a``). Input and
    output are NCHW; fc outputs are (N, O). Raises ValueError for an unknown network or layer.
    """
    from .torch_networks import LayerNetwork

    return LayerNetwork(name, blobs, layer)


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
        ``jaxinv.program.init_states(...).variables`` with its R = 1 axis dropped).
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

    def data_term(self, u):
        """Per-problem ‖Φ(σu) − Φ0‖² / ‖Φ0‖², (B,); differentiable in ``u``."""
        diff = self.net(u * self.sigma) - self.targets
        return (diff * diff).flatten(1).sum(1) / self.norms

    def prior_terms(self, u):
        """Per-problem λ_V Σ (d_x² + d_y²)^(β/2) and λ_α Σ u^α, each (B,); differentiable in ``u``."""
        torch = self.torch
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
        return self.lambda_tv * tv, self.lambda_alpha * an

    def energy_terms(self, u):
        """Per-problem [data, λ_V TV, λ_α Σu^α, total], (B, 4); differentiable in ``u``."""
        data = self.data_term(u)
        tv, an = self.prior_terms(u)
        return self.torch.stack([data, tv, an, self.size_weight * data + tv + an], 1)

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

    def to(self, device) -> TorchInversion:
        """Move the network and every tensor of the run to ``device`` (``"cuda"``, say); returns self."""
        self.net = self.net.to(device)
        self.targets, self.norms, self.v = (t.to(device) for t in (self.targets, self.norms, self.v))
        self.u = self.u.detach().to(device).requires_grad_(True)
        return self

    def variable_nhwc(self) -> np.ndarray:
        """u as (B, H, W, C) numpy."""
        return self.u.detach().permute(0, 2, 3, 1).contiguous().cpu().numpy()

    def images_nhwc(self) -> np.ndarray:
        """x = σ u as (B, H, W, C) numpy."""
        return self.variable_nhwc() * np.float32(self.sigma)
