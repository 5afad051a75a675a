"""Fourier parametrisations: the image is the inverse real FFT of a learned spectrum.

For an image channel x (H × W), X = rfft2(x) with the orthonormal DFT (``norm="ortho"``),
X has H × (W//2 + 1) complex coefficients at frequencies f = (k_y/H, k_x/W) in cycles per
pixel (`frequency_magnitudes`). Two parametrisations:

- `Fourier` (Olah et al., "Feature Visualization", Distill 2017): X = a(f) · Z, Z the
  variables, a(f) = √(HW) · (f₀ / max(|f|, f₀))^d with f₀ = 1/max(H, W) the lowest non-zero
  frequency (`spectrum_scale`). The guard f₀ gives the DC term (the mean) the scale of the
  lowest frequency instead of an infinite one; every higher frequency is damped by
  (f₀/|f|)^d, so a gradient step, which moves Z's coefficients alike, moves the image's low
  frequencies faster (by a(f)² against plain pixels). √(HW) makes a step's effect on the
  image independent of its size: a unit DC coefficient is the constant image 1, and a unit
  real coefficient at a frequency with 0 < k_x < W/2 is the cosine
  2 (f₀/|f|)^d · cos(2π(k_y y/H + k_x x/W)) (its imaginary part: −2 (f₀/|f|)^d · sin).
- `Maco` (Fel et al., "Unlocking Feature Visualization for Deeper Networks with MAgnitude
  Constrained Optimization", NeurIPS 2023): X = A(f) · Z/|Z|: only the phase of Z reaches
  the image; the amplitude A is the mean amplitude spectrum of natural pictures (whitened
  colours, `jaxinv.core.colour.natural_statistics`), so |rfft2(x)| = A at every frequency
  but DC whatever the optimiser does. The DC coefficient (the mean) is √(HW)·Z₀ (free).

The variables Z are stored as a real array (R, C, H, W), exactly the H·W real degrees of
freedom of a real image's spectrum (`pack`): real parts of columns 0 … W//2, imaginary parts
of columns 1 … (W−1)//2, and for the self-conjugate columns (0, and W/2 when W is even) a
real vector a whose symmetric and antisymmetric parts along k_y are the real and imaginary
parts, so that the spectrum is always that of a real image and `Fourier.variables_for`
inverts `Fourier.image` exactly. Images are (R, H, W, C), in the units of the colour stage
that follows (whitened values for `jaxinv.core.colour.DecorrelatedColour`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.core.colour import natural_statistics

__all__ = ["frequency_magnitudes", "spectrum_scale", "pack", "unpack", "natural_amplitude", "Fourier", "Maco"]


def frequency_magnitudes(h: int, w: int) -> np.ndarray:
    """|f| in cycles per pixel on the rfft2 grid, (H, W//2 + 1), float64."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return np.sqrt(fy * fy + fx * fx)


def spectrum_scale(h: int, w: int, decay: float) -> np.ndarray:
    """a(f) = √(HW) (f₀ / max(|f|, f₀))^d, f₀ = 1/max(H, W): √(HW) at DC and the lowest frequency."""
    f0 = 1.0 / max(h, w)
    return np.sqrt(h * w) * (f0 / np.maximum(frequency_magnitudes(h, w), f0)) ** float(decay)


def _self_conjugate_columns(w: int) -> tuple[int, ...]:
    return (0, w // 2) if w % 2 == 0 and w > 1 else (0,)


def _negated(a: jax.Array) -> jax.Array:
    """a[(−k) mod H] along the last axis."""
    return jnp.roll(jnp.flip(a, axis=-1), 1, axis=-1)


def pack(variables: jax.Array) -> jax.Array:
    """Real (…, H, W) → the complex rfft2 spectrum (…, H, W//2 + 1) of a real image (see module)."""
    w = variables.shape[-1]
    n = w // 2 + 1
    real = variables[..., :n]
    pad = [(0, 0)] * (variables.ndim - 1)
    imag = jnp.pad(variables[..., n:], pad + [(1, n - 1 - (w - n))])
    for c in _self_conjugate_columns(w):
        a = variables[..., :, c]
        real = real.at[..., c].set((a + _negated(a)) / 2)
        imag = imag.at[..., c].set((a - _negated(a)) / 2)
    return jax.lax.complex(real, imag)


def unpack(spectrum: jax.Array, w: int) -> jax.Array:
    """The inverse of `pack` on the spectrum of a real image: (…, H, W//2 + 1) → (…, H, W)."""
    n = w // 2 + 1
    real, imag = jnp.real(spectrum), jnp.imag(spectrum)
    variables = jnp.concatenate([real, imag[..., 1:1 + w - n]], axis=-1)
    for c in _self_conjugate_columns(w):
        variables = variables.at[..., c].set(real[..., c] + imag[..., c])
    return variables


def _to_images(channels: jax.Array, h: int, w: int) -> jax.Array:
    """irfft2 (orthonormal) of (R, C, H, W//2+1) → images (R, H, W, C)."""
    return jnp.moveaxis(jnp.fft.irfft2(channels, s=(h, w), norm="ortho"), -3, -1).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class Fourier:
    """x = irfft2(a(f) · Z): a learned spectrum scaled by 1/f^d (see the module).

    Attributes:
      decay: d, the exponent of the scale (1: each octave's coefficients damped by 2).
      init_std: the start's Z ~ N(0, init_std²) (a grey picture with faint low frequencies).
    """

    decay: float = 1.0
    init_std: float = 0.01

    def variable_shape(self, image_shape: tuple[int, int, int], copies: int) -> tuple[int, ...]:
        """(R, C, H, W): Z, each channel's packed real spectrum."""
        h, w, c = image_shape
        return (copies, c, h, w)

    def init(self, key: jax.Array, image_shape: tuple[int, int, int], copies: int) -> jax.Array:
        """Z ~ N(0, init_std²)."""
        return self.init_std * jax.random.normal(key, self.variable_shape(image_shape, copies), jnp.float32)

    def image(self, variables: jax.Array, *, key: jax.Array | None = None,
              active: jax.Array | bool = True) -> jax.Array:
        """x = irfft2(a(f) · pack(Z)), orthonormal: the R images (R, H, W, C)."""
        del key, active
        h, w = variables.shape[-2:]
        scale = jnp.asarray(spectrum_scale(h, w, self.decay), jnp.float32)
        return _to_images(pack(variables) * scale, h, w)

    def pixels(self, variables: jax.Array) -> jax.Array:
        """The images x themselves: regularisers measure pixels, not the spectrum."""
        return self.image(variables)

    def project(self, variables: jax.Array) -> jax.Array:
        """The identity: the spectrum is unconstrained."""
        return variables

    def variables_for(self, images: jax.Array) -> jax.Array:
        """Z with image(Z) = ``images`` (R, H, W, C): unpack(rfft2(x) / a(f))."""
        h, w = images.shape[-3:-1]
        spectrum = jnp.fft.rfft2(jnp.moveaxis(jnp.asarray(images, jnp.float32), -1, -3), norm="ortho")
        return unpack(spectrum / jnp.asarray(spectrum_scale(h, w, self.decay), jnp.float32), w).astype(jnp.float32)


def natural_amplitude(h: int, w: int, profile: tuple[tuple[float, ...], ...], size: int) -> np.ndarray:
    """A(f) on the (C, H, W//2+1) rfft2 grid: each channel's radial profile (rings |f| = k/size)
    interpolated linearly at |f|, float32."""
    magnitudes = frequency_magnitudes(h, w)
    rings = np.arange(len(profile[0])) / float(size)
    return np.stack([np.interp(magnitudes, rings, np.asarray(p)) for p in profile]).astype(np.float32)


def _natural_profile() -> tuple[tuple[float, ...], ...]:
    return natural_statistics().amplitude_profile


def _natural_size() -> int:
    return natural_statistics().amplitude_size


@dataclasses.dataclass(frozen=True)
class Maco:
    """x = irfft2(A(f) · Z/|Z|), DC free: only the phase is optimised (see the module).

    Attributes:
      profile: A's radial profile per channel (natural pictures' by default).
      size: the grid side the profile's rings are counted on (k/size cycles per pixel).
      eps: keeps Z/|Z| finite at Z = 0 (|Z|² + eps under the root).
    """

    profile: tuple[tuple[float, ...], ...] = dataclasses.field(default_factory=_natural_profile)
    size: int = dataclasses.field(default_factory=_natural_size)
    eps: float = 1e-12

    def variable_shape(self, image_shape: tuple[int, int, int], copies: int) -> tuple[int, ...]:
        """(R, C, H, W): Z, each channel's packed spectrum, whose phase Z/|Z| is used."""
        h, w, c = image_shape
        return (copies, c, h, w)

    def init(self, key: jax.Array, image_shape: tuple[int, int, int], copies: int) -> jax.Array:
        """Random phases (Z ~ N(0, I)) and a zero DC: the mean is the colour stage's."""
        z = jax.random.normal(key, self.variable_shape(image_shape, copies), jnp.float32)
        return z.at[..., 0, 0].set(0.0)

    def amplitude(self, h: int, w: int, channels: int) -> np.ndarray:
        """A on the (C, H, W//2+1) grid, with the DC entry 0 (the DC is free)."""
        if len(self.profile) != channels:
            from jaxinv.errors import JaxinvError
            raise JaxinvError(f"Maco has an amplitude profile for {len(self.profile)} channels, the images"
                              f" {channels}; pass profile= with one row per channel")
        amplitude = natural_amplitude(h, w, self.profile, self.size)
        amplitude[:, 0, 0] = 0.0
        return amplitude

    def image(self, variables: jax.Array, *, key: jax.Array | None = None,
              active: jax.Array | bool = True) -> jax.Array:
        """x = irfft2(A(f) · Z/|Z| + √(HW) · DC), orthonormal: the R images (R, H, W, C)."""
        del key, active
        c, h, w = variables.shape[-3:]
        z = pack(variables)
        phase = z * jax.lax.rsqrt(jnp.real(z) ** 2 + jnp.imag(z) ** 2 + self.eps)
        spectrum = jnp.asarray(self.amplitude(h, w, c)) * phase
        dc = np.zeros((h, w // 2 + 1), np.float32)
        dc[0, 0] = np.sqrt(h * w)
        spectrum = spectrum + jnp.asarray(dc) * variables[..., :1, :1]
        return _to_images(spectrum, h, w)

    def pixels(self, variables: jax.Array) -> jax.Array:
        """The images x themselves: regularisers measure pixels, not the phase."""
        return self.image(variables)

    def project(self, variables: jax.Array) -> jax.Array:
        """The identity: the phase is unconstrained (Z/|Z| normalises it)."""
        return variables
