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


def threefry_cpu_lowering(rolled: bool) -> bool:
    """Lower `jax.random`'s threefry hash on the CPU with its rounds in a loop (jax's choice) or unrolled.

    The same integer arithmetic either way (bit-identical draws: `test_harness`), but XLA:CPU
    (jax 0.10) compiles the looped form far more slowly: 30 `uniform` draws in one program took
    47 s to compile, 3 s unrolled; a small DIP generator's initialisation 32 s, 12 s; the solver,
    visualisation and inversion test files 405 s, 373 s in all (both beside another job). The test processes (not the CLI
    and benchmark subprocesses they start) use the unrolled form; jaxinv leaves jax's lowering
    alone. False where this jax lacks the two lowerings (its own then stays).
    """
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32

        rule = threefry2x32._threefry2x32_cpu_lowering_rule if rolled else threefry2x32._threefry2x32_lowering_rule
        primitive = threefry2x32.threefry2x32_p
    except (ImportError, AttributeError):
        return False
    mlir.register_lowering(primitive, rule, platform="cpu")
    return True


threefry_cpu_lowering(rolled=False)


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
    """The folder of real pretrained weights, found as the command line finds it
    (`jaxinv.weights.shared.shared_folder`: `JAXINV_SHARED_WEIGHTS`, default ../shared/weights)."""
    from jaxinv.weights.shared import SHARED_ENV, shared_file, shared_folder

    folder = shared_folder()
    if folder is None or shared_file("squeezenet1_1") is None:
        message = f"shared pretrained weights not found at {folder}; set {SHARED_ENV}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return folder


def run_main(main, argv, capsys):
    """Call a command's ``main`` in this process: (exit status, stdout, stderr)."""
    try:
        status = main(argv)
    except SystemExit as stop:
        status = stop.code
    out, err = capsys.readouterr()
    return (0 if status is None else status), out, err
