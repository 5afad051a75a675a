"""jaxinv: understanding image representations by inverting them, in JAX.

A reimplementation of Mahendran & Vedaldi, "Understanding Deep Image Representations by
Inverting Them" (CVPR 2015), with the IJCV 2016 variant as an option.
"""

from jaxinv import core, images, masks, metrics, networks, parallel, registry, schedules
from jaxinv.errors import JaxinvError
from jaxinv.inversion import InversionResult, invert, invert_batch
from jaxinv.objective import LAMBDA_ALPHA, SIGMA, IJCVObjective, PaperObjective, paper_lambdas_from_code
from jaxinv.optimizers import adagrad_momentum_with_reset, momentum_with_reset
from jaxinv.priors import PRIOR_NAMES, invert_batch_with_prior, invert_with_prior
from jaxinv.representation import Representation, from_function
from jaxinv.representations.cnn import cnn
from jaxinv.representations.dsift import dsift
from jaxinv.representations.hog import hog
from jaxinv.representations.pooling import average_pool
from jaxinv.schedules import Schedule, Stage
from jaxinv.visualize import Visualization, caricature, maximize

__version__ = "0.1.0"

__all__ = [
    "IJCVObjective",
    "InversionResult",
    "JaxinvError",
    "LAMBDA_ALPHA",
    "PRIOR_NAMES",
    "PaperObjective",
    "Representation",
    "SIGMA",
    "Schedule",
    "Stage",
    "Visualization",
    "adagrad_momentum_with_reset",
    "average_pool",
    "caricature",
    "cnn",
    "core",
    "dsift",
    "from_function",
    "hog",
    "images",
    "invert",
    "invert_batch",
    "invert_batch_with_prior",
    "invert_with_prior",
    "masks",
    "maximize",
    "metrics",
    "momentum_with_reset",
    "networks",
    "paper_lambdas_from_code",
    "parallel",
    "registry",
    "schedules",
]
