"""What is inverted: target codes from pictures or given directly, checked before any work."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.errors import JaxinvError
from jaxinv.images import as_picture
from jaxinv.representation import Representation

__all__ = ["targets_from_pictures", "check_code", "check_normalisers", "check_key", "check_mask"]


def targets_from_pictures(rep: Representation, pictures: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(inputs x0 (N, H, W, C), codes Φ(x0) (N, ...)) of N pictures in [0, 255], checked to share one input shape."""
    inputs = []
    for p in pictures:
        x = np.asarray(rep.preprocess(as_picture(p)), np.float32)
        rep.check_input(x.shape)
        inputs.append(x)
    shapes = {x.shape for x in inputs}
    if len(shapes) != 1:
        raise JaxinvError(
            f"{rep.name}: pictures give inputs of different shapes {sorted(shapes)};"
            " resize them to one size or invert them separately"
        )
    xs = np.stack(inputs)
    codes = np.asarray(jax.jit(jax.vmap(rep.features, in_axes=(None, 0)))(rep.params, jnp.asarray(xs)))
    return xs, codes


def check_code(rep: Representation, code: np.ndarray, image_shape: tuple[int, int, int]) -> np.ndarray:
    """``code`` (N, ...) as float32, or a `JaxinvError` unless it is finite and the shape Φ gives at ``image_shape``."""
    rep.check_input(tuple(image_shape))
    expected = jax.eval_shape(rep.features, rep.params, jax.ShapeDtypeStruct(tuple(image_shape), jnp.float32))
    code = np.asarray(code, np.float32)
    if code.shape[1:] != expected.shape:
        raise JaxinvError(
            f"{rep.name}: target code of shape {code.shape[1:]} does not fit the code of a {tuple(image_shape)}"
            f" input, {expected.shape}; compute it with the same representation and image size"
        )
    if not np.all(np.isfinite(code)):
        raise JaxinvError(f"{rep.name}: the target code has NaN or infinite values; pass a finite code")
    return code


def check_normalisers(rep: Representation, targets: np.ndarray, mask: np.ndarray | None, *,
                       from_pictures: bool) -> None:
    """Refuse targets whose normaliser ‖M ⊙ Φ0‖² is 0 (or not a float32 number): nothing to invert.

    A flat picture (black, grey, saturated) has no gradients, so its HOG and DSIFT codes are
    all zeros; the normalised error would be 0/0.
    """
    masked = targets if mask is None else targets * np.asarray(mask, np.float32)
    norms = np.sum(np.square(masked.reshape(len(targets), -1), dtype=np.float32), axis=1, dtype=np.float32)
    bad = np.flatnonzero(~(np.isfinite(norms) & (norms > 0)))
    if bad.size == 0:
        return
    which = f"picture {bad[0]}" if len(targets) > 1 else "the picture"
    if not from_pictures:
        raise JaxinvError(f"{rep.name}: a target code is all zeros{' under the mask' if mask is not None else ''},"
                          " so its normaliser ‖Φ0‖² is 0; pass a non-zero code")
    if mask is not None:
        raise JaxinvError(f"{rep.name}: the mask selects only zeros of the code of {which}, so ‖M ⊙ Φ0‖² is 0;"
                          " choose a mask over non-zero code entries")
    raise JaxinvError(f"{rep.name}: the code of {which} is all zeros (a flat picture has nothing for {rep.name}"
                      " to describe), so ‖Φ0‖² is 0 and there is nothing to invert; pass a picture with some texture")


def check_key(key: Any) -> None:
    """Refuse anything but a `jax.random` key, naming the fix (an int seed is the usual slip)."""
    if isinstance(key, jax.Array):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.ndim == 0:
            return
        if key.dtype == jnp.uint32 and key.shape == (2,):  # a raw jax.random.PRNGKey
            return
    got = f"{type(key).__name__} {key!r}" if not isinstance(key, jax.Array) else f"an array of shape {key.shape}"
    raise JaxinvError(f"key must be one jax.random key, e.g. key=jax.random.key(0); got {got}")




def check_mask(mask: Any, code_shape: tuple[int, ...]) -> np.ndarray | None:
    """A 0/1 mask as float32, refused unless it broadcasts to the code and selects something."""
    if mask is None:
        return None
    mask = np.asarray(mask, np.float32)
    try:
        np.broadcast_shapes(mask.shape, code_shape)
    except ValueError:
        raise JaxinvError(f"mask of shape {mask.shape} does not fit codes of shape {code_shape};"
                          " build it with jaxinv.masks for this code") from None
    if not np.any(mask * np.ones(code_shape, np.float32)):
        raise JaxinvError("the mask selects nothing; select at least one code entry")
    return mask
