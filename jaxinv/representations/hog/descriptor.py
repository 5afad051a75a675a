"""The HOG `Representation`: its feature function, the `hog` builder and the paper's presets.

Features = block-normalised cells (`normalise_cells`) of the pooled orientation votes
(`hog_cells`), one jitted program per option set. `paper_hog` and `paper_hogb` are the
CVPR 2015 paper's HOG and HOGb (METHOD.md §1.4, §3.1): 1-channel input
255·rgb2gray(picture/255) − 128 at full resolution, UoCTTI, cell 8, 27-D layout.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.errors import JaxinvError
from jaxinv.images import rgb_to_gray
from jaxinv.representation import Representation
from jaxinv.representations.hog.blocks import VARIANTS, normalise_cells
from jaxinv.representations.hog.pooling import hog_cells, hog_grid
from jaxinv.representations.shallow import (
    check_finite_image,
    gray_deprocess,
    gray_preprocess,
    is_integer,
    shallow_representation,
)

__all__ = ["HogFeatures", "hog", "paper_hog", "paper_hogb", "rgb2gray"]


@dataclasses.dataclass(frozen=True)
class HogFeatures:
    """``features(params, x)`` of `hog`: hashable and equal for equal options (jit cache key).

    ``x`` is one (H, W, channels) image; ``params`` is ignored (None).
    """

    cell_size: int = 8
    variant: str = "uoctti"
    num_orientations: int = 9
    bilinear_orientations: bool = False
    paper_layout: bool = False
    channels: int = 3
    #: Hard binning's values with bilinear binning's derivative (`hog_cells`); see `smooth_gradient`.
    bilinear_gradient: bool = False

    def smooth_gradient(self) -> "HogFeatures":
        """The same features (bit for bit) whose derivative also sees each gradient's angle.

        What the fast prior descends on hard-binned HOG (`jaxinv.core.priors.fast_prior`): the
        hard vote's derivative carries ‖g‖ only, so a descent on it stalls above the error the
        paper's 800 steps reach; the bilinear vote's derivative (HOGb's) is a descent direction
        for HOG's error too (docs/results/speed.md#fast-preset).
        """
        return self if self.bilinear_orientations else dataclasses.replace(self, bilinear_gradient=True)

    @property
    def dimension(self) -> int:
        """D, the values per cell: 4n (Dalal–Triggs), 3n (the paper's layout) or 3n + 4 (UoCTTI)."""
        n = self.num_orientations
        if self.variant == "dalaltriggs":
            return 4 * n
        return 3 * n if self.paper_layout else 3 * n + 4

    def check(self, x: Any) -> None:
        """Raise `JaxinvError` for a bad image: shape always, finiteness on concrete arrays."""
        shape = tuple(np.shape(x))
        if len(shape) != 3:
            raise JaxinvError(
                f"hog: expected one image of shape (H, W, C), got shape {shape}; pass a single"
                " image (use jax.vmap for batches)"
            )
        height, width, channels = shape
        if channels != self.channels:
            raise JaxinvError(
                f"hog: expected {self.channels} channel(s), got {channels}; convert the image or"
                f" build the representation with hog(channels={channels})"
            )
        cells_h, cells_w = hog_grid(height, width, self.cell_size)
        if cells_h < 1 or cells_w < 1:
            least = self.cell_size - self.cell_size // 2
            raise JaxinvError(
                f"hog: a {height}x{width} image has no {self.cell_size}-px cell; use an image of"
                f" at least {least}x{least} pixels or a smaller cell_size"
            )
        check_finite_image(x, "hog")

    def __call__(self, params: Any, x: jax.Array) -> jax.Array:
        del params
        self.check(x)
        return _hog_features(
            jnp.asarray(x, jnp.float32),
            cell_size=self.cell_size,
            variant=self.variant,
            num_orientations=self.num_orientations,
            bilinear=self.bilinear_orientations,
            paper_layout=self.paper_layout,
            bilinear_gradient=self.bilinear_gradient,
        )


# Jitted so that eager calls (rep(picture), rep.code(x)) run as one compiled program
# rather than op by op; inside an outer jit or vmap it is simply inlined.
@functools.partial(
    jax.jit, static_argnames=("cell_size", "variant", "num_orientations", "bilinear", "paper_layout", "bilinear_gradient")
)
def _hog_features(
    x: jax.Array, *, cell_size: int, variant: str, num_orientations: int, bilinear: bool,
    paper_layout: bool, bilinear_gradient: bool = False,
) -> jax.Array:
    hist = hog_cells(x, cell_size=cell_size, num_orientations=num_orientations, bilinear=bilinear,
                     bilinear_gradient=bilinear_gradient)
    out = normalise_cells(hist, variant=variant, num_orientations=num_orientations)
    return out[..., : 3 * num_orientations] if paper_layout else out


rgb2gray = rgb_to_gray


def _picture(channels: int) -> Callable[[np.ndarray], np.ndarray]:
    def preprocess(picture: np.ndarray) -> np.ndarray:
        """Picture in [0, 255] -> float32 with ``channels`` channels, same range (no rescaling)."""
        picture = np.asarray(picture, np.float32)
        if picture.ndim == 2:
            picture = picture[..., None]
        if picture.ndim == 3 and picture.shape[-1] != channels:
            if channels == 1 and picture.shape[-1] == 3:
                picture = rgb2gray(picture)
            elif channels == 3 and picture.shape[-1] == 1:
                picture = np.repeat(picture, 3, axis=-1)
        return np.asarray(picture, np.float32)

    return preprocess


def hog(
    *,
    cell_size: int = 8,
    variant: str = "uoctti",
    num_orientations: int = 9,
    bilinear_orientations: bool = False,
    paper_layout: bool = False,
    channels: int = 3,
    name: str | None = None,
) -> Representation:
    """VLFeat ``vl_hog`` as a `Representation` on (H, W, channels) float32 images.

    Args:
      cell_size: HOG cell size s in pixels; the grid is ((H + s//2)//s, (W + s//2)//s).
      variant: ``"uoctti"`` (3n + 4 dims per cell) or ``"dalaltriggs"`` (4n dims).
      num_orientations: n undirected orientations (2n directed bins).
      bilinear_orientations: VLFeat's BilinearOrientations (the paper's HOGb).
      paper_layout: UoCTTI without the 4 texture dims (3n = 27 dims, the paper's).
      channels: input channels. Default 3: colour pictures in [0, 255], VLFeat's
        strongest-channel rule. Any C ≥ 1 works; the features accept that C only.

    The features are computed on exactly the values given: [0, 1] and [0, 255]
    inputs give different features (the 1e-4 in the block norm is absolute). The
    preprocess keeps the picture's [0, 255] range and only converts channels
    (rgb2gray for 1, replication for 3). The paper's presets are `paper_hog` and
    `paper_hogb`.
    """
    _check_positive("cell_size", cell_size, "use e.g. 8")
    variant_key = str(variant).lower().replace("-", "").replace("_", "")
    if variant_key not in VARIANTS:
        raise JaxinvError(
            f"hog: unknown variant {variant!r}; use 'uoctti' or 'dalaltriggs'"
        )
    _check_positive("num_orientations", num_orientations, "use e.g. 9")
    if paper_layout and variant_key != "uoctti":
        raise JaxinvError("hog: paper_layout is the UoCTTI 27-D layout; use variant='uoctti'")
    _check_positive("channels", channels, "use 1 or 3")
    features = HogFeatures(
        cell_size=int(cell_size),
        variant=variant_key,
        num_orientations=int(num_orientations),
        bilinear_orientations=bool(bilinear_orientations),
        paper_layout=bool(paper_layout),
        channels=int(channels),
    )
    least = int(cell_size) - int(cell_size) // 2
    if name is None:
        name = "hogb" if bilinear_orientations else "hog"
    return shallow_representation(
        name=name,
        features=features,
        channels=int(channels),
        min_size=(least, least),
        preprocess=_picture(int(channels)),
        stride=int(cell_size),
    )


def _check_positive(option: str, value: object, fix: str) -> None:
    """Raise `JaxinvError` unless ``value`` is an integer ≥ 1 (booleans refused)."""
    if not is_integer(value) or value < 1:
        raise JaxinvError(f"hog: {option} must be a positive integer, got {value!r}; {fix}")


def paper_hog() -> Representation:
    """The paper's HOG: VLFeat UoCTTI, cell 8, 27-D, on 255·gray − 128 (METHOD.md §1.4, §3.1)."""
    return hog(cell_size=8, variant="uoctti", paper_layout=True, channels=1, name="hog").replace(
        preprocess=gray_preprocess, deprocess=gray_deprocess
    )


def paper_hogb() -> Representation:
    """The paper's HOGb: as `paper_hog` with bilinear orientation assignment."""
    return hog(
        cell_size=8,
        variant="uoctti",
        paper_layout=True,
        bilinear_orientations=True,
        channels=1,
        name="hogb",
    ).replace(preprocess=gray_preprocess, deprocess=gray_deprocess)
