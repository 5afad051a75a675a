"""Every numeric option of every command, fed −1, 0, nan, inf, 1e30 and a word.

Each must end with exit status 2 and one line of message and no traceback, or, where the
value is legal, run: the `jaxinv` command for real (on a tiny picture and schedule), the
benchmark and example scripts up to the end of their argument checks (a legal value there
starts a run of minutes to hours).
"""

import argparse
import functools
import importlib.util
import json
import sys

import numpy as np
import pytest
from PIL import Image

import jaxinv.cli
from conftest import REPO, run_main

VALUES = ["-1", "0", "nan", "inf", "1e30", "word"]

#: jaxinv invert's numeric options: the values that are legal, and what else a legal run needs.
INVERT = {
    "--seeds": (set(), []),
    "--data-weight": ({"1e30"}, ["--method", "ijcv"]),
    "--lambda-tv": ({"0", "1e30"}, []),
    "--lambda-alpha": ({"0", "1e30"}, []),
    "--seed": ({"0"}, []),
    "--chunk": (set(), []),
    "--set-normaliser": ({"1e30"}, []),
    "--max-megapixels": ({"1e30"}, []),
}


@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    path = tmp_path_factory.mktemp("battery") / "pic.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path)
    return path


def assert_refused(status, err, what):
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2, (what, status, err)
    assert len(lines) == 1 and "error" in lines[0], (what, err)
    assert "Traceback" not in err


def strict_json(path):
    return json.loads(path.read_text(), parse_constant=lambda word: pytest.fail(f"{word} in {path}"))


def invert_cases():
    for option, (legal, extra) in INVERT.items():
        for value in VALUES:
            yield [option, value, *extra], value in legal
    for value in VALUES:
        yield ["--schedule", f"{value}x2"], value == "1e30"  # an overflowing rate is retried, not refused
        yield ["--schedule", f"0.004x{value}"], False


