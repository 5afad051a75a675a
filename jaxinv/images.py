"""Pictures in and out: load anything Pillow reads, warp-resize, save PNGs atomically.

Pictures are float32 (H, W, C) in [0, 255] (C = 3 for colour, 1 for gray).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from jaxinv.errors import JaxinvError
from jaxinv.files import atomic_write_bytes

__all__ = ["load", "resize", "save_png", "save_webp", "WEBP_QUALITY", "contrast_stretch", "to_uint8", "default_picture",
           "atomic_write_bytes", "rgb_to_gray", "centred_gray", "as_picture", "MAX_PIXELS"]


#: The largest picture `load` reads by default: 50 megapixels. A bigger photo would be
#: inverted at full size for hours; resize it, or pass ``max_pixels`` (CLI ``--max-megapixels``).
MAX_PIXELS = 50_000_000


def load(path: str | os.PathLike, *, gray: bool = False, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """Read a picture file as float32 (H, W, 3) in [0, 255] ((H, W, 1) with ``gray=True``).

    Gray, palette, RGBA (alpha dropped, composited on nothing) and 16-bit files are accepted;
    16-bit values are scaled to [0, 255]. A picture of more than ``max_pixels`` pixels
    (default `MAX_PIXELS`; None: no limit) is refused from its header, before it is decoded.
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise JaxinvError(f"image file {str(path)!r} not found; check the path")
    if path.is_dir():
        raise JaxinvError(f"{str(path)!r} is a folder, not an image file; pass a picture file")
    unreadable = f"image file {str(path)!r} is not readable (permission denied); check its permissions"
    if not os.access(path, os.R_OK):
        raise JaxinvError(unreadable)
    if path.stat().st_size == 0:
        raise JaxinvError(f"image file {str(path)!r} is empty; pass a valid picture file")
    try:
        with _pillow_size_limit(max_pixels), Image.open(path) as im:
            _check_pixels(path, im.size, max_pixels)
            im.load()
            return _to_array(im, gray=gray)
    except JaxinvError:
        raise
    except PermissionError:
        raise JaxinvError(unreadable) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise JaxinvError(
            f"cannot read {str(path)!r} as a picture ({type(exc).__name__}); pass a PNG, JPEG or other"
            " format Pillow reads"
        ) from None


def _check_pixels(path: pathlib.Path, size: tuple[int, int], max_pixels: int | None) -> None:
    width, height = size
    if max_pixels is not None and width * height > max_pixels:
        raise JaxinvError(
            f"{str(path)!r} is {width}x{height} = {width * height / 1e6:.1f} megapixels, above the limit of"
            f" {max_pixels / 1e6:g}; resize it, or raise the limit (max_pixels=, CLI --max-megapixels)"
        )


@contextlib.contextmanager
def _pillow_size_limit(max_pixels: int | None) -> Iterator[None]:
    """Pillow's own bomb check off for one read: `load` checks the size itself, from the
    header, with a message that names the limit and the fix (Pillow's would be a traceback
    above 179 megapixels and a two-line warning above 89)."""
    saved = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _to_array(im: Image.Image, *, gray: bool) -> np.ndarray:
    a: np.ndarray
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        wide = np.asarray(im, np.float64)
        scale = 65535.0 if wide.max() > 255 or im.mode.startswith("I;16") else 255.0
        a = np.repeat((wide / scale * 255.0).astype(np.float32)[..., None], 3, axis=2)
    elif im.mode == "F":
        a = np.repeat(np.asarray(im, np.float32)[..., None], 3, axis=2)
    else:
        a = np.asarray(im.convert("RGB"), np.float32)
    if gray:
        a = rgb_to_gray(a)
    return np.ascontiguousarray(a)


#: MATLAB's rgb2gray weights (as rounded in its documentation; METHOD.md §1.4).
RGB_TO_GRAY = np.array([0.2989, 0.5870, 0.1140], np.float64)


def rgb_to_gray(picture: np.ndarray) -> np.ndarray:
    """MATLAB's rgb2gray on (H, W, 3), keeping the range; (H, W) and (H, W, 1) pass through.

    Returns float32 (H, W, 1), computed in float64.
    """
    return _gray64(picture).astype(np.float32)


