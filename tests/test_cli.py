"""The command line: outputs, one-line errors with exit status 2, no tracebacks."""

import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import REPO


def run_cli(*args, cwd=None, extra_env=None):
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu", **(extra_env or {}))
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


def strict_json(path):
    """Load JSON with a strict parser: NaN and Infinity are not JSON."""
    def refuse(word):
        raise ValueError(f"non-standard JSON constant {word}")
    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.parametrize("rep", ["hog", "hogb", "dsift"])
def test_a_flat_picture_is_refused_for_every_shallow_representation(tmp_path, rep):
    path = tmp_path / "flat.png"
    Image.fromarray(np.full((40, 50, 3), 255, np.uint8)).save(path)
    proc = run_cli("invert", str(path), "--rep", rep, "--out", str(tmp_path / "o"), "--no-progress")
    assert proc.returncode == 2 and "nothing to invert" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_out_under_a_file_is_refused_before_any_work(tmp_path, picture_file):
    (tmp_path / "some_file.txt").write_text("x")
    started = time.perf_counter()
    proc = run_cli("invert", str(picture_file), "--rep", "hog", "--out", str(tmp_path / "some_file.txt" / "sub"))
    assert proc.returncode == 2 and "is a file, not a folder" in proc.stderr and "Traceback" not in proc.stderr
    assert "inverting" not in proc.stderr and time.perf_counter() - started < 60


def test_outputs_have_the_umasks_mode_and_stale_temporaries_go(tmp_path, picture_file):
    out = tmp_path / "o"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = out / f".summary.json.{int(dead.stdout)}.deadbeef.jaxinv-tmp"
    stale.write_text("{ half")
    env_umask = "umask 022 && "
    proc = subprocess.run(["bash", "-c", env_umask + " ".join([sys.executable, "-m", "jaxinv.cli", "invert",
                           str(picture_file), "--rep", "avgpool", "--schedule", "0.004x2", "--out", str(out),
                           "--no-progress"])], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu"), timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert not stale.exists()
    for path in out.iterdir():
        assert path.stat().st_mode & 0o777 == 0o644, path.name


def test_retries_are_said_and_recorded(tmp_path, picture_file):
    proc = run_cli("invert", str(picture_file), "--rep", "avgpool", "--schedule", "1e30x3", "--seeds", "2",
                   "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    assert "inversions overflowed; running them again" in proc.stderr and "retry at 0.3x" in proc.stderr
    assert "Traceback" not in proc.stderr and "warnings.warn" not in proc.stderr
    summary = strict_json(tmp_path / "o" / "summary.json")
    assert [row["learning_rate_scale"] for row in summary["seeds"]] == pytest.approx([0.09, 0.09])
    assert all(row["diverged"] for row in summary["seeds"])
    assert "run at 0.09x the learning rates" in proc.stdout


def test_a_warped_picture_is_said(tmp_path):
    from conftest import shared_weights

    path = tmp_path / "small.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (168, 225, 3), dtype=np.uint8)).save(path)
    weights = shared_weights() / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel"
    proc = run_cli("invert", str(path), "--rep", "squeezenet1_1:conv1", "--weights", str(weights),
                   "--schedule", "0.004x2", "--out", str(tmp_path / "o"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "(225x168, warped to 227x227, the network's input size; original.png is that picture" in proc.stderr
    assert Image.open(tmp_path / "o" / "original.png").size == (227, 227)
    assert "warped to 227x227" in strict_json(tmp_path / "o" / "summary.json")["input"]


def test_missing_weights_say_the_cli_fix_and_the_fix_works(tmp_path, picture_file):
    from conftest import shared_weights

    home = tmp_path / "home"
    env = {"JAXINV_HOME": str(home)}
    proc = run_cli("invert", str(picture_file), "--rep", "squeezenet1_1:fire2", "--out", str(tmp_path / "o"),
                   extra_env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--weights PATH" in proc.stderr and "jaxinv weights convert FILE --name squeezenet1_1" in proc.stderr
    source = shared_weights() / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel"
    assert run_cli("weights", "convert", str(source), "--name", "squeezenet1_1", extra_env=env).returncode == 0
    proc = run_cli("invert", str(picture_file), "--rep", "squeezenet1_1:fire2", "--schedule", "0.004x2",
                   "--out", str(tmp_path / "o"), "--no-progress", extra_env=env)
    assert proc.returncode == 0, proc.stderr


def test_weights_for_a_shallow_representation_are_refused(tmp_path, picture_file):
    proc = run_cli("invert", str(picture_file), "--rep", "hog", "--weights", "x.caffemodel",
                   "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "hog takes no weights" in proc.stderr and "Traceback" not in proc.stderr


def test_version():
    import jaxinv

    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"jaxinv {jaxinv.__version__}", proc


def readme_quote():
    """The default job's output as the README quotes it: (error, IJCV %, PSNR, SSIM, iterations)."""
    text = (REPO / "README.md").read_text()
    match = re.search(r"`seed 0: ‖Φ\(x\)−Φ0‖²/‖Φ0‖² = ([\d.]+) \(IJCV ([\d.]+)%\), PSNR ([\d.]+) dB, SSIM ([\d.]+)`"
                      r"\s+and `(\d+) iterations in", text)
    assert match, "the README no longer quotes the default job's output"
    return [float(v) for v in match.groups()]


def test_default_job_prints_what_the_readme_quotes_and_a_stretched_copy_that_differs(tmp_path):
    """The README's first set-up command prints the numbers the README quotes, within the
    spread the README reports between CPUs' kernels (0.0928-0.0961, SSIM 0.395-0.401)."""
    proc = run_cli("--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "jaxinv-out"
    assert (out / "reconstruction_0.png").read_bytes() != (out / "reconstruction_0_stretched.png").read_bytes()
    plain = np.asarray(Image.open(out / "reconstruction_0.png"), np.float32)
    stretched = np.asarray(Image.open(out / "reconstruction_0_stretched.png"), np.float32)
    assert np.abs(plain - stretched).mean() > 1.0
    summary = strict_json(out / "summary.json")
    row = summary["seeds"][0]
    error, ijcv, psnr, ssim, iterations = readme_quote()
    assert iterations == summary["iterations"] == 800
    assert row["error"] == pytest.approx(error, abs=4e-3)
    assert 100 * row["ijcv_error"] == pytest.approx(ijcv, abs=0.6)
    assert row["psnr"] == pytest.approx(psnr, abs=0.05)
    assert row["ssim"] == pytest.approx(ssim, abs=0.008)


def test_reps_of_a_network_says_what_each_layer_is():
    proc = run_cli("reps", "resnet50")
    assert proc.returncode == 0, proc.stderr
    assert any(line.startswith("resnet50:layer3.5 ") and "after its last ReLU" in line
               for line in proc.stdout.splitlines())
    proc = run_cli("reps", "nosuchnet")
    assert proc.returncode == 2 and "unknown network" in proc.stderr and "Traceback" not in proc.stderr
