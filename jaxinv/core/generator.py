"""Deep Image Prior: the image is an untrained generator's output, the optimiser moves its weights.

Ulyanov, Vedaldi & Lempitsky, "Deep Image Prior", CVPR 2018: a convolutional encoder-decoder
with skip connections, fed with a fixed noise tensor z, is itself a prior on pictures; an
inversion minimises E(Φ(g_θ(z))) over the generator's weights θ instead of over pixels::

    x = input_map(255 · sigmoid(g_θ(z + σ_p ε_t)))          ε_t ~ N(0, I) from step t's key

The generator is the authors' "skip" architecture (their ``models/skip.py``), read for its
facts: at each of L levels an encoder step (conv k×k with a 2× down-sampling, norm, leaky
ReLU(0.2), conv k×k, norm, leaky ReLU), the next level, a 2× up-sampling, the concatenation
with a skip branch (conv 1×1 to a few channels, norm, leaky ReLU), norm, conv k×k, norm,
leaky ReLU, conv 1×1, norm, leaky ReLU; a final conv 1×1 to RGB and a sigmoid. The defaults
are their feature-inversion notebook's (CaffeNet fc6, Adam at 1e-3 for 3100 steps): widths
16, 32, 64, 128, 128, 128, skips of 4, kernels 7, 7, 5, 5, 3, 3, 2×2 average-pool
down-sampling, nearest up-sampling, 32 noise channels of U[0, 1)/10.

Deliberate differences, all documented choices:

- *Norm.* Their BatchNorm runs in training mode on a batch of one picture: each channel is
  normalised over the picture's positions. That is `flax.linen.GroupNorm` with groups of one
  channel (ε = 1e-5, learned scale and bias), with no running statistics to carry, so copies
  and vmapped seeds never share statistics.
- *Size.* Their network runs at 256×256 and its output is cropped to 227×227; this one runs at
  the picture's own size: an odd size is halved upwards, and each up-sampling is resized to
  the size of the level above, so any H × W works and no pixel is computed to be thrown away.
- *Initialisation.* Kernels are drawn as PyTorch draws them (U(±1/√fan_in)); biases start at 0.

Variables: ``{"params": θ, "noise": z}`` with z of shape (R, H, W, noise_channels). The noise
rides along so that it is drawn from the problem's key and vmaps with it, but ``image``
reads it through `jax.lax.stop_gradient`: its gradient is exactly zero, so a gradient
optimiser (SGD, momentum, Adam, AdaGrad, L-BFGS) never moves it. An optimiser that moves
parameters without a gradient (decoupled weight decay, ``optax.adamw``) must be wrapped in
`noise_frozen`. Copies: R independent generators (their weights stacked on a leading axis,
``init`` vmapped over R keys), each with its own noise.

Speed: XLA:CPU differentiates a convolution with respect to its kernel 4-13× slower than
matrix products do on this generator's 7×7 layers, so its stride-1 convolutions are
`jaxinv.core.convolution.conv2d` (the same forward, the kernel gradient as matrix products):
the preset's generator's gradient at 227×227 is 2.8× faster on one copy and 7.8× on two
(``benchmarks/conv_gradient.py``). Inside a loop (``lax.scan``, ``fori_loop``)
the step is still about 4× slower than outside one, so the class asks its solvers to be
driven one compiled step at a time from the host (``stepwise``, `Solver.stepwise`);
`jaxinv.runner.run` does that (for `jaxinv.invert` and `jaxinv.maximize`), and `jaxinv.core.run_in_chunks`
does it for a `Solver` built by hand.

Input space: ``input_map`` maps the (R, H, W, 3) pictures in RGB [0, 255] to the
representation's input; any hashable callable, typically ``jaxinv.core.input_map(rep)``, the
affine map derived from ``rep.deprocess`` (a CNN: channel order, minus the mean pixel). The
default is the identity, so ``ToInput(DeepImagePrior(), input_map(rep))`` is the same thing::

    prior = DeepImagePrior(input_map=input_map(rep))
    solver = Solver(rep.features, rep.params, NormalisedData().as_objective(), prior,
                    optax.adam(1e-2), schedule=Schedule.of([(1.0, 300)]), image_shape=rep.input_shape)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxinv.core.convolution import conv2d
from jaxinv.core.output import InputMap
from jaxinv.errors import JaxinvError

__all__ = ["DeepImagePrior", "SkipGenerator", "noise_frozen"]

_KERNEL_INIT = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")  # U(±1/√fan_in)


class _Conv(nn.Module):
    """`flax.linen.Conv`'s parameters and values (zero padding (k − 1)/2); at stride 1 the kernel's
    gradient is `jaxinv.core.convolution.kernel_gradient` (XLA:CPU's is 4-13× slower on the 7×7 layers)."""

    features: int
    kernel: int
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", _KERNEL_INIT, (self.kernel, self.kernel, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        pad = (self.kernel - 1) // 2
        padding = ((pad, pad), (pad, pad))
        if self.stride == 1:
            return conv2d(x, kernel, padding) + bias
        return jax.lax.conv_general_dilated(x, kernel, (self.stride,) * 2, padding,
                                            dimension_numbers=("NHWC", "HWIO", "NHWC")) + bias


class SkipGenerator(nn.Module):
    """The DIP "skip" encoder-decoder on one batch (N, H, W, C_z) → (N, H, W, 3) in (0, 1)."""

    channels: tuple[int, ...]
    skip_channels: tuple[int, ...]
    kernels: tuple[int, ...]
    downsample: str = "avg"
    upsample: str = "nearest"
    leak: float = 0.2

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        x = self._level(z, 0)
        x = _Conv(3, 1, name="to_rgb")(x)
        return jax.nn.sigmoid(x)

    def _block(self, x: jax.Array, features: int, kernel: int, name: str, stride: int = 1) -> jax.Array:
        """conv k×k (zero padding (k−1)/2), norm, leaky ReLU."""
        x = _Conv(features, kernel, stride, name=f"{name}_conv")(x)
        return nn.leaky_relu(self._norm(x, f"{name}_norm"), self.leak)

    def _norm(self, x: jax.Array, name: str) -> jax.Array:
        # BatchNorm in training mode on one picture: per channel, over the positions.
        return nn.GroupNorm(num_groups=None, group_size=1, epsilon=1e-5, name=name)(x)

    def _level(self, x: jax.Array, i: int) -> jax.Array:
        c, k = self.channels[i], self.kernels[i]
        size = (x.shape[-3], x.shape[-2])
        if self.downsample == "stride":
            deeper = self._block(x, c, k, f"down{i}_a", stride=2)
        else:  # conv at full size, then a 2×2 mean (an odd edge averages what it has)
            deeper = self._block(x, c, k, f"down{i}_a")
            deeper = _halve(deeper)
        deeper = self._block(deeper, c, k, f"down{i}_b")
        if i + 1 < len(self.channels):
            deeper = self._level(deeper, i + 1)
        deeper = _upsample(deeper, size, self.upsample)
        if self.skip_channels[i]:
            skip = self._block(x, self.skip_channels[i], 1, f"skip{i}")
            deeper = jnp.concatenate([skip, deeper], axis=-1)
        x = self._block(self._norm(deeper, f"up{i}_norm"), self.channels[i], k, f"up{i}_a")
        return self._block(x, self.channels[i], 1, f"up{i}_b")


@dataclasses.dataclass(frozen=True)
class DeepImagePrior:
    """The image is ``input_map(255 · g_θ(z))``; the optimiser moves θ (see the module docstring).

    Attributes:
      channels: the encoder's and decoder's widths, one per level (the authors' notebook).
      skip_channels: the skip branch's widths, one per level (0: no skip at that level).
      kernels: the k×k kernel of each level's encoder and decoder convolutions.
      noise_channels: C_z, the depth of the noise z (32 in their inversion notebook).
      noise_scale: z ~ U[0, 1) · noise_scale (their ``var`` = 1/10).
      noise_perturbation: σ_p: each step sees z + σ_p ε, ε ~ N(0, I) drawn from the step's key
        (their denoising notebooks use 1/30; their inversion notebook 0, the default). The
        returned image (no key) is always g_θ(z).
      downsample: "avg" (conv, then 2×2 mean; their inversion notebook) or "stride" (stride 2).
      upsample: "nearest" or "bilinear".
      leak: the leaky ReLU's slope for negative inputs.
      input_map: RGB [0, 255] pictures → the representation's input, a hashable callable
        (``jaxinv.core.input_map(rep)``). Default: the identity `InputMap`.
    """

    channels: tuple[int, ...] = (16, 32, 64, 128, 128, 128)
    skip_channels: tuple[int, ...] = (4, 4, 4, 4, 4, 4)
    kernels: tuple[int, ...] = (7, 7, 5, 5, 3, 3)
    noise_channels: int = 32
    noise_scale: float = 0.1
    noise_perturbation: float = 0.0
    downsample: str = "avg"
    upsample: str = "nearest"
    leak: float = 0.2
    input_map: Callable[[jax.Array], jax.Array] = InputMap()
    #: Step it from the host (`Solver.stepwise`): its steps run ~4× slower inside a loop on XLA:CPU.
    stepwise: ClassVar[bool] = True

    def __post_init__(self) -> None:
        for name in ("channels", "skip_channels", "kernels"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        _check(self)

    @classmethod
    def reduced(cls, *, levels: int = 6, width: float = 1.0, **options: Any) -> "DeepImagePrior":
        """The notebook's generator with its first ``levels`` levels and widths × ``width``."""
        if not 1 <= levels <= 6 or not width > 0:
            raise JaxinvError(f"reduced(levels={levels!r}, width={width!r}); use 1 <= levels <= 6 and width > 0")
        base = cls()
        scale = lambda values: tuple(max(1, round(v * width)) for v in values[:levels])  # noqa: E731
        return cls(channels=scale(base.channels), skip_channels=scale(base.skip_channels),
                   kernels=base.kernels[:levels], **options)

    def generator(self) -> SkipGenerator:
        """The `SkipGenerator` network of these widths, kernels and resampling (no weights)."""
        return SkipGenerator(self.channels, self.skip_channels, self.kernels, self.downsample,
                             self.upsample, self.leak)

    def variable_shape(self, image_shape: tuple[int, int, int], copies: int) -> Any:
        """The variables' pytree of `jax.ShapeDtypeStruct` (no arrays are made)."""
        return jax.eval_shape(lambda k: self.init(k, image_shape, copies), jax.random.key(0))

    def init(self, key: jax.Array, image_shape: tuple[int, int, int], copies: int) -> dict[str, Any]:
        """{"params": R generators' weights (leading axis R), "noise": (R, H, W, C_z)} from ``key``."""
        h, w, c = image_shape
        if c != 3:
            raise JaxinvError(f"a Deep Image Prior makes RGB pictures, not {c}-channel inputs; "
                              "use it with a representation of 3-channel input")
        weights_key, noise_key = jax.random.split(key)
        noise = jax.random.uniform(noise_key, (copies, h, w, self.noise_channels), jnp.float32) * self.noise_scale
        net = self.generator()
        params = jax.vmap(lambda k, z: net.init(k, z[None])["params"])(jax.random.split(weights_key, copies), noise)
        return {"params": params, "noise": noise}

    def pictures(self, variables: dict[str, Any], *, key: jax.Array | None = None,
                 active: jax.Array | bool = True) -> jax.Array:
        """The R pictures (R, H, W, 3) in RGB [0, 255], the noise perturbed from ``key`` if any."""
        noise = jax.lax.stop_gradient(variables["noise"])
        if key is not None and self.noise_perturbation > 0:
            shake = jax.random.normal(key, noise.shape, noise.dtype) * self.noise_perturbation
            noise = noise + jnp.where(active, shake, jnp.zeros_like(shake))
        net = self.generator()
        if noise.shape[0] == 1:  # one copy: no batched kernels (grouped convolutions compile slowly)
            # flax types `apply` as "output or (output, state)"; without mutable= it is the output
            return 255.0 * cast(jax.Array, net.apply({"params": jax.tree.map(lambda a: a[0], variables["params"])},
                                                     noise))
        out = jax.vmap(lambda p, z: net.apply({"params": p}, z[None])[0])(variables["params"], noise)
        return 255.0 * out

    def image(self, variables: dict[str, Any], *, key: jax.Array | None = None,
              active: jax.Array | bool = True) -> jax.Array:
        """`pictures` in the representation's input space (``input_map``)."""
        return self.input_map(self.pictures(variables, key=key, active=active))

    def pixels(self, variables: dict[str, Any]) -> jax.Array:
        """What regularisers see: the image in input space (as IJCV's pixels), without perturbation."""
        return self.image(variables)

    def project(self, variables: dict[str, Any]) -> dict[str, Any]:
        """The identity: the generator's weights and noise are unconstrained."""
        return variables


def _halve(x: jax.Array) -> jax.Array:
    """2×2 means of (N, H, W, C); an odd last row or column is averaged over what it has."""
    n, h, w, c = x.shape
    padded = jnp.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
    sums = padded.reshape(n, (h + 1) // 2, 2, (w + 1) // 2, 2, c).sum(axis=(2, 4))
    rows = np.minimum(2, h - 2 * np.arange((h + 1) // 2))
    cols = np.minimum(2, w - 2 * np.arange((w + 1) // 2))
    return sums / jnp.asarray(np.outer(rows, cols)[None, :, :, None], x.dtype)


def _upsample(x: jax.Array, size: tuple[int, int], method: str) -> jax.Array:
    """2× up-sampling of (N, h, w, C) cropped to ``size`` (nearest: each value repeated 2×2)."""
    if method == "nearest":
        return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)[:, :size[0], :size[1]]
    return jax.image.resize(x, (x.shape[0], *size, x.shape[-1]), "linear")


def noise_frozen(optimizer: optax.GradientTransformation) -> optax.GradientTransformation:
    """``optimizer`` on the generator's weights only: the noise's updates are its (zero) gradient.

    Needed only for optimisers that move parameters without a gradient (``optax.adamw``'s
    decoupled weight decay); `DeepImagePrior.image` already gives the noise a zero gradient.
    """
    return optax.masked(optimizer, lambda variables: {"params": True, "noise": False})


def _check(prior: DeepImagePrior) -> None:
    levels = len(prior.channels)
    if levels == 0 or len(prior.skip_channels) != levels or len(prior.kernels) != levels:
        raise JaxinvError(f"DeepImagePrior: channels, skip_channels and kernels need one value per level, "
                          f"got {len(prior.channels)}, {len(prior.skip_channels)} and {len(prior.kernels)}")
    if min(prior.channels) < 1 or min(prior.skip_channels) < 0 or prior.noise_channels < 1:
        raise JaxinvError("DeepImagePrior: widths must be >= 1 (skip widths >= 0) and noise_channels >= 1")
    if any(k < 1 or k % 2 == 0 for k in prior.kernels):
        raise JaxinvError(f"DeepImagePrior: kernels {prior.kernels}; use odd sizes (3, 5, 7)")
    if prior.downsample not in ("avg", "stride") or prior.upsample not in ("nearest", "bilinear"):
        raise JaxinvError(f"DeepImagePrior: downsample {prior.downsample!r} / upsample {prior.upsample!r}; "
                          "use 'avg' or 'stride' / 'nearest' or 'bilinear'")
    if not prior.noise_scale > 0 or not prior.noise_perturbation >= 0:
        raise JaxinvError("DeepImagePrior: noise_scale must be > 0 and noise_perturbation >= 0")
    if not callable(prior.input_map):
        raise JaxinvError(f"DeepImagePrior: input_map {prior.input_map!r}; use a callable such as input_map(rep)")
