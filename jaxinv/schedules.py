"""Deprecated in 0.2: learning-rate schedules live in `jaxinv.core.schedules` (removed in 0.3)."""

from jaxinv.deprecation import moved_module

__getattr__ = moved_module("jaxinv.schedules", "jaxinv.core.schedules",
                           ["Stage", "Schedule", "PRESETS", "resolve_schedule"])
