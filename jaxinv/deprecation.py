"""Names that moved in 0.2, kept for one release: each access warns and says where they went."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["moved_module"]


def moved_module(old: str, new: str, names: list[str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) for module ``old``: ``names`` come from ``new`` with a warning."""
    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(f"{old}.{name} is deprecated and will be removed in jaxinv 0.3; use {new}.{name}",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(new), name)

    return __getattr__
