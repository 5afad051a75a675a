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
    assert 0 <= summary["seeds"][0]["squared_normalised_error"] < 1
    assert "seed 1:" in proc.stdout and str(out) in proc.stdout


def test_summary_names_each_error_and_what_ran(tmp_path, picture_file):
    """Every number sits under a key that says what it is, `definitions` says each in one line, and
    the summary records what ran: the prior (no `method` beside it), the schedule, the steps."""
    import jaxinv

    out = tmp_path / "out"
    proc = run_cli("invert", str(picture_file), "--rep", "avgpool", "--schedule", "0.004x3,0.0004x2",
                   "--method", "paper", "--set-normaliser", "2.5", "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    summary = strict_json(out / "summary.json")
    row = summary["seeds"][0]
    assert "error" not in row and "method" not in summary and summary["prior"] == "paper"
    assert row["ijcv_error"] == pytest.approx(np.sqrt(row["squared_normalised_error"]), rel=1e-6)
    rep = jaxinv.registry.get("avgpool")
    target = np.linalg.norm(np.asarray(rep(jaxinv.images.load(picture_file)), np.float64))
    # ‖Φ(x)−Φ0‖/N₁ = √(‖Φ(x)−Φ0‖²/‖Φ0‖²)·‖Φ0‖/N₁
    assert row["paper_printed_error"] == pytest.approx(row["ijcv_error"] * target / 2.5, rel=1e-3)
    assert summary["set_normaliser"] == 2.5
    for key in ("squared_normalised_error", "ijcv_error", "paper_printed_error", "set_normaliser", "psnr",
                "schedule", "iterations", "prior"):
        assert key in summary["definitions"] and "\n" not in summary["definitions"][key]
    assert "‖Φ(x)−Φ0‖²/‖Φ0‖²" in summary["definitions"]["squared_normalised_error"]
    assert "N₁" in summary["definitions"]["paper_printed_error"]
    assert summary["schedule"]["total"] == summary["iterations"] == 5
    assert [(s["learning_rate"], s["iterations"]) for s in summary["schedule"]["stages"]] == [(0.004, 3), (0.0004, 2)]
    assert "momentum" in summary["schedule"]["rates"]
    line = proc.stdout.splitlines()[0]
    assert line.startswith("seed 0: squared normalised error ‖Φ(x)−Φ0‖²/‖Φ0‖² = ")
    assert f"IJCV error {100 * row['ijcv_error']:.1f}%" in line
    assert f"paper's printed error ‖Φ(x)−Φ0‖/N₁ = {100 * row['paper_printed_error']:.1f}%" in line
    assert "5 iterations (paper)" in proc.stdout


def test_without_a_set_normaliser_the_papers_metric_is_null_and_not_printed(tmp_path, capsys):
    from jaxinv.cli import main

    path = tmp_path / "p.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(path)
    assert main(["invert", str(path), "--rep", "avgpool", "--prior", "lucid", "--schedule", "0.01x3,0.001x2",
                 "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    summary = strict_json(tmp_path / "o" / "summary.json")
    assert summary["prior"] == "lucid" and "method" not in summary and summary["iterations"] == 5
    assert summary["schedule"]["stages"] == [{"learning_rate": 0.01, "iterations": 3, "jitter": True},
                                             {"learning_rate": 0.001, "iterations": 2, "jitter": True}]
    assert summary["schedule"]["rates"] == "Adam's learning rates"
    assert summary["seeds"][0]["paper_printed_error"] is None and summary["set_normaliser"] is None
    assert "paper's printed" not in out and "IJCV error" in out and "5 iterations (lucid)" in out


@pytest.mark.parametrize("prior, option, value", [
    ("lucid", "--lambda-tv", "1"), ("maco", "--lambda-alpha", "1"), ("dip", "--data-weight", "5"),
    ("lucid", "--data-weight", "2"), ("paper", "--data-weight", "100"), ("ijcv", "--lambda-alpha", "0"),
])
def test_an_option_the_prior_cannot_take_is_refused_by_name(prior, option, value, tmp_path, capsys):
    from jaxinv.cli import main

    argv = ["invert", "--rep", "avgpool", "--prior", prior, option, *([value] if value else []),
            "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"jaxinv: error: --prior {prior} takes no {option} (")
    assert "drop it or change --prior" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def help_text(*argv) -> str:
    """``jaxinv ARGV --help`` with argparse's line wrapping undone."""
    import contextlib
    import io

    from jaxinv.cli import main

    text = io.StringIO()
    with contextlib.redirect_stdout(text), pytest.raises(SystemExit) as stop:
        main([*argv, "--help"])
    assert stop.value.code == 0
    return " ".join(text.getvalue().split())


def test_help_lists_each_priors_schedule_as_the_core_defines_it():
    """The schedules `--help` lists are written out (parsing imports no JAX): they must be the core's."""
    from jaxinv.cli_output import PRESET_NAMES, STAGES, schedule_text
    from jaxinv.core import priors
    from jaxinv.core.schedules import PRESETS

    own = {"cnn": PRESETS["cnn"], "shallow": PRESETS["shallow"], "ijcv": PRESETS["ijcv"],
           "lucid": priors.LUCID_SCHEDULE, "maco": priors.MACO_SCHEDULE, "dip": priors.DIP_SCHEDULE,
           "fast_shallow": priors.fast_schedule("shallow"), "fast_cnn": priors.fast_schedule("cnn")}
    assert set(STAGES) == set(own) and PRESET_NAMES == tuple(PRESETS)
    for name, schedule in own.items():
        assert [n for _, n in STAGES[name]] == [s.iterations for s in schedule.stages], name
        assert [lr for lr, _ in STAGES[name]] == pytest.approx([s.learning_rate for s in schedule.stages]), name
    assert schedule_text("ijcv") == "350 = 300+50" and schedule_text("cnn") == "400 = 100+200+100"
    assert schedule_text("shallow") == "800 = 200+200+200+200"
    invert = help_text("invert")
    for name in ("cnn", "shallow", "ijcv", "lucid", "maco", "dip"):
        assert f"{name} {schedule_text(name)}" in invert or f"{name} (" in invert and schedule_text(name) in invert
    assert "lucid, maco and dip have their own Adam schedules" in invert
    assert f"a preset ({', '.join(PRESETS)})" in invert and "--set-normaliser N1" in invert
    maximize = help_text("maximize")
    for name in ("cnn", "lucid", "maco", "dip"):
        assert schedule_text(name) in maximize, name
    assert "--iterations N" in maximize and "scaled by N / its total" in maximize


def test_the_cli_modules_import_no_jax_at_their_top():
    """Building the parser must not need JAX: the CLI modules import it only inside the commands."""
    import ast

    for name in ("cli.py", "cli_output.py", "cli_visualize.py", "cli_runs.py"):
        tree = ast.parse((REPO / "jaxinv" / name).read_text())
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(m.split(".")[0] in ("jax", "jaxinv") for m in modules), (name, modules)


def test_stretched_schedules_add_up_to_the_steps_asked():
    from jaxinv.cli_output import stretched
    from jaxinv.core import priors
    from jaxinv.errors import JaxinvError

    lucid = priors.LUCID_SCHEDULE
    for total in (3, 4, 5, 7, 10, 99, 400, 401, 1000):
        run = stretched(lucid, total, name="lucid")
        assert run.total == total and all(s.iterations >= 1 for s in run.stages)
        assert [(s.learning_rate, s.jitter) for s in run.stages] == [(s.learning_rate, s.jitter) for s in lucid.stages]
    assert [s.iterations for s in stretched(lucid, 8, name="lucid").stages] == [4, 2, 2]
    assert [s.iterations for s in stretched(lucid, 800, name="lucid").stages] == [400, 200, 200]
    assert [s.iterations for s in stretched(priors.DIP_SCHEDULE, 2, name="dip").stages] == [1, 1]
    with pytest.raises(JaxinvError, match="fewer than the 3 stages of lucid's schedule; use at least 3"):
        stretched(lucid, 2, name="lucid")


def test_a_closed_pipe_ends_quietly_with_status_0():
    """`jaxinv reps vit_b_16 | head -1`: no "error: Broken pipe", no traceback, status 0."""
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
    proc = subprocess.Popen([sys.executable, "-m", "jaxinv.cli", "reps", "vit_b_16"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=600) == 0 and err == "", err
    shell = subprocess.run(["bash", "-c", "set -o pipefail; " + " ".join([sys.executable, "-m", "jaxinv.cli",
                           "reps", "vit_b_16"]) + " | head -1"], capture_output=True, text=True, env=env, timeout=600)
    assert shell.returncode == 0 and shell.stdout.startswith("vit_b_16:") and shell.stderr == "", shell


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
    (["invert", "{pic}", "--rep", "avgpool", "--data-weight", "100"], "--data-weight is for --prior ijcv"),
    (["invert", "{pic}", "--rep", "avgpool", "--method", "ijcv", "--lambda-tv", "5"], "--lambda-tv is for --prior paper"),
    (["invert", "{pic}", "--rep", "avgpool", "--set-normaliser", "0"], "above 0"),
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
    proc = run_cli("--schedule", "0.004x10", "--out", str(tmp_path / "o"))  # stderr is no terminal: no bar
    assert proc.returncode == 0, proc.stderr
    assert "inverting hog of skimage.data.astronaut()" in proc.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["representation"] == "hog" and summary["iterations"] == summary["schedule"]["total"] == 10
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
    assert "inversions overflowed; running them again" in proc.stderr and "at 0.3x the learning rates" in proc.stderr
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
                   "--schedule", "0.004x2", "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    assert "(225x168, warped to 227x227, the network's input size; original.png is that picture" in proc.stderr
    assert Image.open(tmp_path / "o" / "original.png").size == (227, 227)
    assert "warped to 227x227" in strict_json(tmp_path / "o" / "summary.json")["input"]


def test_missing_weights_say_the_cli_fix_and_the_fix_works(tmp_path, picture_file):
    """No --weights, an empty cache and an empty shared folder: one line naming where it looked."""
    from conftest import shared_weights

    home, empty = tmp_path / "home", tmp_path / "no-shared"
    env = {"JAXINV_HOME": str(home), "JAXINV_SHARED_WEIGHTS": str(empty)}
    proc = run_cli("invert", str(picture_file), "--rep", "squeezenet1_1:fire2", "--out", str(tmp_path / "o"),
                   extra_env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert str(home / "squeezenet1_1.safetensors") in proc.stderr
    assert str(empty / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel") in proc.stderr
    assert "--weights PATH" in proc.stderr and "jaxinv weights convert FILE --name squeezenet1_1" in proc.stderr
    assert "jaxinv weights download squeezenet1_1" in proc.stderr and "JAXINV_SHARED_WEIGHTS" in proc.stderr
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
    """The default job's output as the docs' first inversion quotes it (the README's first set-up
    command): (error, IJCV %, PSNR, SSIM, iterations)."""
    text = (REPO / "docs" / "getting-started" / "first-inversion.md").read_text()
    match = re.search(r"seed 0: squared normalised error ‖Φ\(x\)−Φ0‖²/‖Φ0‖² = ([\d.]+), IJCV error ([\d.]+)%,"
                      r" PSNR ([\d.]+) dB, SSIM ([\d.]+)\n(\d+) iterations \(paper\) in", text)
    assert match, "docs/getting-started/first-inversion.md no longer quotes the default job's output"
    return [float(v) for v in match.groups()]


def test_default_job_prints_what_the_readme_quotes_and_a_stretched_copy_that_differs(tmp_path):
    """The README's first set-up command prints the numbers the docs quote, within the spread they
    report between CPUs' kernels (0.0928-0.0961, SSIM 0.395-0.401)."""
    proc = run_cli("--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    [out] = (tmp_path / "jaxinv-out").iterdir()  # the run's own folder, jaxinv-out/invert-YYYYmmdd-HHMMSS
    assert re.fullmatch(r"invert-\d{8}-\d{6}", out.name) and f"pictures in jaxinv-out/{out.name}/" in proc.stdout
    assert (out / "reconstruction_0.png").read_bytes() != (out / "reconstruction_0_stretched.png").read_bytes()
    plain = np.asarray(Image.open(out / "reconstruction_0.png"), np.float32)
    stretched = np.asarray(Image.open(out / "reconstruction_0_stretched.png"), np.float32)
    assert np.abs(plain - stretched).mean() > 1.0
    summary = strict_json(out / "summary.json")
    row = summary["seeds"][0]
    error, ijcv, psnr, ssim, iterations = readme_quote()
    assert re.fullmatch(r"seed 0: squared normalised error ‖Φ\(x\)−Φ0‖²/‖Φ0‖² = [\d.]+, IJCV error [\d.]+%,"
                        r" PSNR [\d.]+ dB, SSIM [\d.]+", proc.stdout.splitlines()[0]), proc.stdout
    assert iterations == summary["iterations"] == 800
    assert row["squared_normalised_error"] == pytest.approx(error, abs=4e-3)
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
