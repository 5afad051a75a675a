"""What the optimiser moves: a parametrisation of the images.

A parametrisation is any hashable object (a frozen dataclass: a static argument of
`jax.jit`) with the pure methods of the `Parametrisation` protocol. The two of the papers:
`ScaledPixels` (CVPR 2015, METHOD.md §2.1) and `BallPixels` (IJCV 2016, METHOD.md §2.3);
`SpectralPixels`, the paper's pixels moved through their 1/f-scaled spectrum (the ``fast``
prior: the same images and objective, a preconditioned path); the later priors' are in
`jaxinv.core.fourier`, `colour`, `output`, `transforms` and `generator`.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.core.fourier import Fourier
from jaxinv.core.protocol import Parametrisation
from jaxinv.core.transforms import Jitter
from jaxinv.core.settings import SIGMA
from jaxinv.core.norms import project_to_ball
__all__ = ["Parametrisation", "ScaledPixels", "SpectralPixels", "BallPixels"]


@dataclasses.dataclass(frozen=True)
class ScaledPixels:
    """x = σ u: the paper's normalised pixels; the regularisers see u.

    The start is u = s ξ/‖ξ‖ with ξ ~ N(0, I) over the whole block of R images, i.e. a picture
    of norm σ s (s = √c below the paper's input size, `jaxinv.core.presets.size_weight`).

    Attributes:
      sigma: σ, the mean norm of natural images (27098.11571533).
      start_norm: s, the start's norm in units of σ.
    """

    sigma: float = SIGMA
    start_norm: float = 1.0

    def variable_shape(self, image_shape: tuple[int, int, int], copies: int) -> tuple[int, ...]:
        """(R, H, W, C): u has the images' shape."""
        return (copies, *image_shape)

    def init(self, key: jax.Array, image_shape: tuple[int, int, int], copies: int) -> jax.Array:
        """u = s ξ/‖ξ‖, ξ ~ N(0, I) over the whole block of R images."""
        noise = jax.random.normal(key, self.variable_shape(image_shape, copies), jnp.float32)
        return noise * (self.start_norm / jnp.linalg.norm(noise.ravel()))

    def image(self, variables: jax.Array, *, key: jax.Array | None = None,
              active: jax.Array | bool = True) -> jax.Array:
        """x = σ u (no random view: ``key`` and ``active`` are unused)."""
        del key, active
        return variables * self.sigma

    def pixels(self, variables: jax.Array) -> jax.Array:
        """u itself, the normalised pixels the paper's regularisers measure."""
        return variables

    def project(self, variables: jax.Array) -> jax.Array:
        """The identity: the paper's u is unconstrained."""
        return variables


@dataclasses.dataclass(frozen=True)
class SpectralPixels:
    """The paper's u = x/σ, moved through its spectrum: u = irfft2(a(f) · Z) (`jaxinv.core.fourier.Fourier`).

    A change of variables only: the images, the start and every regulariser are `ScaledPixels`'
    (``pixels`` is u, the start is the same u for the same key, mapped to its Z, to float32
    rounding of the FFTs), so the objective is the same function of u. What changes is the optimiser's path: a
    gradient step on Z moves u's frequency f by a(f)² times as much as a step on u would, and
    Adam's per-coefficient step by a(f) (a(f) ∝ (f₀/|f|)^d): the low frequencies that TV^β
    leaves to the data term converge in far fewer steps (benchmarks/time_to_quality.py).

    Attributes:
      sigma: σ, as `ScaledPixels`.
      start_norm: s, as `ScaledPixels`.
      decay: d, the spectrum's exponent (`jaxinv.core.fourier.spectrum_scale`).
    """

    sigma: float = SIGMA
    start_norm: float = 1.0
    decay: float = 1.0

    def variable_shape(self, image_shape: tuple[int, int, int], copies: int) -> tuple[int, ...]:
        """(R, C, H, W): `Fourier`'s, each channel's packed spectrum."""
        return Fourier(decay=self.decay).variable_shape(image_shape, copies)

    def init(self, key: jax.Array, image_shape: tuple[int, int, int], copies: int) -> jax.Array:
        """The spectrum of `ScaledPixels`' start for ``key``."""
        start = ScaledPixels(sigma=self.sigma, start_norm=self.start_norm).init(key, image_shape, copies)
        return Fourier(decay=self.decay).variables_for(start)

    def image(self, variables: jax.Array, *, key: jax.Array | None = None,
              active: jax.Array | bool = True) -> jax.Array:
        """x = σ u (no random view)."""
        del key, active
        return self.pixels(variables) * self.sigma

    def pixels(self, variables: jax.Array) -> jax.Array:
        """u = irfft2(a(f) · Z), what the paper's regularisers measure."""
        return Fourier(decay=self.decay).image(variables)

    def project(self, variables: jax.Array) -> jax.Array:
        """The identity: u is unconstrained."""
        return variables


@dataclasses.dataclass(frozen=True)
class BallPixels:
    """IJCV's pixels: x itself, kept in the ball ‖x_p‖ ≤ B+, seen through a random crop.

    The variable is the picture padded by J − 1 pixels; each step the representation sees an
    H × W crop at an integer offset drawn from the step's key (jitter, one instance of
    `jaxinv.core.transforms.Jitter`), and without a key (or where the stage turns jitter off)
    the centre crop. The start is U[−1, 1] noise divided by
    its 95th percentile, times B/√3.

    Attributes:
      bound: B, the typical pixel-vector norm (80).
      bound_plus: B+, the radius each pixel's colour vector is projected into (160).
      jitter: J, the range of the random translation (1 = none).
    """

    bound: float = 80.0
    bound_plus: float = 160.0
    jitter: int = 1

    def variable_shape(self, image_shape: tuple[int, int, int], copies: int) -> tuple[int, ...]:
        """(R, H + J − 1, W + J − 1, C): the picture with the jitter's margin."""
        h, w, c = image_shape
        return (copies, h + self.jitter - 1, w + self.jitter - 1, c)

    def init(self, key: jax.Array, image_shape: tuple[int, int, int], copies: int) -> jax.Array:
        """U[−1, 1] noise over its 95th percentile, times B/√3."""
        noise = jax.random.uniform(key, self.variable_shape(image_shape, copies), jnp.float32, -1.0, 1.0)
        return noise / jnp.percentile(noise, 95) * (self.bound / np.sqrt(3.0))

    def image(self, variables: jax.Array, *, key: jax.Array | None = None,
              active: jax.Array | bool = True) -> jax.Array:
        """The H × W crop at the jitter's offset drawn from ``key`` (the centre without one)."""
        return Jitter(self.jitter)(variables, key=key, active=active)

    def pixels(self, variables: jax.Array) -> jax.Array:
        """x itself, margin included: IJCV's regularisers measure the whole variable."""
        return variables

    def project(self, variables: jax.Array) -> jax.Array:
        """Each pixel's colour vector into the ball ‖x_p‖ ≤ B+."""
        return project_to_ball(variables, self.bound_plus)
