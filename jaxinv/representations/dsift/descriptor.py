"""The DSIFT `Representation`: its feature function, the functional API and the presets.

Descriptors = step 5 (``_vl_dsift_normalize_histogram``: L2 with `fast_sqrt` + FLT_EPSILON,
clamp at 0.2, L2 again) on the pooled orientation maps; ``norm`` = Σ(raw)/(3bs + 1)².
`paper_dsift` is the CVPR 2015 DSIFT (bin 5, step 15 px, σ = 1.5-cell flat window).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.errors import JaxinvError
from jaxinv.representation import Representation
from jaxinv.representations.dsift.fastmath import FLT_EPSILON, fast_sqrt
from jaxinv.representations.dsift.geometry import check_bounds, check_int, frame_grids, frame_size
from jaxinv.representations.dsift.orientation import orientation_maps
from jaxinv.representations.dsift.pooling import spatial_bins
from jaxinv.representations.shallow import (
    check_finite_image,
    gray_deprocess,
    gray_preprocess,
    shallow_representation,
)

__all__ = [
    "PAPER_WINDOW_SIZE",
    "DsiftFeatures",
    "dsift",
    "dsift_descriptors",
    "dsift_norms",
    "paper_dsift",
]

# Flat-window size at which VLFeat's per-bin factors bs·mean(Gaussian over the bin), bin 5,
# have the outer/inner ratio exp(−(1.5² − 0.5²)/(2·1.5²)) = 0.64118 of dsift_net's σ = 1.5-cell
# cell weights (solved numerically; nominal 1.5 gives 0.674). Checked in tests/test_dsift.py.
PAPER_WINDOW_SIZE = 1.401727


def _l2_normalize(d: jax.Array) -> jax.Array:
    """``_vl_dsift_normalize_histogram``: d / (fast_sqrt(Σd²) + FLT_EPSILON) per descriptor."""
    norm = fast_sqrt(jnp.sum(d * d, axis=-1, keepdims=True)) + FLT_EPSILON
    return d / norm


@dataclasses.dataclass(frozen=True)
class DsiftFeatures:
    """VLFeat ``vl_dsift`` on one (H, W, 1) float32 image -> (ny, nx, 128) descriptors.

    Frozen and hashable, so ``jax.jit`` caches compiled programs across equal instances.
    ``bounds`` is (x_min, y_min, x_max, y_max), 0-based inclusive, or None for the image.
    """

    bin_size: int = 8
    step: int = 1
    fast: bool = True
    bounds: tuple[int, int, int, int] | None = None
    window_size: float = 2.0
    renormalize: bool = True

    def __call__(self, params: object, x: jax.Array) -> jax.Array:
        del params
        self._check(x)
        return _jit_method(self, "descriptors", x)

    # -- pieces ------------------------------------------------------------------------------

    def _check(self, x: jax.Array) -> None:
        """Raise `JaxinvError` for a wrong shape, too small an image, or (concrete) NaN/inf."""
        shape = tuple(np.shape(x))
        if len(shape) == 2:
            shape = shape + (1,)
        if len(shape) != 3 or shape[-1] != 1:
            raise JaxinvError(
                f"dsift: expected one gray image of shape (H, W, 1) (1 channel), got shape {shape};"
                " convert to gray with rep.preprocess(picture)"
            )
        frame_grids(shape, self.bin_size, self.step, self.bounds)
        check_finite_image(x, "dsift")

    def _image(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x, jnp.float32)
        return x if x.ndim == 2 else x[..., 0]

    def raw(self, x: jax.Array) -> jax.Array:
        """Unnormalised descriptors (ny, nx, 128) (VLFeat's ``descrs`` before normalisation)."""
        image = self._image(x)
        gy, gx = frame_grids(image.shape, self.bin_size, self.step, self.bounds)
        maps = orientation_maps(image)  # (T, H, W)
        return spatial_bins(
            maps, gy, gx, bin_size=self.bin_size, fast=self.fast, window_size=self.window_size
        )

    def norms(self, x: jax.Array) -> jax.Array:
        """VLFeat's ``norm`` frame column (ny, nx): Σ(raw descriptor) / (3·bs + 1)²."""
        frame = frame_size(self.bin_size)
        return jnp.sum(self.raw(x), axis=-1) / jnp.float32(frame * frame)

    def descriptors(self, x: jax.Array) -> jax.Array:
        """(ny, nx, 128): L2-normalise, clamp at 0.2, L2-normalise again (unless not renormalize)."""
        d = _l2_normalize(self.raw(x))
        d = jnp.minimum(d, jnp.float32(0.2))
        return _l2_normalize(d) if self.renormalize else d


@jax.jit(static_argnums=(0, 1))
def _jit_method(features: DsiftFeatures, method: str, x: jax.Array) -> jax.Array:
    # One compiled program per (options, method, shape); inside an outer jit it is inlined.
    return getattr(features, method)(x)


def _make_features(
    *, bin_size: int, step: int, fast: bool, bounds: Sequence[int] | None, window_size: float,
    renormalize: bool = True,
) -> DsiftFeatures:
    bin_size = check_int("bin_size", bin_size, 1)
    step = check_int("step", step, 1)
    window_size = float(window_size)
    if not (math.isfinite(window_size) and window_size > 0):
        raise JaxinvError(f"dsift: window_size must be a positive number, got {window_size}; pass e.g. 2.0")
    return DsiftFeatures(
        bin_size=bin_size, step=step, fast=bool(fast), bounds=check_bounds(bounds),
        window_size=window_size, renormalize=bool(renormalize),
    )


def dsift_descriptors(
    image: jax.Array,
    *,
    bin_size: int = 8,
    step: int = 1,
    fast: bool = True,
    bounds: Sequence[int] | None = None,
    window_size: float = 2.0,
    renormalize: bool = True,
    return_norms: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """Descriptors (ny, nx, 128) of an (H, W) or (H, W, 1) image, and optionally the norms (ny, nx).

    ``reshape(-1, 128)`` gives VLFeat's frame order, matching `dsift_frames`.
    """
    f = _make_features(
        bin_size=bin_size, step=step, fast=fast, bounds=bounds, window_size=window_size,
        renormalize=renormalize,
    )
    f._check(image)
    d = _jit_method(f, "descriptors", image)
    return (d, _jit_method(f, "norms", image)) if return_norms else d


def dsift_norms(
    image: jax.Array,
    *,
    bin_size: int = 8,
    step: int = 1,
    fast: bool = True,
    bounds: Sequence[int] | None = None,
    window_size: float = 2.0,
) -> np.ndarray:
    """VLFeat's third frame column ``norm`` (F,), in frame order: use it to skip flat frames."""
    f = _make_features(bin_size=bin_size, step=step, fast=fast, bounds=bounds, window_size=window_size)
    f._check(image)
    return np.asarray(_jit_method(f, "norms", image)).reshape(-1)


def dsift(
    *,
    bin_size: int = 8,
    step: int = 1,
    fast: bool = True,
    bounds: Sequence[int] | None = None,
    window_size: float = 2.0,
    renormalize: bool = True,
    name: str = "dsift",
) -> Representation:
    """VLFeat ``vl_dsift`` (4×4×8 geometry) as a `Representation` on (H, W, 1) gray images.

    Args:
      bin_size: spatial bin size in pixels (VLFeat ``size``).
      step: frame step in pixels, both axes.
      fast: flat window with per-bin Gaussian factors (True) or per-pixel Gaussian window.
      bounds: (x_min, y_min, x_max, y_max), 0-based inclusive (note: cyvlfeat takes [Y, X]
        order), or None for the whole image.
      window_size: Gaussian window σ in bins.
      renormalize: L2-normalise again after the 0.2 clamp (VLFeat); False as in dsift_net.
      name: the representation's name.

    The input space is 255·gray − 128 (`gray_preprocess`); DSIFT ignores additive offsets.
    """
    features = _make_features(
        bin_size=bin_size, step=step, fast=fast, bounds=bounds, window_size=window_size,
        renormalize=renormalize,
    )
    frame = frame_size(features.bin_size)
    min_h, min_w = max(frame, 2), max(frame, 2)
    if features.bounds is not None:
        x0, y0, x1, y1 = features.bounds
        if x1 - x0 + 1 < frame or y1 - y0 + 1 < frame:
            raise JaxinvError(
                f"dsift: bounds {features.bounds} are smaller than one {frame}x{frame}-pixel frame;"
                " enlarge the bounds or reduce bin_size"
            )
        min_h, min_w = y1 + 1, x1 + 1
    return shallow_representation(
        name=name,
        features=features,
        channels=1,
        min_size=(min_h, min_w),
        preprocess=gray_preprocess,
        deprocess=gray_deprocess,
        stride=features.step,
    )


def paper_dsift(*, renormalize: bool = True) -> Representation:
    """The CVPR 2015 DSIFT: bin 5, descriptor step 3 cells = 15 px, σ = 1.5-cell window.

    VLFeat's flat window (``fast=True``) with ``window_size=PAPER_WINDOW_SIZE``: like dsift_net
    it weights whole bins, and at this size its per-bin weights are proportional to
    dsift_net's exp(−d²/(2·1.5²)) (see the module docstring for what still differs).
    ``renormalize=False`` drops VLFeat's second L2 normalisation, as dsift_net does.
    """
    return dsift(
        bin_size=5, step=15, fast=True, window_size=PAPER_WINDOW_SIZE, renormalize=renormalize, name="dsift"
    )
