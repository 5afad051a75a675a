"""Deprecated in 0.2: the objectives' settings are `jaxinv.core.settings`, their maths
`jaxinv.core.norms` (removed in 0.3)."""

from typing import Any

from jaxinv.deprecation import moved_module

_settings = moved_module("jaxinv.objective", "jaxinv.core.settings",
                         ["SIGMA", "LAMBDA_ALPHA", "CODE_LAMBDA_L", "PaperObjective", "IJCVObjective",
                          "paper_lambdas_from_code"])
_norms = moved_module("jaxinv.objective", "jaxinv.core.norms",
                      ["data_term", "masked_sq_norm", "alpha_norm", "tv_norm", "bounded_alpha_norm", "ijcv_tv_norm",
                       "project_to_ball", "forward_differences"])


def __getattr__(name: str) -> Any:
    try:
        return _settings(name)
    except AttributeError:
        return _norms(name)
