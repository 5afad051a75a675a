"""The pure core: the papers' settings and terms that compose into objectives,
parametrisations, staged optax optimisers, presets, and the `Solver` of one problem that
`jax.jit`, `jax.vmap`, `jax.grad` and sharding transform.

It knows nothing of files, progress bars or the host's batching (`jaxinv.runner`), and
imports only itself and `jaxinv.errors`.
"""

from jaxinv.core.colour import DecorrelatedColour, natural_statistics
from jaxinv.core.fourier import Fourier, Maco
from jaxinv.core.generator import DeepImagePrior, SkipGenerator, noise_frozen
from jaxinv.core.output import Bounded, InputMap, ToInput, input_map
from jaxinv.core.parametrisations import BallPixels, Parametrisation, ScaledPixels, SpectralPixels
from jaxinv.core.presets import (FAST_SCHEDULES, OptimizerFactory, Preset, fast_preset, ijcv_preset, paper_preset,
                                 smooth_descent)
from jaxinv.core.priors import PRIOR_NAMES, default_schedule, fast_schedule, prior, prior_options, solver
from jaxinv.core.schedules import Schedule, Stage, resolve_schedule
from jaxinv.core.settings import LAMBDA_ALPHA, SIGMA, IJCVObjective, PaperObjective, paper_lambdas_from_code
from jaxinv.core.solver import Solver, SolverState, run_in_chunks
from jaxinv.core.stages import (adagrad_momentum, heavy_ball, ijcv_adagrad_momentum, paper_momentum, staged,
                                staged_tables)
from jaxinv.core.terms import (AlphaNorm, BoundedAlphaNorm, BoundedTotalVariation, InnerProduct, L2ToPicture,
                               NormalisedData, Objective, Term, TermInputs, TotalVariation)
from jaxinv.core.transforms import Jitter, Pad, Rotate, Scale, Transformed
from jaxinv.core.visualization import (Diversity, caricature_direction, caricature_preset, channel_direction,
                                       grid_spacing, maximization_from, maximization_preset, mosaic_direction,
                                       neuron_direction, start_from, unit_weight, vector_direction)

__all__ = [
    "AlphaNorm",
    "BallPixels",
    "Bounded",
    "BoundedAlphaNorm",
    "BoundedTotalVariation",
    "DecorrelatedColour",
    "DeepImagePrior",
    "Diversity",
    "FAST_SCHEDULES",
    "Fourier",
    "IJCVObjective",
    "InnerProduct",
    "InputMap",
    "Jitter",
    "L2ToPicture",
    "LAMBDA_ALPHA",
    "Maco",
    "NormalisedData",
    "Objective",
    "OptimizerFactory",
    "PRIOR_NAMES",
    "Pad",
    "PaperObjective",
    "Parametrisation",
    "Preset",
    "Rotate",
    "SIGMA",
    "Scale",
    "ScaledPixels",
    "SpectralPixels",
    "Schedule",
    "SkipGenerator",
    "Solver",
    "SolverState",
    "Stage",
    "Term",
    "TermInputs",
    "ToInput",
    "TotalVariation",
    "Transformed",
    "adagrad_momentum",
    "caricature_direction",
    "caricature_preset",
    "channel_direction",
    "default_schedule",
    "fast_preset",
    "fast_schedule",
    "grid_spacing",
    "heavy_ball",
    "ijcv_adagrad_momentum",
    "ijcv_preset",
    "input_map",
    "maximization_from",
    "maximization_preset",
    "mosaic_direction",
    "natural_statistics",
    "neuron_direction",
    "noise_frozen",
    "paper_lambdas_from_code",
    "paper_momentum",
    "paper_preset",
    "prior",
    "prior_options",
    "resolve_schedule",
    "run_in_chunks",
    "smooth_descent",
    "solver",
    "staged",
    "staged_tables",
    "start_from",
    "unit_weight",
    "vector_direction",
]



def __getattr__(name: str) -> object:
    """Names of 0.1 kept for one release: `paper` and `ijcv` (they warn when called; use
    ``solver(rep, "paper")``), and `Prior` (a prior is a `Preset`)."""
    if name in ("paper", "ijcv", "Prior"):
        from jaxinv.core import priors
        return getattr(priors, name)
    raise AttributeError(f"module 'jaxinv.core' has no attribute {name!r}")
