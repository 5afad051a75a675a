"""Decorrelated colour: images made in a whitened colour space, mixed into RGB by natural statistics.

Natural pictures' colour channels are strongly correlated (mostly brightness). A
parametrisation that makes its values ``t`` in a whitened space and maps them to RGB by

    p = μ + S t,        S = Σ^{1/2} (the symmetric square root),

with μ and Σ the mean and covariance of natural pictures' RGB pixels in [0, 255], moves
brightness and colour at rates matched to how much natural pictures vary in each (Olah et
al., "Feature Visualization", Distill 2017, §"Preconditioning"). Its inverse ``t = S⁻¹(p − μ)``
whitens natural colours: cov(t) ≈ I on pictures the statistics were not computed from.

μ, Σ and S (and MACO's mean amplitude spectrum, `jaxinv.core.fourier.Maco`) are computed by
``scripts/natural_statistics.py`` from the first 50 pictures of ``../shared/data/imagenet100``
in file-name order and read from ``jaxinv/data/natural_statistics.json``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import json
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.core.pointwise import Pointwise

__all__ = ["NaturalStatistics", "natural_statistics", "colour_moments", "DecorrelatedColour"]

STATISTICS_FILE = "natural_statistics.json"


class NaturalStatistics(NamedTuple):
    """What ``scripts/natural_statistics.py`` measured, as hashable tuples.

    Attributes:
      colour_mean: μ, the mean RGB colour in [0, 255].
      colour_covariance: Σ (3 × 3), [0, 255]² units.
      colour_sqrt_covariance: S = Σ^{1/2}, symmetric.
      amplitude_size: N, the side of the square grid the amplitude was measured on.
      amplitude_profile: per whitened channel (3), the mean amplitude |X(f)| of the
        orthonormal DFT of the whitened pictures, averaged over rings |f| = k/N, k = 0, 1, …
    """

    colour_mean: tuple[float, ...]
    colour_covariance: tuple[tuple[float, ...], ...]
    colour_sqrt_covariance: tuple[tuple[float, ...], ...]
    amplitude_size: int
    amplitude_profile: tuple[tuple[float, ...], ...]


@functools.lru_cache(maxsize=None)
def natural_statistics() -> NaturalStatistics:
    """The stored statistics (``jaxinv/data/natural_statistics.json``), read once."""
    text = importlib.resources.files("jaxinv").joinpath("data", STATISTICS_FILE).read_text()
    data = json.loads(text)

    def rows(value: Any) -> tuple[tuple[float, ...], ...]:
        return tuple(tuple(float(v) for v in row) for row in value)

    return NaturalStatistics(
        colour_mean=tuple(float(v) for v in data["colour_mean"]),
        colour_covariance=rows(data["colour_covariance"]),
        colour_sqrt_covariance=rows(data["colour_sqrt_covariance"]),
        amplitude_size=int(data["amplitude"]["size"]),
        amplitude_profile=rows(data["amplitude"]["profile"]),
    )


def colour_moments(pictures: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(μ, Σ) of RGB pixels, every picture weighing the same whatever its size (float64).

    μ = (1/n) Σ_i mean_pixels(p_i);  Σ = (1/n) Σ_i mean_pixels((p_i − μ)(p_i − μ)ᵀ).
    The statistic the script stores and the whitening test checks.
    """
    means = np.stack([np.asarray(p, np.float64).reshape(-1, 3).mean(axis=0) for p in pictures])
    mean = means.mean(axis=0)
    second = []
    for p in pictures:
        centred = np.asarray(p, np.float64).reshape(-1, 3) - mean
        second.append(centred.T @ centred / len(centred))
    return mean, np.mean(second, axis=0)


def symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Σ^{1/2} of a symmetric positive-definite matrix, by its eigen-decomposition."""
    values, vectors = np.linalg.eigh(np.asarray(matrix, np.float64))
    return (vectors * np.sqrt(values)) @ vectors.T


def _default_mean() -> tuple[float, ...]:
    return natural_statistics().colour_mean


def _default_sqrt_covariance() -> tuple[tuple[float, ...], ...]:
    return natural_statistics().colour_sqrt_covariance


@dataclasses.dataclass(frozen=True)
class DecorrelatedColour(Pointwise):
    """p = μ + S t: the inner parametrisation's 3-channel values t mapped to RGB in [0, 255].

    Attributes:
      inner: any parametrisation whose images have 3 channels (`Fourier`, `Maco`, or
        ``ScaledPixels(sigma=1.0)`` for plain pixels in the whitened space). Regularisers
        see the RGB picture ([0, 255] units).
      mean: μ (natural pictures' mean colour by default).
      sqrt_covariance: S = Σ^{1/2} (natural pictures' by default).
    """

    inner: Any
    mean: tuple[float, ...] = dataclasses.field(default_factory=_default_mean)
    sqrt_covariance: tuple[tuple[float, ...], ...] = dataclasses.field(default_factory=_default_sqrt_covariance)

    def mix(self, values: jax.Array) -> jax.Array:
        """μ + S t on the last axis (t: (..., 3)); float32."""
        matrix = jnp.asarray(self.sqrt_covariance, jnp.float32)
        return values @ matrix.T + jnp.asarray(self.mean, jnp.float32)

    def unmix(self, pictures: jax.Array) -> jax.Array:
        """t = S⁻¹(p − μ): the whitening of RGB pictures (the inverse of `mix`)."""
        inverse = np.linalg.inv(np.asarray(self.sqrt_covariance, np.float64)).astype(np.float32)
        return (jnp.asarray(pictures, jnp.float32) - jnp.asarray(self.mean, jnp.float32)) @ inverse.T

    def forward(self, values: jax.Array) -> jax.Array:
        """`mix`: the decorrelated values t to RGB, μ + S t."""
        return self.mix(values)

    def backward(self, values: jax.Array) -> jax.Array:
        """`unmix`: RGB to the decorrelated values, S⁻¹(p − μ)."""
        return self.unmix(values)
