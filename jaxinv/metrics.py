"""Reconstruction errors (METHOD.md §4).

Three feature-space errors that must not be mixed (METHOD.md pitfall 9), and image-space
PSNR / SSIM through scikit-image:

- `normalized_error`: ‖Φ(x*) − Φ0‖² / ‖Φ0‖², what the optimiser minimises (``res.err``).
- `paper_printed_errors`: the metric the CVPR paper's tables print, ‖Φ(x*_i) − Φ0_i‖ / N₁
  with N₁ = `mean_pairwise_distance`, the mean Euclidean distance ‖Φ0_i − Φ0_j‖ between the
  reference codes of the image set over all ordered pairs, diagonal included.
- `paper_script_errors`: what the authors' script (`experiment_shallow_quantitative.m`)
  computes, both sides squared: ‖Φ(x*_i) − Φ0_i‖² / N₂ with N₂ =
  `mean_pairwise_sq_distance`. It is about the square of the printed one (docs/METRICS.md);
  `paper_errors` and `set_normaliser` are its former names.
- `ijcv_error`: √(‖Φ(x*) − Φ0‖² / ‖Φ0‖²), the IJCV relative error; `ijcv_summary` gives the
  mean and the 95% half-width 1.96·std/√n.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from jaxinv.errors import JaxinvError

__all__ = ["normalized_error", "ijcv_error", "mean_pairwise_distance", "mean_pairwise_sq_distance",
           "paper_printed_errors", "paper_script_errors", "set_normaliser", "paper_errors", "mean_std",
           "ijcv_summary", "psnr", "ssim", "pairwise_spread"]


def _flat(a: npt.ArrayLike) -> np.ndarray:
    return np.asarray(a, np.float64).ravel()


def normalized_error(code: npt.ArrayLike, target: npt.ArrayLike) -> float:
    """‖Φ(x*) − Φ0‖² / ‖Φ0‖²."""
    c, t = _flat(code), _flat(target)
    if c.shape != t.shape:
        raise JaxinvError(f"code has {c.size} values but the target {t.size}; compare codes of one representation")
    return float(np.sum((c - t) ** 2) / max(np.sum(t ** 2), 1e-300))


def ijcv_error(code: npt.ArrayLike, target: npt.ArrayLike) -> float:
    """√(‖Φ(x*) − Φ0‖² / ‖Φ0‖²) (IJCV 2016, `exp_inversion.m`)."""
    return float(np.sqrt(normalized_error(code, target)))


def _padded(codes: Sequence) -> np.ndarray:
    flats = [_flat(c) for c in codes]
    length = max(f.size for f in flats)
    out = np.zeros((len(flats), length))
    for i, f in enumerate(flats):
        out[i, : f.size] = f
    return out


def _pairwise_sq_distances(targets: Sequence) -> np.ndarray:
    """‖a_i − a_j‖² for every ordered pair of the zero-padded codes, through the Gram matrix."""
    a = _padded(targets) if len(targets) else np.zeros((0, 0))
    if len(a) == 0:
        raise JaxinvError("the image set is empty; pass at least one reference code")
    sq = np.sum(a * a, axis=1)
    return np.maximum(sq[:, None] + sq[None, :] - 2.0 * (a @ a.T), 0.0)


def mean_pairwise_distance(targets: Sequence) -> float:
    """N₁ = mean of ‖Φ0_i − Φ0_j‖ over all n² ordered pairs (i, j), diagonal (zeros) included.

    Codes of different lengths (pictures of different sizes) are zero-padded to the longest,
    as the authors' script does. The normaliser of the paper's printed metric.
    """
    return float(np.mean(np.sqrt(_pairwise_sq_distances(targets))))


def mean_pairwise_sq_distance(targets: Sequence) -> float:
    """N₂ = mean of ‖Φ0_i − Φ0_j‖² over all n² ordered pairs, diagonal included, zero-padded.

    The normaliser of the authors' script. Computed in closed form,
    mean_ij ‖a_i − a_j‖² = 2·mean_i ‖a_i‖² − 2‖mean_i a_i‖², which needs no Gram matrix.
    """
    a = _padded(targets) if len(targets) else np.zeros((0, 0))
    if len(a) == 0:
        raise JaxinvError("the image set is empty; pass at least one reference code")
    return float(2 * np.mean(np.sum(a * a, axis=1)) - 2 * np.sum(a.mean(axis=0) ** 2))


def _code_distances(codes: Sequence, targets: Sequence) -> np.ndarray:
    if len(codes) != len(targets):
        raise JaxinvError(f"{len(codes)} codes for {len(targets)} targets; pass one code per target")
    return np.array([np.linalg.norm(_flat(c) - _flat(t)) for c, t in zip(codes, targets)])


def _checked(normaliser: float) -> float:
    if not normaliser > 0:
        raise JaxinvError("the set's reference codes are all equal (normaliser 0); the paper's metric"
                          " needs a set of at least two different pictures")
    return float(normaliser)


def paper_printed_errors(codes: Sequence, targets: Sequence, *, normaliser: float | None = None) -> np.ndarray:
    """e_i = ‖Φ(x*_i) − Φ0_i‖ / N₁, the metric the CVPR 2015 tables print (× 100 for percent).

    N₁ = `mean_pairwise_distance` of ``targets`` unless given. This unsquared ratio is what
    reproduces the printed Table 1 (docs/METRICS.md); the paper's text defines the error as
    ‖Φ(x) − Φ0‖ / N_Φ with N_Φ the average pairwise Euclidean distance of the codes.
    """
    d = _code_distances(codes, targets)
    return d / _checked(mean_pairwise_distance(targets) if normaliser is None else normaliser)


def paper_script_errors(codes: Sequence, targets: Sequence, *, normaliser: float | None = None) -> np.ndarray:
    """e_i = ‖Φ(x*_i) − Φ0_i‖² / N₂, the authors' script's metric, both sides squared.

    N₂ = `mean_pairwise_sq_distance` of ``targets`` unless given
    (`experiment_shallow_quantitative.m`; METHOD.md §4.2).
    """
    d = _code_distances(codes, targets)
    return d ** 2 / _checked(mean_pairwise_sq_distance(targets) if normaliser is None else normaliser)


#: Former names of the script's (squared) metric, kept for existing callers.
set_normaliser = mean_pairwise_sq_distance
paper_errors = paper_script_errors


def mean_std(values: npt.ArrayLike) -> tuple[float, float]:
    """Mean and sample standard deviation (n − 1, MATLAB's std)."""
    v = np.asarray(values, np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def ijcv_summary(values: npt.ArrayLike) -> tuple[float, float]:
    """Mean and 95% confidence half-width 1.96·std/√n (IJCV `table2.m`)."""
    v = np.asarray(values, np.float64)
    return float(v.mean()), float(1.96 * v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0


def psnr(reconstruction: npt.ArrayLike, reference: npt.ArrayLike, *, data_range: float = 255.0) -> float:
    """PSNR in dB of two [0, 255] pictures (scikit-image)."""
    from skimage.metrics import peak_signal_noise_ratio

    return float(peak_signal_noise_ratio(np.asarray(reference, np.float64),
                                         np.asarray(reconstruction, np.float64), data_range=data_range))


def ssim(reconstruction: npt.ArrayLike, reference: npt.ArrayLike, *, data_range: float = 255.0) -> float:
    """Mean SSIM of two [0, 255] pictures (H, W, C) (scikit-image, channel axis last)."""
    from skimage.metrics import structural_similarity

    a, b = np.asarray(reference, np.float64), np.asarray(reconstruction, np.float64)
    if a.ndim == 3 and a.shape[-1] == 1:
        a, b = a[..., 0], b[..., 0]
    win = min(7, min(a.shape[:2]) // 2 * 2 - 1) if min(a.shape[:2]) < 7 else 7
    if win < 3:
        raise JaxinvError(f"pictures of {a.shape[:2]} pixels are too small for SSIM; use at least 3x3")
    return float(structural_similarity(a, b, data_range=data_range, win_size=win,
                                       channel_axis=-1 if a.ndim == 3 else None))


def pairwise_spread(images: Sequence[npt.ArrayLike] | np.ndarray, reference: npt.ArrayLike) -> float:
    """Invariance measure: mean pairwise distance between reconstructions of one code,
    divided by the norm of the reference picture (0 = every seed gives the same image).
    """
    x = np.asarray(images, np.float64).reshape(len(images), -1)
    if len(x) < 2:
        raise JaxinvError("the spread needs at least two reconstructions; use seeds >= 2")
    sq = np.sum(x * x, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    iu = np.triu_indices(len(x), 1)
    return float(np.mean(np.sqrt(d2[iu])) / max(np.linalg.norm(np.asarray(reference, np.float64)), 1e-300))
