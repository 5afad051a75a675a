"""The pure core: terms that compose into objectives, parametrisations, staged optax
optimisers, and a solver of one problem that `jax.jit`, `jax.vmap`, `jax.grad` and sharding
transform. Knows nothing of files, progress bars or the host's batching (`jaxinv.inversion`).
"""

from jaxinv.core.colour import DecorrelatedColour, natural_statistics
from jaxinv.core.fourier import Fourier, Maco
from jaxinv.core.generator import DeepImagePrior, SkipGenerator, noise_frozen
from jaxinv.core.output import Bounded, InputMap, ToInput, input_map
from jaxinv.core.parametrisations import BallPixels, ScaledPixels
from jaxinv.core.presets import Preset, ijcv, ijcv_preset, paper, paper_preset
from jaxinv.core.priors import Prior, prior
from jaxinv.core.solver import Solver, SolverState, run_in_chunks
from jaxinv.core.stages import ijcv_adagrad_momentum, paper_momentum, staged
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
    "Fourier",
    "InnerProduct",
    "InputMap",
    "Jitter",
    "L2ToPicture",
    "Maco",
    "NormalisedData",
    "Objective",
    "Pad",
    "Preset",
    "Prior",
    "Rotate",
    "Scale",
    "ScaledPixels",
    "SkipGenerator",
    "Solver",
    "SolverState",
    "Term",
    "TermInputs",
    "ToInput",
    "TotalVariation",
    "Transformed",
    "caricature_direction",
    "caricature_preset",
    "channel_direction",
    "grid_spacing",
    "ijcv",
    "ijcv_adagrad_momentum",
    "ijcv_preset",
    "input_map",
    "maximization_from",
    "maximization_preset",
    "mosaic_direction",
    "natural_statistics",
    "neuron_direction",
    "noise_frozen",
    "paper",
    "paper_momentum",
    "paper_preset",
    "prior",
    "run_in_chunks",
    "staged",
    "start_from",
    "unit_weight",
    "vector_direction",
]
