"""One unit's activation maximisation in PyTorch eager mode: the atlas's speed baseline (issue #34).

What a PyTorch user's atlas runs for each unit, one after the other (lucent's way): B pictures,
picture b raising unit b, the centre value of channel ``channels[b]`` of the layer's code, with
`torch_inversion.TorchInversion`'s variable u = x/σ, its TV and α-norm terms and its heavy-ball
momentum, the data term replaced by the unit's negated value, and the picture shifted by a
random jitter of at most J pixels either way (a roll, as lucid's) before each forward pass::

    E_b(u_b) = −Φ(σ roll(u_b, δ))[channels[b], H'/2, W'/2] + λ_α Σ u_b^α + λ_V TV^β(u_b)

A one-unit loop passes one channel (B = 1) per instance. numpy and torch only, independent of
`jaxinv`; the jitter's offsets come from a seeded CPU generator (no device synchronisation).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .torch_inversion import TorchInversion

__all__ = ["TorchUnitMaximization"]


class TorchUnitMaximization(TorchInversion):
    """B units of ``net``'s layer maximised side by side, one momentum step per `step` call.

    Args:
      net: a frozen module NCHW image -> NCHW code (`torch_inversion.build_network`).
      channels: the channel of each problem's unit, (B,).
      u0: the initial normalised images, (B, H, W, C) NHWC.
      jitter: J, the largest shift in pixels (0: none); seed: the jitter generator's seed.
      options: `TorchInversion`'s schedule, lambda_tv, lambda_alpha, alpha, beta, sigma, momentum.
    """

    def __init__(self, net, channels: Sequence[int], u0: np.ndarray, *, jitter: int = 0, seed: int = 0,
                 **options):
        import torch

        # The inversion's targets are not read: data_term is the unit's value instead.
        super().__init__(net, np.ones((len(channels), 1), np.float32), u0, **options)
        self.channels = torch.as_tensor(np.asarray(channels, np.int64))
        self.jitter = int(jitter)
        self.generator = torch.Generator().manual_seed(int(seed))

    def data_term(self, u):
        """Per-problem −Φ(σ roll(u, δ))[channel, centre], (B,); differentiable in ``u``."""
        torch = self.torch
        if self.jitter:
            dy, dx = torch.randint(-self.jitter, self.jitter + 1, (2,), generator=self.generator).tolist()
            u = torch.roll(u, (dy, dx), (2, 3))
        codes = self.net(u * self.sigma)
        rows = torch.arange(codes.shape[0], device=codes.device)
        return -codes[rows, self.channels, codes.shape[2] // 2, codes.shape[3] // 2]

    def to(self, device) -> TorchUnitMaximization:
        """Move the run to ``device``, the channels too; returns self."""
        super().to(device)
        self.channels = self.channels.to(device)
        return self
