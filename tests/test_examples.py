"""The example scripts run end to end at reduced size and leave their figures behind.

Each example runs as a subprocess (PYTHONPATH = the repository root) with a few iterations
(``--iterations-scale``), 2 seeds and one or two layers, and must write its figures,
``summary.md`` and ``metrics.json``, in which every run's total energy fell at least twofold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, require, shared_weights

EXAMPLES = REPO / "examples"

# (script, arguments, figures it must write); sizes chosen so that the whole file takes
# well under three minutes on two CPU cores (each run compiles one program per layer).
CASES = [
    ("multiple_reconstructions.py", ["--iterations-scale", "0.05", "--seeds", "2", "--layers", "fire9/concat"],
     ["reconstructions_fire9_concat.png", "energy.png", "spread_vs_error.png"]),
    ("feature_vs_image_error.py", ["--iterations-scale", "0.05", "--layers", "fire5/concat", "fire9/concat"],
     ["reconstructions.png", "feature_vs_image_error.png"]),
    ("artificial_codes.py", ["--iterations-scale", "0.02", "--seeds", "1", "--classes", "285", "967"],
     ["class_reconstructions.png", "energy.png"]),
    ("invariance_vs_error.py", ["--iterations-scale", "0.05", "--seeds", "2", "--layers", "fire5/concat",
                                "fire9/concat"],
     ["spread_vs_error.png", "reconstructions.png"]),
    ("own_model.py", ["--iterations-scale", "0.1", "--seeds", "1", "--layers", "relu1", "logits",
                      "--train-steps", "60"],
     ["reconstructions.png", "errors_by_layer.png"]),
]


def run_example(script: str, args: list[str], out) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, str(EXAMPLES / script), "--out", str(out), *args],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=600)


@pytest.mark.parametrize("script,args,figures", CASES, ids=[c[0].removesuffix(".py") for c in CASES])
def test_example_runs(script, args, figures, tmp_path):
    require("matplotlib")
    if script == "own_model.py":
        require("sklearn")
    else:
        args = [*args, "--weights-dir", str(shared_weights())]
    out = tmp_path / "out"
    proc = run_example(script, args, out)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    for name in [*figures, "summary.md", "metrics.json"]:
        assert (out / name).is_file(), f"{script} did not write {name}"
        assert (out / name).stat().st_size > 0
    summary = (out / "summary.md").read_text()
    for name in figures:
        assert name in summary, f"summary.md does not show {name}"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["runs"], "metrics.json lists no runs"
    for run in metrics["runs"]:
        assert run["last_total"] > 0
        assert run["first_total"] >= 2 * run["last_total"], (
            f"{script}: {run['run']} energy fell only from {run['first_total']:.4g} to {run['last_total']:.4g}")


def test_examples_share_the_options():
    """Every example takes the common options (checked through --help, without running)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    for script, _, _ in CASES:
        proc = subprocess.run([sys.executable, str(EXAMPLES / script), "--help"], capture_output=True, text=True,
                              env=env, cwd=REPO, timeout=120)
        assert proc.returncode == 0, proc.stderr
        for option in ("--out", "--iterations-scale", "--seeds", "--seed"):
            assert option in proc.stdout, f"{script} lacks {option}"
        if script != "own_model.py":
            assert "--network" in proc.stdout and "--weights-dir" in proc.stdout
