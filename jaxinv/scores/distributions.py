"""Distances between two sets of features: KID (unbiased MMD², polynomial kernel) and Fréchet.

Both compare the distribution of a judge network's features of one set of pictures (the
reconstructions, the visualisations) with that of another (the reference pictures). A set is an
array (N, ...) of N pictures' features; the trailing axes are flattened to D values.

- `kid` (Bińkowski et al. 2018) is unbiased at any set size, so it suits the small sets jaxinv
  makes (tens to hundreds of pictures); pure `jax.numpy`, jit- and vmap-friendly.
- `frechet_distance` (Heusel et al. 2017) is biased at small N (its expected value falls with N
  and depends on the judge); it is for larger sets, and is computed on the host in float64.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from jaxinv.errors import JaxinvError

__all__ = ["KIDScore", "frechet_distance", "kid", "mmd2_unbiased", "polynomial_kernel"]

#: The subset size `kid` uses when none is given, as the papers and torch-fidelity do (capped at the sets' sizes).
KID_SUBSET_SIZE = 1000


class KIDScore(NamedTuple):
    """KID of two sets: the mean of the subsets' unbiased MMD² and its standard error.

    Attributes:
      mean: (1/S) Σ_s MMD²_u(X_s, Y_s) over the S subsets.
      standard_error: the subsets' sample standard deviation (n − 1) divided by √S. The spread of
        one subset's estimate (what torch-fidelity calls ``kid_std``) is ``standard_error · √S``.
    """

    mean: jax.Array
    standard_error: jax.Array


def _as_set(features: npt.ArrayLike | jax.Array, name: str) -> jax.Array:
    """``features`` (N, ...) as a float (N, D) array, at least float32."""
    a = jnp.asarray(features)
    if a.ndim < 2:
        raise JaxinvError(f"{name} has shape {a.shape}; pass a set of features (N, D): one row per picture")
    a = a.reshape(a.shape[0], -1)
    return a.astype(jnp.promote_types(a.dtype, jnp.float32))


def _same_width(x: jax.Array, y: jax.Array) -> None:
    if x.shape[1] != y.shape[1]:
        raise JaxinvError(f"the sets have {x.shape[1]} and {y.shape[1]} features per picture; compare features"
                          " of one judge layer")


def polynomial_kernel(features_x: npt.ArrayLike | jax.Array, features_y: npt.ArrayLike | jax.Array, *,
                      degree: int = 3, gamma: float | None = None, coef: float = 1.0) -> jax.Array:
    """The polynomial kernel matrix k(x_i, y_j) = (γ ⟨x_i, y_j⟩ + c)^d, shape (N, M).

    With the defaults (d = 3, γ = 1/D, c = 1) it is the kernel of the Kernel Inception Distance
    (Bińkowski et al. 2018, §4), which compares the distributions' moments up to the third.

    Args:
      features_x, features_y: sets (N, ...) and (M, ...) of features, flattened to D values each.
      degree: d.
      gamma: γ, None for 1/D.
      coef: c.
    """
    x, y = _as_set(features_x, "features_x"), _as_set(features_y, "features_y")
    _same_width(x, y)
    g = 1.0 / x.shape[1] if gamma is None else gamma
    inner = jnp.matmul(x, y.T, precision=jax.lax.Precision.HIGHEST)
    return (g * inner + coef) ** degree


def mmd2_unbiased(features_x: npt.ArrayLike | jax.Array, features_y: npt.ArrayLike | jax.Array, *,
                  degree: int = 3, gamma: float | None = None, coef: float = 1.0) -> jax.Array:
    """The unbiased estimator of the squared MMD between two sets, with `polynomial_kernel`.

    MMD²_u = 1/(N(N−1)) Σ_{i≠j} k(x_i, x_j) + 1/(M(M−1)) Σ_{i≠j} k(y_i, y_j)
    − 2/(NM) Σ_{i,j} k(x_i, y_j)

    (Gretton et al. 2012, "A kernel two-sample test", JMLR, Lemma 6; Bińkowski et al. 2018, eq. 2).
    Its expectation is the population MMD², 0 when both sets come from one distribution, so one
    estimate may be negative. Each set needs at least 2 rows.

    Args:
      features_x, features_y: sets (N, ...) and (M, ...) of features, flattened to D values each.
      degree, gamma, coef: the kernel's (`polynomial_kernel`).
    """
    x, y = _as_set(features_x, "features_x"), _as_set(features_y, "features_y")
    n, m = x.shape[0], y.shape[0]
    if min(n, m) < 2:
        raise JaxinvError(f"the unbiased MMD² needs at least 2 pictures in each set, got {n} and {m}; pass larger sets")
    kxx, kyy, kxy = (polynomial_kernel(a, b, degree=degree, gamma=gamma, coef=coef)
                     for a, b in ((x, x), (y, y), (x, y)))
    within_x = (jnp.sum(kxx) - jnp.trace(kxx)) / (n * (n - 1))
    within_y = (jnp.sum(kyy) - jnp.trace(kyy)) / (m * (m - 1))
    return within_x + within_y - 2.0 * jnp.mean(kxy)


def _subset_size(n: int, m: int, subset_size: int | None, subsets: int) -> int:
    size = min(n, m, KID_SUBSET_SIZE) if subset_size is None else int(subset_size)
    if size < 2:
        raise JaxinvError(f"KID needs subsets of at least 2 pictures (subset_size = {size}, sets of {n} and {m});"
                          " pass larger sets or subset_size >= 2")
    if size > min(n, m):
        raise JaxinvError(f"subset_size = {size} is larger than the sets ({n} and {m} pictures); pass"
                          f" subset_size <= {min(n, m)}")
    if subsets < 2:
        raise JaxinvError(f"KID's standard error needs at least 2 subsets, got subsets = {subsets}; pass subsets >= 2")
    return size


def kid(features_x: npt.ArrayLike | jax.Array, features_y: npt.ArrayLike | jax.Array, *, key: jax.Array,
        subsets: int = 100, subset_size: int | None = None, degree: int = 3, gamma: float | None = None,
        coef: float = 1.0) -> KIDScore:
    """Kernel Inception Distance: the mean of `mmd2_unbiased` over random subsets, and its standard error.

    KID = (1/S) Σ_s MMD²_u(X_s, Y_s), where X_s and Y_s are ``subset_size`` rows drawn without
    replacement from each set, afresh for each of the S = ``subsets`` subsets, with the cubic
    polynomial kernel k(x, y) = (⟨x, y⟩/D + 1)³ (Bińkowski, Sutherland, Arbel & Gretton,
    "Demystifying MMD GANs", ICLR 2018, §4). Unbiased: of two sets of one distribution it
    averages 0 (one value may be slightly negative), whatever their size; papers often print
    it × 1000.

    The draws are reproducible: subset s takes rows ``permutation(k_x, N)[:subset_size]`` of X and
    ``permutation(k_y, M)[:subset_size]`` of Y, with ``(k_x, k_y) = jax.random.split(k_s)`` and
    ``k_s = jax.random.split(key, subsets)[s]``. The standard error is that of the subsets'
    mean, std/√S: it measures how much the draw of subsets moves the result, not how much a new
    sample of pictures would (that is about the std, ``standard_error · √S``).

    jit with ``static_argnames=("subsets", "subset_size", "degree")``; vmap over ``key`` (or over
    stacked sets). The subsets are computed one after another (`jax.lax.map`), so memory holds
    three subset_size² kernel matrices, not S of them.

    Args:
      features_x, features_y: the two sets, (N, ...) and (M, ...), flattened to D values each.
      key: the `jax.random` key of the subsets' draws.
      subsets: S >= 2.
      subset_size: rows per subset, 2 <= subset_size <= min(N, M); None for min(N, M, 1000).
      degree, gamma, coef: the kernel's (`polynomial_kernel`).

    Returns:
      `KIDScore` (mean, standard_error), two scalars.
    """
    x, y = _as_set(features_x, "features_x"), _as_set(features_y, "features_y")
    _same_width(x, y)
    n, m = x.shape[0], y.shape[0]
    size = _subset_size(n, m, subset_size, subsets)

    def one(k: jax.Array) -> jax.Array:
        kx, ky = jax.random.split(k)
        rows_x = jax.random.permutation(kx, n)[:size]
        rows_y = jax.random.permutation(ky, m)[:size]
        return mmd2_unbiased(x[rows_x], y[rows_y], degree=degree, gamma=gamma, coef=coef)

    values = jax.lax.map(one, jax.random.split(key, subsets))
    return KIDScore(jnp.mean(values), jnp.std(values, ddof=1) / np.sqrt(subsets))


def _host_set(features: npt.ArrayLike | jax.Array, name: str) -> np.ndarray:
    a = np.asarray(features, np.float64)
    if a.ndim < 2:
        raise JaxinvError(f"{name} has shape {a.shape}; pass a set of features (N, D): one row per picture")
    a = a.reshape(a.shape[0], -1)
    if a.shape[0] < 2:
        raise JaxinvError(f"{name} has {a.shape[0]} picture(s); the Fréchet distance needs a covariance, so at"
                          " least 2 (and many more than the D features for a full-rank one); pass a larger set")
    if not np.all(np.isfinite(a)):
        raise JaxinvError(f"{name} holds NaN or infinite values; compute the features of finite pictures")
    return a


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (eigenvalues < 0 clipped)."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(features_x: npt.ArrayLike | jax.Array, features_y: npt.ArrayLike | jax.Array) -> float:
    """The Fréchet distance between Gaussians fitted to two sets of features (FID's formula).

    d² = ‖μ_x − μ_y‖² + Tr(Σ_x + Σ_y − 2 (Σ_x Σ_y)^{1/2})

    with μ the means and Σ the covariances (n − 1) of the sets (Dowson & Landau 1982; Heusel et
    al., "GANs trained by a two time-scale update rule converge to a local Nash equilibrium",
    NeurIPS 2017, where the features are Inception's pool3 and d² is the FID).

    Computed on the host in float64 numpy, through two symmetric eigendecompositions, no
    general matrix square root: Tr (Σ_x Σ_y)^{1/2} = Σ_i √λ_i with λ_i the eigenvalues of
    Σ_x^{1/2} Σ_y Σ_x^{1/2} (symmetric, positive semi-definite, and with the eigenvalues of
    Σ_x Σ_y), rounding negatives clipped to 0; the result is clipped at 0 likewise. This route
    needs no regularisation of singular covariances (scipy's ``sqrtm`` may return complex
    values). It is not jit-able; use `kid` inside a jitted program.

    Each set needs at least 2 pictures. With N <= D pictures the covariance is singular and the
    distance, though finite, is strongly biased (it falls as N grows): compare only values of one
    judge layer and one set size, and prefer `kid` for sets of hundreds.

    Args:
      features_x, features_y: the two sets, (N, ...) and (M, ...), flattened to D values each.

    Returns:
      d², a float >= 0.
    """
    x, y = _host_set(features_x, "features_x"), _host_set(features_y, "features_y")
    if x.shape[1] != y.shape[1]:
        raise JaxinvError(f"the sets have {x.shape[1]} and {y.shape[1]} features per picture; compare features"
                          " of one judge layer")
    mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
    cov_x, cov_y = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    root_x = _psd_sqrt(cov_x)
    middle = root_x @ cov_y @ root_x
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2.0)
    trace_root = float(np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None))))
    distance = float(np.sum((mean_x - mean_y) ** 2) + np.trace(cov_x) + np.trace(cov_y) - 2.0 * trace_root)
    return max(distance, 0.0)
