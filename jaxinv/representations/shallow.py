"""What VLFeat's HOG and DSIFT representations share: input space, checks, defaults.

Both take the paper's gray input 255·rgb2gray(picture/255) − 128 at full resolution
(METHOD.md §1.4) in their presets, refuse non-finite concrete images the same way,
check integer options with the same predicate, and recommend the same shallow
regularisation (λ_V = 0.5, λ_α = `LAMBDA_ALPHA`, the ``"shallow"`` schedule).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeGuard

import jax
import numpy as np

from jaxinv.errors import JaxinvError
from jaxinv.images import centred_gray
from jaxinv.core.settings import LAMBDA_ALPHA
from jaxinv.representation import Representation, identity_deprocess

__all__ = [
    "check_finite_image",
    "gray_deprocess",
    "gray_preprocess",
    "is_integer",
    "shallow_representation",
]

gray_preprocess = centred_gray


def gray_deprocess(x: np.ndarray) -> np.ndarray:
    """Input x (H, W, 1) -> picture in [0, 255] (unclipped): x + 128."""
    return (np.asarray(x, np.float32) + np.float32(128)).astype(np.float32)


def is_integer(value: object) -> TypeGuard[int | np.integer]:
    """True for Python and numpy integers, False for booleans (``True`` is not a size)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_finite_image(x: object, who: str) -> None:
    """Raise `JaxinvError` if a concrete ``x`` has NaN or inf pixels (tracers pass unchecked)."""
    if not isinstance(x, jax.core.Tracer) and not bool(np.all(np.isfinite(np.asarray(x)))):
        raise JaxinvError(f"{who}: the image has NaN or infinite pixels; pass finite values")


def shallow_representation(
    *,
    name: str,
    features: Callable,
    channels: int,
    min_size: tuple[int, int],
    preprocess: Callable[[np.ndarray], np.ndarray],
    stride: int,
    deprocess: Callable[[np.ndarray], np.ndarray] = identity_deprocess,
) -> Representation:
    """A parameter-free `Representation` of any image size with the shallow defaults."""
    return Representation(
        name=name,
        features=features,
        params=None,
        input_shape=None,
        channels=channels,
        min_size=min_size,
        preprocess=preprocess,
        deprocess=deprocess,
        stride=stride,
        lambda_tv=0.5,
        lambda_alpha=LAMBDA_ALPHA,
        schedule="shallow",
    )
