"""Caffe layer semantics as JAX functions and Flax NNX modules (NHWC activations, HWIO kernels).

Every function here reproduces one Caffe layer type exactly (``src/caffe/layers/*.cpp`` of
BVLC/caffe), written for XLA CPU speed:

- `conv2d` / `Conv`: cross-correlation, symmetric zero padding, floor output size, ``group``
  as separate convolutions on channel slices (one ``feature_group_count`` convolution was
  2-4× slower in the backward pass on XLA CPU), strided ones by space-to-depth;
- `max_pool` / `avg_pool`: Caffe's *ceil* output size, ``ceil((H + 2p - k) / s) + 1``, minus one
  when the last window would start in the bottom padding;
- `lrn`: cross-channel local response normalisation,
  ``y_c = x_c (k + α/n Σ_{|c'-c| ≤ n//2} x_{c'}²)^(-β)`` (Caffe divides α by ``local_size``);
- `Linear`: Caffe's ``InnerProduct``, whose input is flattened in (C, H, W) order; the kernel
  is stored already permuted to the NHWC flatten order, so no activation transpose is needed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

__all__ = [
    "Conv", "Linear", "avg_pool", "caffe_pool_size", "conv2d", "floor_pool_size", "linear", "lrn",
    "max_pool", "relu", "leaky_relu", "softmax",
]

_DIMS = ("NHWC", "HWIO", "NHWC")


def conv2d(x: jax.Array, kernel: jax.Array, bias: jax.Array, *, stride: int = 1,
           pad: int = 0) -> jax.Array:
    """Caffe ``Convolution``: ``y = Σ_g x_g ⋆ w_g + b`` on (N, H, W, C) input.

    ``kernel`` is (G, kh, kw, C/G, O/G): group ``g`` sees input channels
    ``[g C/G, (g+1) C/G)`` and writes output channels ``[g O/G, (g+1) O/G)``.
    Output size ``floor((H + 2p - k) / s) + 1``.
    """
    groups = kernel.shape[0]
    parts = jnp.split(x, groups, axis=-1) if groups > 1 else [x]
    single = _conv_s2d if stride > 1 else _conv_direct
    outs = [single(part, kernel[g], stride, pad) for g, part in enumerate(parts)]
    y = outs[0] if groups == 1 else jnp.concatenate(outs, axis=-1)
    return y + bias


def _conv_direct(x: jax.Array, kernel: jax.Array, stride: int, pad: int) -> jax.Array:
    if stride == 1:
        return _conv_s1(x, kernel, pad)
    return jax.lax.conv_general_dilated(x, kernel, (stride, stride), ((pad, pad), (pad, pad)),
                                        dimension_numbers=_DIMS)


def _conv_s1_plain(x: jax.Array, kernel: jax.Array, pad: int) -> jax.Array:
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), ((pad, pad), (pad, pad)),
                                        dimension_numbers=_DIMS)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv_s1(x: jax.Array, kernel: jax.Array, pad: int) -> jax.Array:
    """A stride-1 convolution whose input gradient uses a materialised flipped HWIO kernel.

    Why: inside a while loop (`lax.scan` of the inversion chunk) XLA CPU folds the kernel's
    flip/transpose of the autodiff input gradient into the convolution's dimension labels
    (``01oi``), which neither YNNPACK nor Eigen take: that convolution then ran ~10x slower
    (jax#12868). The optimisation barrier keeps the transposed kernel a real HWIO array.
    """
    return _conv_s1_plain(x, kernel, pad)


def _conv_s1_fwd(x: jax.Array, kernel: jax.Array, pad: int) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    return _conv_s1_plain(x, kernel, pad), (x, kernel)


def _conv_s1_bwd(pad: int, res: tuple[jax.Array, jax.Array], g: jax.Array) -> tuple[jax.Array, jax.Array]:
    x, kernel = res
    kh, kw = kernel.shape[:2]
    flipped = jax.lax.optimization_barrier(jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2))
    dx = jax.lax.conv_general_dilated(g, flipped, (1, 1),
                                      ((kh - 1 - pad, kh - 1 - pad), (kw - 1 - pad, kw - 1 - pad)),
                                      dimension_numbers=_DIMS)
    _, k_vjp = jax.vjp(lambda k: _conv_s1_plain(x, k, pad), kernel)  # dead code unless needed
    return dx, k_vjp(g)[0]


_conv_s1.defvjp(_conv_s1_fwd, _conv_s1_bwd)


def _conv_s2d(x: jax.Array, kernel: jax.Array, stride: int, pad: int) -> jax.Array:
    """A stride-s convolution as a stride-1 one on s×s space-to-depth blocks.

    Same sums, regrouped: the k×k kernel is zero-padded to ⌈k/s⌉·s and cut into s×s blocks.
    Why: XLA CPU's input gradient of a strided convolution (an input-dilated convolution)
    was ~1.5-2× slower than this stride-1 form, forward plus backward, for conv1.
    """
    s = stride
    n, h, w, c = x.shape
    kh, kw, _, o = kernel.shape
    oh, ow = (h + 2 * pad - kh) // s + 1, (w + 2 * pad - kw) // s + 1
    bh, bw = -(-kh // s), -(-kw // s)
    hp, wp = (oh + bh - 1) * s, (ow + bw - 1) * s
    x = jnp.pad(x, ((0, 0), (pad, max(hp - h - pad, 0)), (pad, max(wp - w - pad, 0)), (0, 0)))
    x = x[:, :hp, :wp]  # rows past the last window are never read
    x = x.reshape(n, hp // s, s, wp // s, s, c).transpose(0, 1, 3, 2, 4, 5)
    x = x.reshape(n, hp // s, wp // s, s * s * c)
    k = jnp.pad(kernel, ((0, bh * s - kh), (0, bw * s - kw), (0, 0), (0, 0)))
    k = k.reshape(bh, s, bw, s, c, o).transpose(0, 2, 1, 3, 4, 5).reshape(bh, bw, s * s * c, o)
    y = _conv_s1(x, k, 0)
    return y[:, :oh, :ow]


def linear(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
    """Caffe ``InnerProduct``: ``y = W flatten(x) + b`` with ``kernel`` = Wᵀ in NHWC order."""
    return x.reshape(x.shape[0], -1) @ kernel + bias


def relu(x: jax.Array) -> jax.Array:
    """Caffe ``ReLU`` (negative_slope 0)."""
    return jnp.maximum(x, 0.0)


def leaky_relu(x: jax.Array, slope: float) -> jax.Array:
    """``max(x, 0) + slope · min(x, 0)``: a ReLU that lets a little of the negative side through.

    IJCV 2016's activation maximisation makes every ReLU leaky (slope 0.05, the
    ``opts.leak`` of the authors' ``get_preimage_opts.m``) so that a unit switched off by a
    ReLU still passes a gradient; ``slope = 0`` is `relu`.
    """
    return jnp.maximum(x, 0.0) + slope * jnp.minimum(x, 0.0)


def softmax(x: jax.Array) -> jax.Array:
    """Caffe ``Softmax`` over channels (the last axis in NHWC)."""
    return jax.nn.softmax(x, axis=-1)


def caffe_pool_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output length of Caffe pooling (``PoolingLayer::Reshape``): ceil rounding, clipped."""
    out = int(math.ceil((size + 2 * pad - kernel) / stride)) + 1
    if pad > 0 and (out - 1) * stride >= size + pad:
        out -= 1  # the last window must start inside the image or the top/left padding
    return out


def floor_pool_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output length of PyTorch pooling with ``ceil_mode=False``: ``⌊(H + 2p - k) / s⌋ + 1``."""
    return (size + 2 * pad - kernel) // stride + 1


def _pool_pads(size: int, kernel: int, stride: int, pad: int,
               ceil: bool = True) -> tuple[int, int, int]:
    out = (caffe_pool_size if ceil else floor_pool_size)(size, kernel, stride, pad)
    hi = (out - 1) * stride + kernel - size - pad  # bottom padding incl. the ceil overhang
    return out, pad, max(hi, 0)


def _strided(x: jax.Array, start: int, stride: int, count: int, axis: int) -> jax.Array:
    return jax.lax.slice_in_dim(x, start, start + (count - 1) * stride + 1, stride, axis)


Combine = Callable[[jax.Array, jax.Array], jax.Array]


def _separable_axis(x: jax.Array, kernel: int, stride: int, count: int, axis: int, combine: Combine) -> jax.Array:
    out = _strided(x, 0, stride, count, axis)
    for j in range(1, kernel):
        out = combine(out, _strided(x, j, stride, count, axis))
    return out


def _separable(xp: jax.Array, kernel: int, stride: int, out_h: int, out_w: int, combine: Combine) -> jax.Array:
    """Reduce k×k windows as k rows then k columns (2k strided slices, not k²)."""
    rows = _separable_axis(xp, kernel, stride, out_h, 1, combine)
    return _separable_axis(rows, kernel, stride, out_w, 2, combine)


def max_pool(x: jax.Array, *, kernel: int, stride: int, pad: int = 0,
             ceil: bool = True) -> jax.Array:
    """Caffe ``Pooling`` MAX with ceil output size; padding never wins the max.

    ``ceil=False``: PyTorch's ``MaxPool2d`` default floor size (torchvision's ResNet stem).

    Written as a separable max of strided slices (rows, then columns), with the gradient of
    `_max_pool_padded`. Both were measured faster on XLA CPU than ``reduce_window`` and its
    ``select_and_scatter`` gradient.
    """
    _, h, w, _ = x.shape
    oh, top, bottom = _pool_pads(h, kernel, stride, pad, ceil)
    ow, left, right = _pool_pads(w, kernel, stride, pad, ceil)
    xp = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)),
                 constant_values=-jnp.inf) if (top or bottom or left or right) else x
    return _max_pool_padded(xp, kernel, stride, (oh, ow))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _max_pool_padded(xp: jax.Array, kernel: int, stride: int, out_hw: tuple[int, int]) -> jax.Array:
    """Valid k×k max pooling of stride s over an already padded (N, H, W, C) input.

    Gradient: each output's cotangent goes to one maximum of its window, the first along
    H within the first column (along W) holding the maximum: a subgradient, as Caffe's and
    PyTorch's (which take the first in row-major order; the two differ only on exact ties).
    Why custom: the autodiff of the slice-max chain (a select and a strided pad per slice,
    ties split in halves) took 2.5× as long as this per-phase scatter (CaffeNet pool1 at
    batch 8, forward and backward: 2.15 against 0.87 ms; ``reduce_window``'s 23.6 ms).
    """
    return _max_pool_fwd(xp, kernel, stride, out_hw)[0]


def _max_pool_fwd(xp: jax.Array, kernel: int, stride: int, out_hw: tuple[int, int]
                  ) -> tuple[jax.Array, tuple[jax.Array, jax.Array, jax.Array]]:
    rows = _separable_axis(xp, kernel, stride, out_hw[0], 1, jnp.maximum)
    out = _separable_axis(rows, kernel, stride, out_hw[1], 2, jnp.maximum)
    return out, (xp, rows, out)


def _max_pool_bwd(kernel: int, stride: int, out_hw: tuple[int, int], res: tuple[jax.Array, jax.Array, jax.Array],
                  g: jax.Array) -> tuple[jax.Array]:
    xp, rows, out = res
    g_rows = _first_max_scatter(rows, out, g, kernel, stride, axis=2)
    return (_first_max_scatter(xp, rows, g_rows, kernel, stride, axis=1),)


_max_pool_padded.defvjp(_max_pool_fwd, _max_pool_bwd)


def _first_max_scatter(x: jax.Array, y: jax.Array, g: jax.Array, kernel: int, stride: int,
                       axis: int) -> jax.Array:
    """The cotangent of x for ``y[i] = max_j x[s i + j]`` (j < k) along ``axis``, first max wins.

    Window offset j = r + s m lands on phase r (positions ≡ r mod s) at phase index i + m,
    so each phase is a sum of k/s shifted (edge-padded) selections; the s phases are then
    interleaved by one reshape, instead of k strided pads.
    """
    count, length = y.shape[axis], x.shape[axis]
    phase_len = -(-length // stride)
    taken = jnp.zeros(y.shape, bool)
    phases: list[jax.Array | None] = [None] * stride
    for j in range(kernel):
        hit = (_strided(x, j, stride, count, axis) == y) & ~taken
        taken = taken | hit
        part = jnp.where(hit, g, 0.0)
        r, m = j % stride, j // stride
        widths = [(0, 0)] * x.ndim
        widths[axis] = (m, phase_len - count - m)
        part = jnp.pad(part, widths)
        current = phases[r]
        phases[r] = part if current is None else current + part
    first = phases[0]
    assert first is not None  # offset j = 0 lands on phase 0
    zeros = jnp.zeros_like(first)
    stacked = jnp.stack([zeros if p is None else p for p in phases], axis=axis + 1)
    shape = list(x.shape)
    shape[axis] = phase_len * stride
    return jax.lax.slice_in_dim(stacked.reshape(shape), 0, length, axis=axis)


def avg_pool(x: jax.Array, *, kernel: int, stride: int, pad: int = 0) -> jax.Array:
    """Caffe ``Pooling`` AVE: zero padding counts in the divisor, the ceil overhang does not.

    The divisor of a window is ``(min(h0 + k, H + p) - h0) (min(w0 + k, W + p) - w0)`` with
    ``h0 = i s - p``, exactly as ``PoolingLayer::Forward_cpu``.
    """
    _, h, w, _ = x.shape
    oh, top, bottom = _pool_pads(h, kernel, stride, pad)
    ow, left, right = _pool_pads(w, kernel, stride, pad)
    xp = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    total = _separable(xp, kernel, stride, oh, ow, jnp.add)

    def counts(size: int, out: int) -> np.ndarray:
        start = np.arange(out) * stride - pad
        return (np.minimum(start + kernel, size + pad) - start).astype(np.float32)

    divisor = counts(h, oh)[:, None] * counts(w, ow)[None, :]
    return total / jnp.asarray(divisor)[None, :, :, None]


def _band(channels: int, size: int) -> np.ndarray:
    idx = np.arange(channels)
    return (np.abs(idx[:, None] - idx[None, :]) <= size // 2).astype(np.float32)


def lrn(x: jax.Array, *, size: int = 5, alpha: float = 1e-4, beta: float = 0.75,
        k: float = 1.0) -> jax.Array:
    """Caffe ``LRN`` ACROSS_CHANNELS: ``x (k + α/n Σ_window x²)^(-β)``, zeros beyond the ends.

    The window sum is a matmul with a (C, C) 0/1 band matrix: one GEMM forward and one
    backward, faster on XLA CPU than shifted adds (measured; see the module tests).
    """
    band = jnp.asarray(_band(x.shape[-1], size))
    window = jnp.matmul(x * x, band, precision=jax.lax.Precision.HIGHEST)
    scale = k + (alpha / size) * window
    return x * jnp.exp(-beta * jnp.log(scale))


class Conv(nnx.Module):
    """A Caffe convolution layer; ``kernel`` (G, kh, kw, C/G, O/G), ``bias`` (O,)."""

    def __init__(self, kernel: jax.Array, bias: jax.Array, *, stride: int = 1, pad: int = 0):
        self.kernel = nnx.Param(kernel)
        self.bias = nnx.Param(bias)
        self.stride = stride
        self.pad = pad

    def __call__(self, x: jax.Array) -> jax.Array:
        return conv2d(x, self.kernel[...], self.bias[...], stride=self.stride, pad=self.pad)


class Linear(nnx.Module):
    """A Caffe inner-product layer; ``kernel`` (H·W·C, O) in NHWC flatten order, ``bias`` (O,)."""

    def __init__(self, kernel: jax.Array, bias: jax.Array):
        self.kernel = nnx.Param(kernel)
        self.bias = nnx.Param(bias)

    def __call__(self, x: jax.Array) -> jax.Array:
        return linear(x, self.kernel[...], self.bias[...])
