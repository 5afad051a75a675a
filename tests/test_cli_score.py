"""``jaxinv score``: a judge's scores of a run folder made by ``jaxinv invert`` and ``jaxinv maximize``,
written into its summary.json and printed; one-line refusals (exit 2) of folders it cannot score."""

import json
import math
import pathlib
import shutil

import numpy as np
import pytest
from conftest import in_ci, run_main, shared_weights
from PIL import Image

from jaxinv.cli import main

JUDGE = "squeezenet1_1:pool10"
#: What a run's scores hold, whatever its kind.
KEYS = {"judge", "class_layer", "reference_pictures", "k", "plausibility", "kid", "kid_standard_error",
        "kid_subset_size", "kid_subsets", "transferability", "class_kept", "original_similarity",
        "original_plausibility", "notes", "pictures", "definitions", "reference", "seed"}
VALUES = ["-1", "0", "nan", "inf", "1e30", "word"]


def strict_json(path):
    return json.loads(path.read_text(), parse_constant=lambda word: pytest.fail(f"{word} in {path}"))


def run(argv, capsys):
    """``jaxinv ARGV`` in this process: (exit status, stdout, stderr)."""
    return run_main(main, argv, capsys)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An inversion (HOG, one seed) and a maximisation (SqueezeNet fire9/expand3x3 channel 0, two
    seeds) made by the command line, 5 steps each; each test scores a copy."""
    shared_weights()
    root = tmp_path_factory.mktemp("runs")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(root / "pic.png")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JAXINV_MAX_STEPS", "5")
        for argv in (["invert", str(root / "pic.png"), "--rep", "hog", "--out", str(root / "invert"), "-q"],
                     ["maximize", "squeezenet1_1:fire9/expand3x3", "--channel", "0", "--seeds", "2",
                      "--out", str(root / "maximize"), "-q"]):
            assert main(argv) == 0
    return root


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """The shared pictures (skipped without them here, failed in CI)."""
    from jaxinv.errors import JaxinvError
    from jaxinv.scores import reference_folder

    try:
        return reference_folder()
    except JaxinvError as exc:
        if in_ci():
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def copy(runs, kind, tmp_path):
    return shutil.copytree(runs / kind, tmp_path / kind)


def score(folder, capsys, *extra):
    return run(["score", str(folder), "--judge", JUDGE, "--limit", "6", *extra], capsys)


def assert_finite(entry):
    for key in ("plausibility", "kid", "kid_standard_error", "transferability", "class_kept", "original_similarity",
                "original_plausibility"):
        assert entry[key] is None or math.isfinite(entry[key]), key
        noted = "kid" if key.startswith("kid") else key  # KID's standard error shares KID's note
        assert (entry[key] is None) == (noted in entry["notes"]), key  # null exactly where a note says why


def test_score_an_invert_run(runs, references, tmp_path, capsys):
    folder = copy(runs, "invert", tmp_path)
    before = strict_json(folder / "summary.json")
    status, out, err = score(folder, capsys)
    assert status == 0, err
    summary = strict_json(folder / "summary.json")
    assert {k: v for k, v in summary.items() if k != "scores"} == before  # the pixel measures are kept
    entry = summary["scores"][JUDGE]
    assert set(entry) == KEYS and set(entry["definitions"]) >= KEYS - {"definitions"}
    assert entry["reference_pictures"] == 6 and entry["class_layer"] == "pool10" and entry["seed"] == 0
    (row,) = entry["pictures"]
    assert row["file"] == "reconstruction_0.png" and len(row["top_classes"]) == 5
    assert row["label"] == row["original_class"]  # an inversion's label: its original's top-1 class
    assert row["class_kept"] == (row["top_classes"][0] == row["original_class"])
    assert entry["kid"] is None and "at least 2 pictures" in entry["notes"]["kid"]  # one seed: no KID
    assert entry["transferability"] in (0.0, 1.0) and -1 <= entry["original_similarity"] <= 1
    assert_finite(entry)
    for words in ("plausibility", "KID", "transferability", "class kept", "similarity to the original",
                  "reconstruction_0.png", "summary.json"):
        assert words in out, words


def test_score_a_maximize_run_and_score_it_again(runs, references, tmp_path, capsys):
    folder = copy(runs, "maximize", tmp_path)
    status, out, err = score(folder, capsys)
    assert status == 0, err
    entry = strict_json(folder / "summary.json")["scores"][JUDGE]
    assert [row["file"] for row in entry["pictures"]] == ["neuron_0_seed0.png", "neuron_0_seed1.png"]
    assert entry["kid_subset_size"] == 2 and entry["kid_subsets"] == 100 and entry["kid_standard_error"] >= 0
    assert entry["transferability"] is None and "no class is known" in entry["notes"]["transferability"]
    assert entry["original_similarity"] is None and all(row["label"] is None for row in entry["pictures"])
    assert_finite(entry)
    assert "plausibility" in out and "KID" in out and "transferability" in out and "similarity" not in out
    status, _, err = score(folder, capsys, "--key", "1")  # the same judge again: its entry is replaced
    assert status == 0, err
    again = strict_json(folder / "summary.json")["scores"]
    assert list(again) == [JUDGE] and again[JUDGE]["seed"] == 1 and again[JUDGE]["kid"] != entry["kid"]
    assert again[JUDGE]["plausibility"] == pytest.approx(entry["plausibility"])
    status, _, err = run(["score", str(folder), "--judge", "squeezenet1_1:fire9", "--limit", "3"], capsys)
    assert status == 0, err  # another judge (an alias of fire9/concat) sits beside the first
    assert sorted(strict_json(folder / "summary.json")["scores"]) == sorted([JUDGE, "squeezenet1_1:fire9/concat"])


def broken(folder, how):
    """A copy of a run spoiled ``how``; returns (the folder to score, extra arguments)."""
    if how == "missing folder":
        return folder / "absent", []
    if how == "no summary":
        (folder / "summary.json").unlink()
    elif how == "unknown kind":
        (folder / "summary.json").write_text(json.dumps({"command": "dream", "pictures": ["x"]}))
    elif how == "not json":
        (folder / "summary.json").write_text("{half")
    elif how == "no pictures":
        for png in folder.glob("reconstruction_*.png"):
            png.unlink()
    elif how == "empty reference":
        (folder / "refs").mkdir()
        return folder, ["--reference", str(folder / "refs")]
    elif how == "missing reference":
        return folder, ["--reference", str(folder / "no-such-folder")]
    return folder, []


@pytest.mark.parametrize("how, words", [
    ("missing folder", "is not a folder"),
    ("no summary", "is not a jaxinv run folder: no summary.json; run jaxinv invert/maximize first"),
    ("unknown kind", "of a kind jaxinv score does not know"),
    ("not json", "is not JSON"),
    ("no pictures", "has no picture reconstruction_0.png"),
    ("hog judge", "--judge hog is not a network layer"),
    ("empty reference", "no pictures in"),
    ("missing reference", "is not a folder"),
])
def test_a_folder_it_cannot_score_is_refused_in_one_line(how, words, runs, references, tmp_path, capsys):
    folder, extra = broken(copy(runs, "invert", tmp_path), how)
    summary = folder / "summary.json"
    before = summary.read_bytes() if summary.is_file() else None
    judge = "hog" if how == "hog judge" else JUDGE
    status, out, err = run(["score", str(folder), "--judge", judge, "--limit", "2", *extra], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("jaxinv: error: ") and words in lines[0], lines[0]
    assert (summary.read_bytes() if summary.is_file() else None) == before and not out


@pytest.mark.parametrize("option", ["--limit", "--seed", "--key"])
@pytest.mark.parametrize("value", VALUES)
def test_numeric_options_refuse_bad_numbers_in_one_line(option, value, runs, references, tmp_path, capsys):
    """The battery of tests/test_cli_battery.py: only a seed of 0 is legal among the values."""
    folder = copy(runs, "maximize", tmp_path)
    status, _, err = run(["score", str(folder), "--judge", JUDGE, "--limit", "2", option, value], capsys)
    if option != "--limit" and value == "0":
        assert status == 0, err
        return
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1 and "error" in lines[0] and "Traceback" not in err, err
    assert "scores" not in strict_json(folder / "summary.json")


def test_the_module_imports_no_jax_until_it_runs():
    """Like the other CLI modules: building the parser imports only the standard library from it."""
    import ast

    import jaxinv.cli_score

    tree = ast.parse(pathlib.Path(jaxinv.cli_score.__file__).read_text(encoding="utf-8"))
    top = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert not {name for name in top if name.split(".")[0] in ("jax", "jaxinv", "numpy")}, top
