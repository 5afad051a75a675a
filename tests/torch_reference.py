"""PyTorch CPU reference implementations of jaxinv's networks, built from canonical blobs.

The networks are `benchmarks/baselines/torch_networks.py`, written independently of
`jaxinv.networks` (torch's own conv/pool/LRN ops, NCHW, Caffe blobs used as they are) so that
parity tests compare two implementations of Caffe's semantics; the PyTorch speed baseline of
`benchmarks/throughput.py` and `benchmarks/gpu.py` runs the same forwards.

    outs = torch_model(name, blobs)(x_nhwc)   # {layer name: NHWC numpy array}

``x_nhwc`` is a numpy (N, S, S, 3) batch in the network's input space (what
``net.preprocess`` returns, batched). Every layer of ``jaxinv.networks.load(name).layers`` is a
key of the result (``fc``/``prob`` outputs are (N, O)). torch is imported lazily: import this
module freely, call `torch_model` only after ``require("torch")``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from baselines.torch_networks import forward, torch_params  # benchmarks/baselines: pyproject's pytest pythonpath

__all__ = ["torch_model"]

Blobs = dict[str, list[np.ndarray]]


def torch_model(name: str, blobs: Blobs) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """A function NHWC batch -> {layer: NHWC activations} for network ``name`` and ``blobs``."""
    import torch

    params = torch_params(blobs)

    def run(x_nhwc: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(x_nhwc, np.float32)).permute(0, 3, 1, 2)
            forward(name, params, x.contiguous(), out)
        return {k: (v.permute(0, 2, 3, 1) if v.ndim == 4 else v).numpy() for k, v in out.items()}

    return run
