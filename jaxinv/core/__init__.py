"""The pure core: terms that compose into objectives, parametrisations, staged optax
optimisers, and a solver of one problem that `jax.jit`, `jax.vmap`, `jax.grad` and sharding
transform. Knows nothing of files, progress bars or the host's batching (`jaxinv.inversion`).
"""

from jaxinv.core.parametrisations import BallPixels, ScaledPixels
from jaxinv.core.presets import Preset, ijcv, ijcv_preset, paper, paper_preset
from jaxinv.core.solver import Solver, SolverState
from jaxinv.core.stages import ijcv_adagrad_momentum, paper_momentum, staged
from jaxinv.core.terms import (AlphaNorm, BoundedAlphaNorm, BoundedTotalVariation, InnerProduct, L2ToPicture,
                               NormalisedData, Objective, Term, TermInputs, TotalVariation)

__all__ = [
    "AlphaNorm",
    "BallPixels",
    "BoundedAlphaNorm",
    "BoundedTotalVariation",
    "InnerProduct",
    "L2ToPicture",
    "NormalisedData",
    "Objective",
    "Preset",
    "ScaledPixels",
    "Solver",
    "SolverState",
    "Term",
    "TermInputs",
    "TotalVariation",
    "ijcv",
    "ijcv_adagrad_momentum",
    "ijcv_preset",
    "paper",
    "paper_momentum",
    "paper_preset",
    "staged",
]
