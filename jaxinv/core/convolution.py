"""A stride-1 2-D convolution whose kernel gradient is a few matrix products.

XLA:CPU differentiates ``y = conv(x, W)`` with respect to W by a convolution whose window is
the whole output map, far slower than the forward pass on large maps with few channels: on
a Deep Image Prior generator's 7×7 layers (227×227 to 57×57, 8-34 channels) 4-13× slower
than here; on its other layers the two are within 0.6-1.4× of each other, and its whole
gradient is 2.8× faster here (`benchmarks/conv_gradient.py`). Here, with x padded to width
W_p and flattened row by row (index u = row·W_p + column), a kernel row i is one matrix
product::

    ∂/∂W[i, j, c, o] = Σ_u x_pad[i·W_p + u, c] · g[u − j, o]

where g is the output gradient set into rows of width W_p (zeros past the output's width, so
no term wraps across a row); its kw shifts side by side make one (L, kw·O) matrix for all j.
The forward pass is `jax.lax.conv_general_dilated` itself, and the input gradient XLA's own.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from jaxinv.errors import JaxinvError

__all__ = ["conv2d", "kernel_gradient", "xla_conv2d"]

Padding = tuple[tuple[int, int], tuple[int, int]]
_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def conv2d(x: jax.Array, kernel: jax.Array, padding: Padding, *, precision: lax.Precision | None = None) -> jax.Array:
    """``lax.conv_general_dilated(x, kernel, (1, 1), padding)`` on (N, H, W, C) and (kh, kw, C, O).

    The same forward values; the kernel's gradient is `kernel_gradient` (matrix products).
    ``padding``: ((top, bottom), (left, right)), each ≥ 0.
    """
    (top, bottom), (left, right) = padding
    padding = ((int(top), int(bottom)), (int(left), int(right)))
    if min(min(p) for p in padding) < 0:
        raise JaxinvError(f"conv2d: padding {padding}; use amounts >= 0")
    return _conv(x, kernel, padding, precision)


def xla_conv2d(x: jax.Array, kernel: jax.Array, padding: Padding, *,
               precision: lax.Precision | None = None) -> jax.Array:
    """`conv2d`'s forward with XLA's own gradients: what `conv2d` is measured against."""
    return lax.conv_general_dilated(x, kernel, (1, 1), padding, dimension_numbers=_DIMENSIONS, precision=precision)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv(x: jax.Array, kernel: jax.Array, padding: Padding, precision: lax.Precision | None) -> jax.Array:
    return xla_conv2d(x, kernel, padding, precision=precision)


def _conv_forward(x: jax.Array, kernel: jax.Array, padding: Padding, precision: lax.Precision | None
                  ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    return xla_conv2d(x, kernel, padding, precision=precision), (x, kernel)


def _conv_backward(padding: Padding, precision: lax.Precision | None, residuals: tuple[jax.Array, jax.Array],
                   grad: jax.Array) -> tuple[jax.Array, jax.Array]:
    x, kernel = residuals
    _, input_vjp = jax.vjp(lambda v: xla_conv2d(v, kernel, padding, precision=precision), x)
    return input_vjp(grad)[0], kernel_gradient(x, grad, (kernel.shape[0], kernel.shape[1]), padding,
                                               precision=precision)


_conv.defvjp(_conv_forward, _conv_backward)


def kernel_gradient(x: jax.Array, grad: jax.Array, kernel_size: tuple[int, int], padding: Padding, *,
                    precision: lax.Precision | None = None) -> jax.Array:
    """∂⟨grad, conv(x, W)⟩/∂W (kh, kw, C, O) of a stride-1 convolution: x (N, H, W, C), grad (N, H_o, W_o, O)."""
    (kh, kw), ((top, bottom), (left, right)) = kernel_size, padding
    n, _, width, channels = x.shape
    rows_out, cols_out, outputs = grad.shape[1:]
    padded_width = width + left + right
    # one spare row, so that the last kernel row's slice stays inside
    flat = jnp.pad(x, ((0, 0), (top, bottom + 1), (left, right), (0, 0))).reshape(n, -1, channels)
    length = rows_out * padded_width + kw - 1
    g = jnp.pad(grad, ((0, 0), (0, 0), (0, padded_width - cols_out), (0, 0))).reshape(n, -1, outputs)
    g = jnp.pad(g, ((0, 0), (kw - 1, kw - 1), (0, 0)))
    shifted = jnp.concatenate([g[:, kw - 1 - j: kw - 1 - j + length] for j in range(kw)], axis=-1)
    rows = [jnp.einsum("nuc,nuq->cq", flat[:, i * padded_width: i * padded_width + length], shifted,
                       precision=precision) for i in range(kh)]
    return jnp.stack(rows).reshape(kh, channels, kw, outputs).transpose(0, 2, 1, 3)
