"""jaxinv: understanding image representations by inverting them, in JAX.

A reimplementation of Mahendran & Vedaldi, "Understanding Deep Image Representations by
Inverting Them" (CVPR 2015), with the IJCV 2016 variant, activation maximisation,
caricatures and later image priors. Two levels: these host functions for people (pictures
in, results out, through one runner), and `jaxinv.core`, the pure layer, for JAX users.
"""

import importlib
import warnings

from jaxinv import core, images, masks, metrics, networks, parallel, registry, scores
from jaxinv.atlas import atlas
from jaxinv.errors import JaxinvError
from jaxinv.inversion import InversionResult, invert, invert_batch
from jaxinv.representation import Representation, from_function
from jaxinv.representations.cnn import cnn
from jaxinv.representations.dsift import dsift
from jaxinv.representations.hog import hog
from jaxinv.representations.pooling import average_pool
from jaxinv.visualize import Visualization, caricature, maximize

__version__ = "0.2.0"

__all__ = [
    "InversionResult",
    "JaxinvError",
    "Representation",
    "Visualization",
    "atlas",
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
    "masks",
    "maximize",
    "metrics",
    "networks",
    "parallel",
    "registry",
    "scores",
]

#: 0.1's top-level names, kept for one release: where each lives now.
_MOVED = {
    "IJCVObjective": "jaxinv.core", "PaperObjective": "jaxinv.core", "LAMBDA_ALPHA": "jaxinv.core",
    "SIGMA": "jaxinv.core", "Schedule": "jaxinv.core", "Stage": "jaxinv.core",
    "paper_lambdas_from_code": "jaxinv.core", "PRIOR_NAMES": "jaxinv.core",
    "momentum_with_reset": "jaxinv.optimizers", "adagrad_momentum_with_reset": "jaxinv.optimizers",
    "invert_with_prior": "jaxinv.priors", "invert_batch_with_prior": "jaxinv.priors",
    "schedules": "jaxinv.core.schedules",
}


def __getattr__(name: str) -> object:
    """0.1's names (`_MOVED`), each access warning where it went; removed in 0.3."""
    if name not in _MOVED:
        raise AttributeError(f"module 'jaxinv' has no attribute {name!r}")
    where = _MOVED[name]
    warnings.warn(f"jaxinv.{name} is deprecated and will be removed in jaxinv 0.3; use {where}"
                  + ("" if name == "schedules" else f".{name}"), DeprecationWarning, stacklevel=2)
    module = importlib.import_module(where)
    return module if name == "schedules" else getattr(module, name)
