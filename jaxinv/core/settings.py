"""The papers' settings: σ, λ_α, and the CVPR 2015 and IJCV 2016 objectives as configurations.

CVPR 2015 (Mahendran & Vedaldi, METHOD.md §1.2), in the paper's units. With the
normalised image u = x/σ (x in the representation's input space)::

    E(u) = Σ‖M ⊙ (Φ(σu) − Φ0)‖² / Z  +  λ_α Σ u^α  +  λ_V Σ_{c,i,j} (d_x² + d_y²)^(β/2)

where d are forward differences with a zero difference on the last row and column, taken
per colour channel, and Z = R‖M ⊙ Φ0‖² for R jointly optimised copies.

The authors' code writes the same energy on x with a factor ½ and σ-scaled weights;
`paper_lambdas_from_code` converts its table (λ_TV, λ_L) to these units::

    λ_V = (λ_TV / 2) σ^(β−2),     λ_α = (λ_L / 2) σ^(α−2)

so λ_TV = 1 / 10 / 100 become λ_V = 0.5 / 5 / 50 and λ_L = 8e-10 becomes λ_α ≈ 2.157e8.

IJCV 2016 ("Visualizing deep CNNs using natural pre-images", METHOD.md §2.3), on x::

    C ‖M ⊙ (Φ(x) − Φ0)‖² / ‖M ⊙ Φ0‖²  +  (1/HW) Σ_p (‖x_p‖ / B)^α
                                       +  (1/HW) Σ_{c,p} ((d_x² + d_y²) / V²)^(β/2)

with ‖x_p‖ the norm of pixel p's colour vector, B = 80 and V = B/6.5. The terms' maths is
`jaxinv.core.norms`; `jaxinv.core.presets` turns these settings into objectives.
"""

from __future__ import annotations

import dataclasses

from jaxinv.errors import JaxinvError

__all__ = ["SIGMA", "LAMBDA_ALPHA", "CODE_LAMBDA_L", "PaperObjective", "IJCVObjective", "paper_lambdas_from_code"]

#: σ of the authors' `x0_sigma.mat`: the mean Euclidean norm of (mean-subtracted) natural images.
SIGMA = 27098.11571533
#: The code's α-norm weight λ_L = 8e-10.
CODE_LAMBDA_L = 8e-10


def paper_lambdas_from_code(lambda_tv: float, *, lambda_l: float = CODE_LAMBDA_L,
                            sigma: float = SIGMA, alpha: float = 6.0,
                            beta: float = 2.0) -> tuple[float, float]:
    """Convert the code's (λ_TV, λ_L) to the paper's (λ_V, λ_α) on u = x/σ (METHOD.md §1.2)."""
    return (lambda_tv / 2) * sigma ** (beta - 2), (lambda_l / 2) * sigma ** (alpha - 2)


#: The paper's λ_α = (8e-10 / 2) σ⁴ ≈ 2.157e8.
LAMBDA_ALPHA = paper_lambdas_from_code(1.0)[1]


def _check_nonnegative(**values: float) -> None:
    for name, value in values.items():
        if not 0 <= value < float("inf"):  # also catches NaN
            raise JaxinvError(f"{name} = {value} is negative or not finite; use a finite weight >= 0"
                              " (0 disables the term)")


@dataclasses.dataclass(frozen=True)
class PaperObjective:
    """The CVPR 2015 objective in the paper's units (module docstring).

    Attributes:
      lambda_tv: λ_V, the TV^β weight on u = x/σ (0.5 / 5 / 50 by CaffeNet layer group).
      lambda_alpha: λ_α, the α-norm weight on u (2.157e8 in the paper).
      alpha: the α-norm exponent (6).
      beta: the TV exponent (2).
      sigma: σ, the image normaliser (27098.11571533).
      size_weight: weigh the data term by min(1, HWC / (227·227·3)) and shrink the random
        start alike (`jaxinv.core.presets.size_weight`), a deliberate deviation that
        keeps the paper's step sizes stable on inputs smaller than the paper's; False is the
        paper at every size.
    """

    lambda_tv: float = 0.5
    lambda_alpha: float = LAMBDA_ALPHA
    alpha: float = 6.0
    beta: float = 2.0
    sigma: float = SIGMA
    size_weight: bool = True

    def __post_init__(self) -> None:
        _check_nonnegative(lambda_tv=self.lambda_tv, lambda_alpha=self.lambda_alpha)
        if not self.sigma > 0:
            raise JaxinvError(f"sigma = {self.sigma} must be positive; the paper uses {SIGMA}")
        if not (self.alpha >= 1 and self.beta >= 1):
            raise JaxinvError(f"alpha = {self.alpha}, beta = {self.beta}: both exponents must be >= 1")


@dataclasses.dataclass(frozen=True)
class IJCVObjective:
    """The IJCV 2016 objective, constraint and jitter (METHOD.md §2.3).

    Attributes:
      data_weight: C, the weight of the normalised data term (swept over 1, 20, 100, 300).
      bound: B, the typical pixel-vector norm of the bounded-range α-norm (80).
      tv_scale: V, the TV normaliser; None means B / 6.5.
      bound_plus: B+, each pixel's colour vector is projected into this ball after every
        step (160).
      alpha, beta: exponents (6, 2).
      jitter: J, the random translation range; None means max(round(stride/4), 1) from the
        representation's receptive-field stride.
    """

    data_weight: float = 1.0
    bound: float = 80.0
    tv_scale: float | None = None
    bound_plus: float = 160.0
    alpha: float = 6.0
    beta: float = 2.0
    jitter: int | None = None

    def __post_init__(self) -> None:
        _check_nonnegative(data_weight=self.data_weight)
        if not (self.bound > 0 and self.bound_plus > 0):
            raise JaxinvError("bound and bound_plus must be positive; the IJCV code uses 80 and 160")
        if self.jitter is not None and self.jitter < 1:
            raise JaxinvError(f"jitter = {self.jitter}; use a jitter of at least 1 (1 = none)")

    @property
    def v(self) -> float:
        """V, the TV term's scale: ``tv_scale``, or B/6.5 by default (the authors' code)."""
        return self.bound / 6.5 if self.tv_scale is None else self.tv_scale

    def jitter_for(self, stride: int) -> int:
        """J = max(round(stride / 4), 1) unless set explicitly."""
        if self.jitter is not None:
            return self.jitter
        return max(int(round(stride / 4)), 1)
