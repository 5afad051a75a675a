"""Masks M on a code for partial inversions (METHOD.md §5).

A mask is a 0/1 float32 array broadcastable to the code (H', W', K); the data term and its
normaliser use only the selected entries.
"""

from __future__ import annotations

import math

import numpy as np

from jaxinv.errors import JaxinvError

__all__ = ["channel_group", "central_window"]


def _spatial(code_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(code_shape) != 3:
        raise JaxinvError(f"a code of shape {tuple(code_shape)} has no (H, W, K) layout; masks need a spatial code")
    return tuple(int(s) for s in code_shape)  # type: ignore[return-value]


def channel_group(code_shape: tuple[int, ...], group: int, *, groups: int = 2) -> np.ndarray:
    """1 on the ``group``-th of ``groups`` equal channel blocks (the paper's ``filterGroup``).

    ``group`` is 1-based as in the authors' code: 1 = first half of the channels, 2 = second.
    """
    k = int(code_shape[-1])
    if not 1 <= group <= groups or k % groups:
        raise JaxinvError(f"group {group} of {groups} does not fit {k} channels; use 1..{groups} with K divisible")
    mask = np.zeros((1,) * (len(code_shape) - 1) + (k,), np.float32)
    size = k // groups
    mask[..., (group - 1) * size: group * size] = 1
    return mask


def central_window(code_shape: tuple[int, ...], *, size: int = 5) -> np.ndarray:
    """1 on a size×size spatial window, all channels (the receptive-field figure, ``neigh``).

    Rows and columns ``(0:n−1) + ceil((S−n+1)/2)`` 1-based, exactly as the authors' code
    (for S = 6 and n = 5 that is rows 1–5: off-centre).
    """
    h, w, k = _spatial(code_shape)
    if size < 1 or size > min(h, w):
        raise JaxinvError(f"window of {size} does not fit a {h}x{w} code; use 1..{min(h, w)}")
    mask = np.zeros((h, w, 1), np.float32)
    r0 = math.ceil((h - size + 1) / 2) - 1
    c0 = math.ceil((w - size + 1) / 2) - 1
    mask[r0:r0 + size, c0:c0 + size] = 1
    return mask
