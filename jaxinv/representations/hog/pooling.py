"""HOG step 3: bilinear spatial voting of the orientation votes into cells (vl/hog.c).

Pixel x votes 1 − frac(hx) into cell ⌊hx⌋ and frac(hx) into ⌊hx⌋ + 1, hx = (x + 0.5)/s − 0.5
(same in y); votes for cells outside the grid are dropped. Separable, written as an
unrolled weighted sum over groups of s pixels per axis, with a hand-written transpose.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.representations.hog.gradients import image_gradients
from jaxinv.representations.hog.orientation import orientation_votes

__all__ = ["hog_cells", "hog_grid"]


def _cells_along(length: int, cell_size: int) -> int:
    """VLFeat's number of cells along an axis of ``length`` px: (length + s//2)//s (rounds)."""
    return (length + cell_size // 2) // cell_size


def hog_grid(height: int, width: int, cell_size: int) -> tuple[int, int]:
    """VLFeat's cell grid (hogH, hogW) = ((H + s//2)//s, (W + s//2)//s) (rounds, not floors)."""
    return _cells_along(height, cell_size), _cells_along(width, cell_size)


@functools.lru_cache(maxsize=None)
def _axis_pooling(length: int, cell_size: int) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Padding and per-group weights of bilinear voting along one axis of ``length`` px.

    Pixel x (interior, 1 ≤ x ≤ length−2) has hx = (x + 0.5)/s − 0.5 and votes
    wx1 = 1 − frac(hx) into cell b = ⌊hx⌋ and wx2 = frac(hx) into b + 1, b ≥ −1.
    The pixels with the same b are the s consecutive pixels starting at
    x = s·b + s//2, so padding the interior row by ``before``/``after`` zeros puts
    the pixels of b = g − 1 at [g·s, (g+1)·s), g = 0..cells.

    Returns (before, after, w_self, w_next) with w_* of shape (cells + 1, s):
    group g sends w_self into cell g − 1 and w_next into cell g; the votes that fall
    outside the grid (cell −1, cell ``cells``) are zeroed, as VLFeat drops them.
    Weights are rounded as hog.c does (hx in double then float, wx1 = 1.0 − wx2).
    """
    cells = _cells_along(length, cell_size)
    groups = cells + 1
    x = (np.arange(groups * cell_size) - cell_size + cell_size // 2).astype(np.int64)
    hx = ((x + 0.5) / cell_size - 0.5).astype(np.float32)
    binx = np.floor(hx)
    w_next = (hx - binx.astype(np.float32)).astype(np.float32)
    w_self = (1.0 - w_next.astype(np.float64)).astype(np.float32)
    group = (binx + 1).astype(np.int64)
    assert np.array_equal(group, np.repeat(np.arange(groups), cell_size)), "grouping broken"
    interior = max(length - 2, 0)
    before = 1 + cell_size - cell_size // 2
    after = groups * cell_size - before - interior
    assert after >= 0, "interior pixel beyond the last group"
    w_self = w_self.reshape(groups, cell_size)
    w_next = w_next.reshape(groups, cell_size)
    w_self[0] = 0.0        # cell −1
    w_next[cells] = 0.0    # cell `cells`
    return before, after, w_self, w_next


def _group_axis(x: jax.Array, axis: int, groups: int, cell_size: int) -> jax.Array:
    """Split ``axis`` of length groups·s into (groups, s)."""
    shape = list(x.shape)
    shape[axis : axis + 1] = [groups, cell_size]
    return x.reshape(shape)


def _weights_along(w: np.ndarray, p: int, axis: int, ndim: int) -> jax.Array:
    """Column p of a (groups, s) weight table, shaped to broadcast along ``axis``."""
    shape = [1] * ndim
    shape[axis] = w.shape[0]
    return jnp.asarray(w[:, p]).reshape(shape)


def _pool_forward(votes: jax.Array, axis: int, length: int, cell_size: int) -> jax.Array:
    before, after, w_self, w_next = _axis_pooling(length, cell_size)
    groups = w_self.shape[0]
    pad = [(0, 0)] * votes.ndim
    pad[axis] = (before, after)
    v = _group_axis(jnp.pad(votes, pad), axis, groups, cell_size)
    # An unrolled sum over the s pixels of a group: XLA turns it into one
    # vectorised elementwise loop, much faster on CPU than a strided reduce.
    to_self: jax.Array | None = None
    to_next: jax.Array | None = None
    for p in range(cell_size):
        vp = jax.lax.index_in_dim(v, p, axis + 1, keepdims=False)
        a = vp * _weights_along(w_self, p, axis, votes.ndim)
        b = vp * _weights_along(w_next, p, axis, votes.ndim)
        to_self = a if to_self is None else to_self + a
        to_next = b if to_next is None else to_next + b
    # Group g sends to_self into cell g−1 and to_next into cell g.
    assert to_self is not None and to_next is not None  # cell_size >= 1
    return jax.lax.slice_in_dim(to_self, 1, groups, axis=axis) + jax.lax.slice_in_dim(
        to_next, 0, groups - 1, axis=axis
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def pool_axis(votes: jax.Array, axis: int, length: int, cell_size: int) -> jax.Array:
    """Bilinear voting along ``axis`` of ``votes``: (…, length−2 interior px, …) -> (…, cells, …).

    cell[j] = Σ_{x: ⌊hx⌋=j} (1 − frac hx)·v[x] + Σ_{x: ⌊hx⌋=j−1} frac(hx)·v[x].
    It is linear; its transpose (the backward pass) is written out by hand as one
    broadcast multiply, since autodiff's transpose of the unrolled sum is a chain
    of s full-size pads.
    """
    return _pool_forward(votes, axis, length, cell_size)


def _pool_axis_fwd(votes: jax.Array, axis: int, length: int, cell_size: int) -> tuple[jax.Array, None]:
    return _pool_forward(votes, axis, length, cell_size), None


def _pool_axis_bwd(axis: int, length: int, cell_size: int, _: None, cotangent: jax.Array) -> tuple[jax.Array]:
    before, after, w_self, w_next = _axis_pooling(length, cell_size)
    groups = w_self.shape[0]
    ndim = cotangent.ndim
    pad_self = [(0, 0)] * ndim
    pad_self[axis] = (1, 0)
    pad_next = [(0, 0)] * ndim
    pad_next[axis] = (0, 1)
    ct_self = jnp.expand_dims(jnp.pad(cotangent, pad_self), axis + 1)   # (…, groups, 1, …)
    ct_next = jnp.expand_dims(jnp.pad(cotangent, pad_next), axis + 1)
    wshape = [1] * (ndim + 1)
    wshape[axis : axis + 2] = [groups, cell_size]
    grad = ct_self * jnp.asarray(w_self).reshape(wshape) + ct_next * jnp.asarray(
        w_next
    ).reshape(wshape)
    shape = list(cotangent.shape)
    shape[axis] = groups * cell_size
    grad = grad.reshape(shape)
    interior = groups * cell_size - before - after
    return (jax.lax.slice_in_dim(grad, before, before + interior, axis=axis),)


pool_axis.defvjp(_pool_axis_fwd, _pool_axis_bwd)


def hog_cells(
    image: jax.Array, *, cell_size: int, num_orientations: int, bilinear: bool, bilinear_gradient: bool = False
) -> jax.Array:
    """Unnormalised directed cell histograms (hogH, hogW, 2n): steps 1–3 of vl_hog.

    ``bilinear_gradient``: hard votes' values with bilinear votes' derivative, sg(v_hard) +
    (v_bil − sg(v_bil)) (sg: stop-gradient; the bracket is exactly 0). A hard vote's derivative
    sees ‖g‖ only, never the angle, so descent on HOG cannot turn an edge toward its target bin;
    the bilinear vote's derivative does.
    """
    height, width = image.shape[0], image.shape[1]
    cells_h, cells_w = hog_grid(height, width, cell_size)
    n2 = 2 * num_orientations
    if height < 3 or width < 3:
        # No interior pixel: VLFeat's histograms are all zero.
        return jnp.zeros((cells_h, cells_w, n2), image.dtype) + 0.0 * jnp.sum(image)
    gx, gy = image_gradients(image)
    votes = orientation_votes(gx, gy, num_orientations=num_orientations, bilinear=bilinear)
    if bilinear_gradient and not bilinear:
        smooth = orientation_votes(gx, gy, num_orientations=num_orientations, bilinear=True)
        votes = jax.lax.stop_gradient(votes) + (smooth - jax.lax.stop_gradient(smooth))
    pooled = pool_axis(votes, 1, width, cell_size)
    return pool_axis(pooled, 0, height, cell_size)

