"""The command line: outputs, one-line errors with exit status 2, no tracebacks."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO


def run_cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, "-m", "jaxinv.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


@pytest.fixture(scope="module")
def picture_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("pics") / "pic.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(path)
    return path


def test_invert_writes_pictures_and_summary(tmp_path, picture_file):
    out = tmp_path / "out"
    proc = run_cli("invert", str(picture_file), "--rep", "avgpool", "--schedule", "0.004x20,0.0004x10",
                   "--seeds", "2", "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["original.png", "reconstruction_0.png", "reconstruction_0_stretched.png",
                     "reconstruction_1.png", "reconstruction_1_stretched.png", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["iterations"] == 30 and len(summary["seeds"]) == 2
    assert 0 <= summary["seeds"][0]["error"] < 1
    assert "seed 1:" in proc.stdout and str(out) in proc.stdout


@pytest.mark.parametrize("args, words", [
    (["invert", "/no/such/file.png"], "not found"),
    (["invert", "{empty}"], "empty"),
    (["invert", "{junk}"], "cannot read"),
    (["invert", "{pic}", "--rep", "nosuchrep"], "unknown representation"),
    (["invert", "{pic}", "--rep", "avgpool", "--schedule", "0.004x0"], "iterations"),
    (["invert", "{pic}", "--rep", "avgpool", "--schedule", "0.004x-4"], "iterations"),
    (["invert", "{pic}", "--rep", "avgpool", "--lambda-tv", "-1"], ">= 0"),
    (["invert", "{pic}", "--rep", "avgpool", "--seeds", "0"], "seeds"),
    (["invert", "{pic}", "--rep", "avgpool", "--schedule", "fast"], "schedule"),
    (["invert", "{pic}", "--rep", "avgpool", "--data-weight", "100"], "--method ijcv"),
    (["invert", "{pic}", "--rep", "avgpool", "--method", "ijcv", "--lambda-tv", "5"], "--data-weight"),
])
def test_bad_input_gives_one_line_and_status_2(tmp_path, picture_file, args, words):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    subs = {"{empty}": str(tmp_path / "empty.png"), "{junk}": str(tmp_path / "junk.png"), "{pic}": str(picture_file)}
    args = [subs.get(a, a) for a in args]
    proc = run_cli(*args, "--out", str(tmp_path / "o"), "--no-progress")
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("jaxinv: error")]
    assert len(lines) == 1 and words in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_out_that_is_a_file_is_refused(tmp_path, picture_file):
    (tmp_path / "taken").write_text("keep me")
    proc = run_cli("invert", str(picture_file), "--rep", "avgpool", "--out", str(tmp_path / "taken"), "--no-progress")
    assert proc.returncode == 2 and "is a file" in proc.stderr and "Traceback" not in proc.stderr
    assert (tmp_path / "taken").read_text() == "keep me"


def test_image_smaller_than_the_representation_accepts(tmp_path):
    path = tmp_path / "one.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(path)
    proc = run_cli("invert", str(path), "--rep", "avgpool", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "smaller" in proc.stderr and "Traceback" not in proc.stderr


def test_default_job_is_the_hog_of_a_bundled_picture(tmp_path):
    proc = run_cli("--schedule", "0.004x10", "--out", str(tmp_path / "o"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "inverting hog of skimage.data.astronaut()" in proc.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["representation"] == "hog" and summary["iterations"] == 10
    assert Image.open(tmp_path / "o" / "reconstruction_0.png").size == (512, 512)


def test_reps_lists_representations_and_layers():
    proc = run_cli("reps")
    assert proc.returncode == 0
    for word in ("hog", "hogb", "dsift", "caffenet:LAYER", "fire5/concat", "inception_3a/output"):
        assert word in proc.stdout


def test_unknown_layer_lists_the_valid_ones(tmp_path, picture_file):
    proc = run_cli("invert", str(picture_file), "--rep", "caffenet:conv9", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "conv5" in proc.stderr and "Traceback" not in proc.stderr
