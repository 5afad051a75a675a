"""DSIFT's geometry: the 4×4×8 descriptor layout, option checks and the frame grid (vl/dsift.c).

Frames sit at upper-left bin centres start + i·step per axis with VLFeat's count
(hi − lo − (NB − 1)·bs) // step + 1; ``bounds`` is (x_min, y_min, x_max, y_max), 0-based
inclusive, as in the C API (cyvlfeat takes [Y, X] order).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from jaxinv.errors import JaxinvError
from jaxinv.representations.shallow import is_integer

__all__ = [
    "DESCRIPTOR_SIZE",
    "NUM_BINS",
    "NUM_ORIENTATIONS",
    "Grid",
    "check_bounds",
    "check_int",
    "dsift_frames",
    "frame_grids",
    "frame_size",
]

NUM_BINS = 4  # spatial bins per axis (VLFeat's default geometry, the only one offered)
NUM_ORIENTATIONS = 8
DESCRIPTOR_SIZE = NUM_BINS * NUM_BINS * NUM_ORIENTATIONS


def frame_size(bin_size: int) -> int:
    """Side in pixels of one frame, (NB − 1)·bs + 1: from the first to the last bin centre ± bs−1."""
    return (NUM_BINS - 1) * bin_size + 1


@dataclasses.dataclass(frozen=True)
class Grid:
    """Frame grid along one axis: upper-left bin centres start + i·step, i < n."""

    start: int
    step: int
    n: int


def _axis_grid(lo: int, hi: int, bin_size: int, step: int) -> Grid:
    # _vl_dsift_update_buffers: range = hi − lo − (NB−1)·bs; n = range // step + 1 if range ≥ 0.
    span = hi - lo - (NUM_BINS - 1) * bin_size
    n = span // step + 1 if span >= 0 else 0
    return Grid(lo, step, n)


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an int, or `JaxinvError` unless it is an integer ≥ ``minimum``."""
    if not is_integer(value):
        raise JaxinvError(f"dsift: {name} must be an integer, got {value!r}; pass an int >= {minimum}")
    if value < minimum:
        raise JaxinvError(f"dsift: {name} must be >= {minimum}, got {value}; pass a larger {name}")
    return int(value)


def check_bounds(bounds: Sequence[int] | None) -> tuple[int, int, int, int] | None:
    """``bounds`` as 4 ints (x_min, y_min, x_max, y_max), or None; `JaxinvError` if malformed."""
    if bounds is None:
        return None
    try:
        values = tuple(bounds)
    except TypeError:
        values = ()
    if len(values) != 4 or not all(is_integer(v) for v in values):
        raise JaxinvError(
            f"dsift: bounds must be 4 integers (x_min, y_min, x_max, y_max), got {bounds!r};"
            " pass a 0-based inclusive pixel box or None"
        )
    x0, y0, x1, y1 = (int(v) for v in values)
    if min(values) < 0 or x1 < x0 or y1 < y0:
        raise JaxinvError(
            f"dsift: bounds {values} must satisfy 0 <= x_min <= x_max and 0 <= y_min <= y_max;"
            " pass a 0-based inclusive pixel box (x_min, y_min, x_max, y_max)"
        )
    return (x0, y0, x1, y1)


def frame_grids(
    image_shape: Sequence[int], bin_size: int, step: int, bounds: tuple[int, int, int, int] | None
) -> tuple[Grid, Grid]:
    """(y grid, x grid) of VLFeat's frames for an (H, W[, C]) image; raises if there are none."""
    h, w = int(image_shape[0]), int(image_shape[1])
    x0, y0, x1, y1 = (0, 0, w - 1, h - 1) if bounds is None else bounds
    if x1 > w - 1 or y1 > h - 1:
        raise JaxinvError(
            f"dsift: bounds {bounds} reach beyond the {h}x{w} image;"
            f" keep x_max <= {w - 1} and y_max <= {h - 1}"
        )
    gy, gx = _axis_grid(y0, y1, bin_size, step), _axis_grid(x0, x1, bin_size, step)
    if gy.n == 0 or gx.n == 0 or w < 2 or h < 2:
        need = frame_size(bin_size)
        raise JaxinvError(
            f"dsift: a {h}x{w} image (bounds {bounds}) holds no {need}x{need}-pixel frame of bin size"
            f" {bin_size}; use a larger image or bounds, or a smaller bin_size"
        )
    return gy, gx


def dsift_frames(
    image_shape: Sequence[int],
    *,
    bin_size: int = 8,
    step: int = 1,
    bounds: Sequence[int] | None = None,
) -> np.ndarray:
    """Frame centres (x, y), float32 (F, 2), in VLFeat's order (y outer, x inner), 0-based.

    The frame centre is the upper-left bin centre plus 1.5·bin_size on each axis.
    ``image_shape`` is (H, W) or (H, W, C); ``bounds`` is (x_min, y_min, x_max, y_max).
    """
    bin_size = check_int("bin_size", bin_size, 1)
    step = check_int("step", step, 1)
    gy, gx = frame_grids(image_shape, bin_size, step, check_bounds(bounds))
    delta = np.float32(0.5 * bin_size * (NUM_BINS - 1))
    ys = gy.start + gy.step * np.arange(gy.n) + delta
    xs = gx.start + gx.step * np.arange(gx.n) + delta
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)
