"""Shared test set-up.

Optional dependencies (the VLFeat oracle, PyTorch, the shared pretrained weights) make a test
skip on a developer machine that lacks them, and *fail* when CI=true: CI installs everything.
"""

from __future__ import annotations

import importlib
import os
import pathlib

import jax
import pytest

jax.config.update("jax_enable_x64", False)

REPO = pathlib.Path(__file__).resolve().parents[1]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(module: str):
    """Import an optional test dependency: skip without it locally, fail in CI."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the machine
        message = f"test dependency {module!r} is missing ({exc}); run the README's test command"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def shared_weights() -> pathlib.Path:
    """The folder of real pretrained weights (`JAXINV_SHARED_WEIGHTS`, default ../shared/weights)."""
    folder = pathlib.Path(os.environ.get("JAXINV_SHARED_WEIGHTS", REPO.parent / "shared" / "weights"))
    if not (folder / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel").is_file():
        message = f"shared pretrained weights not found at {folder}; set JAXINV_SHARED_WEIGHTS"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return folder
