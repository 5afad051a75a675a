"""Scores of pictures made by inversion or visualisation: one definition of each measure.

Every function here says what it computes, with its formula and the paper it comes from.

- **Inversion** (the reconstruction against its original), defined in `jaxinv.metrics` and
  re-exported: `normalized_error`, `ijcv_error`, `paper_printed_errors`, `paper_script_errors`,
  `psnr`, `ssim`, `pairwise_spread`.
- **Distributions** of a judge's features (`jaxinv.scores.distributions`): `kid` (unbiased MMD²
  with the cubic polynomial kernel, and its standard error over subsets; Bińkowski et al. 2018)
  and `frechet_distance` (Heusel et al. 2017, for larger sets).
- **A judge's verdicts** (`jaxinv.scores.judging`): `transferability` (a judge network's top-k;
  Fel et al. 2023), `plausibility` (cosine similarity to a reference set in a judge's layer) and
  `activation_path` (the similarity layer by layer, as a curve and its mean; Geirhos et al. 2023).
- **The host side** (`jaxinv.scores.host`): `judge_features` and `path_features` compute a judge's
  features of pictures; `reference_pictures` reads a reference set (default: the shared 100
  ImageNet pictures, `reference_folder`).
- **One call** (`jaxinv.scores.run`): `score_pictures` and `score_result` give a judge's scores of
  a run's pictures (or a result in memory) as a dict of plain numbers with their definitions,
  what ``jaxinv score`` writes into a run's ``summary.json``.

The measures on feature arrays are pure `jax.numpy` (jit- and vmap-friendly) except
`frechet_distance` (float64 numpy on the host) and the re-exported inversion measures (numpy and
scikit-image). Every random choice takes a `jax.random` key named ``key``; bad input raises a
one-line `jaxinv.errors.JaxinvError`.
"""

from jaxinv.metrics import (
    ijcv_error,
    normalized_error,
    pairwise_spread,
    paper_printed_errors,
    paper_script_errors,
    psnr,
    ssim,
)
from jaxinv.scores.distributions import (
    KIDScore,
    frechet_distance,
    kid,
    mmd2_unbiased,
    polynomial_kernel,
)
from jaxinv.scores.host import (
    PICTURE_SUFFIXES,
    REFERENCE_ENV,
    judge_features,
    path_features,
    reference_folder,
    reference_pictures,
)
from jaxinv.scores.judging import (
    PathScore,
    activation_path,
    plausibility,
    top_k_classes,
    top_k_hits,
    transferability,
)
from jaxinv.scores.run import (
    KID_SUBSETS,
    SCORE_DEFINITIONS,
    class_layer,
    class_of_label,
    score_pictures,
    score_result,
)

__all__ = [
    "KID_SUBSETS",
    "PICTURE_SUFFIXES",
    "REFERENCE_ENV",
    "SCORE_DEFINITIONS",
    "KIDScore",
    "PathScore",
    "activation_path",
    "class_layer",
    "class_of_label",
    "frechet_distance",
    "ijcv_error",
    "judge_features",
    "kid",
    "mmd2_unbiased",
    "normalized_error",
    "pairwise_spread",
    "paper_printed_errors",
    "paper_script_errors",
    "path_features",
    "plausibility",
    "polynomial_kernel",
    "psnr",
    "reference_folder",
    "reference_pictures",
    "score_pictures",
    "score_result",
    "ssim",
    "top_k_classes",
    "top_k_hits",
    "transferability",
]