def _gray64(picture: np.ndarray) -> np.ndarray:
    picture = np.asarray(picture, np.float64)
    if picture.ndim == 2:
        picture = picture[..., None]
    if picture.ndim != 3 or picture.shape[-1] not in (1, 3):
        raise JaxinvError(
            f"expected a picture of shape (H, W, 3) or (H, W, 1), got {picture.shape}; pass an RGB or gray picture"
        )
    if picture.shape[-1] == 3:
        picture = (picture @ RGB_TO_GRAY)[..., None]
    return picture


def centred_gray(picture: np.ndarray) -> np.ndarray:
    """The paper's HOG/DSIFT input: 255·rgb2gray(picture/255) − 128 at full resolution, (H, W, 1)."""
    return (255.0 * _gray64(np.asarray(picture, np.float64) / 255.0) - 128.0).astype(np.float32)


def as_picture(picture: np.ndarray) -> np.ndarray:
    """Check and convert an array picture to float32 (H, W, C) in [0, 255]."""
    a = np.asarray(picture)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4) or min(a.shape[:2]) < 1:
        raise JaxinvError(
            f"a picture must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got shape {a.shape}"
        )
    if a.shape[-1] == 4:
        a = a[..., :3]
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)):
        raise JaxinvError("the picture has NaN or infinite pixels; pass finite values in [0, 255]")
    return a


def resize(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Warp (H, W, C) to ``size`` = (H', W') without cropping, keeping the value range.

    Bicubic with anti-aliasing, as MATLAB's imresize that the authors used
    (scikit-image's ``resize(order=3, anti_aliasing=True)``).
    """
    from skimage.transform import resize as sk_resize

    picture = np.asarray(picture, np.float32)
    if picture.shape[:2] == tuple(size):
        return picture
    out = sk_resize(picture, (*size, picture.shape[2]), order=3, anti_aliasing=True,
                    preserve_range=True, mode="reflect")
    return out.astype(np.float32)


def contrast_stretch(image: np.ndarray) -> np.ndarray:
    """The paper's display rescaling (`vl_imsc`): per image min–max to [0, 255]."""
    image = np.asarray(image, np.float32)
    lo, hi = float(image.min()), float(image.max())
    if hi - lo < 1e-12:
        return np.zeros_like(image)
    return (image - lo) * (255.0 / (hi - lo))


def to_uint8(picture: np.ndarray) -> np.ndarray:
    """Round and clip a [0, 255] picture to uint8 (NaN becomes 0)."""
    a = np.nan_to_num(np.asarray(picture, np.float32), nan=0.0)
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def save_png(path: str | os.PathLike, picture: np.ndarray, *, stretch: bool = False) -> pathlib.Path:
    """Save a [0, 255] picture (H, W, C) as an 8-bit PNG, atomically.

    ``stretch=True`` applies the paper's per-image contrast stretch first.
    """
    return _save(path, picture, stretch=stretch, format="PNG")


#: `save_webp`'s default quality: the codec's loss stays a few grey levels, the file a fraction of a PNG's.
WEBP_QUALITY = 90


def save_webp(path: str | os.PathLike, picture: np.ndarray, *, stretch: bool = False,
              quality: int = WEBP_QUALITY) -> pathlib.Path:
    """Save a [0, 255] picture (H, W, C) as a lossy WebP of ``quality`` (1-100), atomically.

    For pictures shown, not measured (the atlas's thumbnails): the pixels change by the codec's
    loss, a few grey levels at the default quality. ``stretch=True`` as `save_png`'s.
    """
    if not 1 <= int(quality) <= 100:
        raise JaxinvError(f"quality = {quality}; use a WebP quality from 1 to 100 (90 is the default)")
    return _save(path, picture, stretch=stretch, format="WEBP", quality=int(quality), method=6)


def _save(path: str | os.PathLike, picture: np.ndarray, *, stretch: bool, format: str, **options: Any) -> pathlib.Path:
    import io

    a = contrast_stretch(picture) if stretch else np.asarray(picture, np.float32)
    a = to_uint8(a)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format=format, **options)
    atomic_write_bytes(path, buf.getvalue())
    return pathlib.Path(path)


def default_picture(name: str) -> np.ndarray:
    """Picture ``name`` of scikit-image's data (``"astronaut"``, ``"coffee"``…), float32 (H, W, 3) in [0, 255]."""
    import skimage.data

    if not hasattr(skimage.data, name):
        raise JaxinvError(f"scikit-image has no picture {name!r}; try astronaut, chelsea, coffee")
    return as_picture(getattr(skimage.data, name)())