@pytest.mark.parametrize("args, legal", list(invert_cases()), ids=lambda a: " ".join(a) if isinstance(a, list) else "")
def test_jaxinv_invert(args, legal, picture, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["invert", str(picture), "--rep", "avgpool", "--out", str(out), "--no-progress"]
    if "--schedule" not in args:
        base += ["--schedule", "0.004x2"]
    status, stdout, err = run_main(jaxinv.cli.main, base + args, capsys)
    if not legal:
        assert_refused(status, err, args)
        assert not out.exists()
        return
    assert status == 0, (args, err)
    assert "Traceback" not in err
    summary = strict_json(out / "summary.json")
    assert all(np.isfinite(row["squared_normalised_error"]) for row in summary["seeds"])


@functools.lru_cache(maxsize=None)
def load_script(path):
    """The script as a module; its sibling imports (`common`, `_common`) resolve through pyproject's
    pytest ``pythonpath`` (benchmarks/, examples/), as running it from its folder would."""
    name = f"battery_{path.parent.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


#: script → its numeric options and the values legal there (all others must be refused).
SCRIPTS = {
    "benchmarks/table_shallow.py": {"--limit": set(), "--batch": set(), "--seed": {"0"},
                                    "--iterations-scale": set(), "--save-pictures": {"0"},
                                    "--data-weight": {"1e30"}},
    "benchmarks/table_cnn.py": {"--limit": set(), "--batch": set(), "--seed": {"0"}, "--iterations-scale": set(),
                                "--save-pictures": {"0"}},
    "benchmarks/figures.py": {"--seeds": set(), "--iterations-scale": set(), "--seed": {"0"}},
    "benchmarks/throughput.py": {"--batch": set(), "--steps": set(), "--repeats": set(), "--threads": set()},
    "benchmarks/hog_dsift_forward.py": {"--repeats": set()},
    "benchmarks/traced_weights.py": {"--repeats": set()},
    "benchmarks/throughput_commits.py": {"--rounds": set(), "--steps": set(), "--repeats": set()},
    "benchmarks/time_to_quality.py": {"--limit": set(), "--tune": set(), "--seed": {"0"}},
    "benchmarks/tune_fast.py": {"--pictures": set(), "--seed": {"0"}},
    "benchmarks/priors.py": {"--limit": set(), "--dip-limit": {"0"}, "--shorten": set(), "--seed": {"0"}},
    "benchmarks/modern_networks.py": {"--seed": {"0"}, "--lambda-tv": {"0", "1e30"}},
    "benchmarks/maximization.py": {"--channels": set(), "--pictures": {"0"}, "--iterations-scale": set(),
                                   "--image-size": set(), "--seed": {"0"}},
    "benchmarks/gpu.py": {"--steps": set(), "--repeats": set(), "--max-batch-cap": set(), "--max-batch-steps": set(),
                          "--max-batch-repeats": set(), "--max-chunk-s": set(), "--budget-s": set(),
                          "--table-reserve-s": {"0"}, "--table-layers": set(), "--table-pictures": set(),
                          "--table-iterations-scale": set(), "--check-iterations": set(), "--matmul-size": set(),
                          "--fp32-peak-tflops": set(), "--tf32-peak-tflops": set(), "--mem-fraction": set()},
    "examples/artificial_codes.py": {"--seeds": set(), "--seed": {"0"}, "--iterations-scale": set(),
                                     "--classes": {"0"}, "--scale": set(), "--lambda-tv": {"0", "1e30"},
                                     "--lr-scale": set()},
    "examples/multiple_reconstructions.py": {"--seeds": set(), "--seed": {"0"}, "--iterations-scale": set(),
                                             "--blur": {"0"}},
    "examples/feature_vs_image_error.py": {"--seeds": set(), "--seed": {"0"}, "--iterations-scale": set()},
    "examples/invariance_vs_error.py": {"--seeds": set(), "--seed": {"0"}, "--iterations-scale": set()},
    "examples/own_model.py": {"--seeds": set(), "--seed": {"0"}, "--iterations-scale": set(),
                              "--train-steps": {"0"}, "--digits": {"0"}, "--tv-fraction": {"0"},
                              "--lambda-tv": {"0", "1e30"}},
}


class Parsed(Exception):
    """Raised right after a script's arguments are parsed: a legal value got through."""


def script_cases():
    for script, options in SCRIPTS.items():
        for option, legal in options.items():
            for value in VALUES:
                yield script, option, value, value in legal


@pytest.mark.parametrize("script, option, value, legal", list(script_cases()))
def test_benchmark_and_example_scripts(script, option, value, legal, capsys, monkeypatch):
    module = load_script(REPO / script)
    parse = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        parsed = parse(self, args, namespace)
        raise Parsed(parsed)

    # On the base class, so that a script with a parser of its own is stopped too.
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    try:
        status, _, err = run_main(module.main, [option, value], capsys)
    except Parsed:
        assert legal, f"{script} {option} {value} was accepted"
        return
    assert not legal, f"{script} {option} {value} was refused: {err}"
    assert_refused(status, err, (script, option, value))


def picture_files(folder):
    """Broken, truncated, empty, hostile and enormous picture files."""
    from test_images import png_header

    good = folder / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(good)
    jpeg = folder / "good.jpg"
    Image.open(good).save(jpeg)
    files = {
        "empty.png": b"",
        "text.png": b"hello, I am not a picture",
        "truncated.png": good.read_bytes()[:200],
        "truncated.jpg": jpeg.read_bytes()[:300],
        "header-only.png": b"\x89PNG\r\n\x1a\n",
        "bomb.png": png_header(100_000, 100_000),
        "sixty-megapixels.png": png_header(10_000, 6_000),
        "zero-size.png": png_header(0, 0),
        "random.jpg": np.random.default_rng(1).integers(0, 256, 2048, dtype=np.uint8).tobytes(),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return sorted(files)


def test_broken_hostile_and_enormous_picture_files(tmp_path, capsys):
    for name in picture_files(tmp_path):
        out = tmp_path / "out"
        status, _, err = run_main(jaxinv.cli.main, ["invert", str(tmp_path / name), "--out", str(out),
                                                    "--no-progress"], capsys)
        assert_refused(status, err, name)
        assert not out.exists(), name
    status, _, err = run_main(jaxinv.cli.main, ["invert", str(tmp_path / "sixty-megapixels.png"),
                                                "--out", str(tmp_path / "o")], capsys)
    assert "10000x6000 = 60.0 megapixels, above the limit of 50" in err and "--max-megapixels" in err


@pytest.mark.parametrize("argv, words", [
    (["invert", "--rep", "hogg"], "did you mean 'hog'"),
    (["invert", "--rep", "squeezenet1_1:fire55"], "fire5"),
    (["invert", "--rep", "nosuchnet:conv1"], "unknown representation"),
    (["invert", "--method", "adam"], "invalid choice"),
    (["invert", "--schedule", "fastest"], "cannot read schedule"),
    (["weights", "download", "nosuchnet"], "nosuchnet"),
    (["weights", "convert", "x.caffemodel", "--name", "../evil"], "invalid weights name"),
    (["nosuchcommand"], "not found"),
])
def test_unknown_names(argv, words, tmp_path, capsys):
    status, _, err = run_main(jaxinv.cli.main, [*argv, "--out", str(tmp_path / "o")] if argv[0] == "invert"
                              else argv, capsys)
    assert_refused(status, err, argv)
    assert words in err, err
