"""Runs keep to themselves: a folder per run, --out refused over another run without --overwrite,
progress by default only on a terminal and none with --quiet (`jaxinv.cli_runs`)."""

import json
import re
import sys

import numpy as np
import pytest
from PIL import Image

import jaxinv.cli
from jaxinv.cli_runs import Output, claim, previous_results

#: A tiny inversion: average pooling of a 20x24 picture, two steps.
FAST = ["--rep", "avgpool", "--schedule", "0.004x2"]


@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "pic.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(path)
    return str(path)


def run(argv, capsys):
    """``jaxinv ARGV`` in this process: (exit status, stdout, stderr)."""
    status = jaxinv.cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_two_runs_without_out_write_to_two_new_folders(picture, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    first = run(["invert", picture, *FAST, "-q"], capsys)
    second = run(["invert", picture, *FAST, "--seeds", "2", "-q"], capsys)
    assert first[0] == second[0] == 0, (first, second)
    folders = sorted((tmp_path / "jaxinv-out").iterdir())
    assert len(folders) == 2 and all(re.fullmatch(r"invert-\d{8}-\d{6}(-\d+)?", f.name) for f in folders)
    said = [re.search(r"pictures in (\S+)/$", out.strip()).group(1) for _, out, _ in (first, second)]
    assert said[0] != said[1] and sorted(tmp_path / s for s in said) == folders
    runs = [json.loads((tmp_path / s / "summary.json").read_text()) for s in said]
    assert [len(r["seeds"]) for r in runs] == [1, 2]
    assert sorted(p.name for p in (tmp_path / said[0]).iterdir()) == [
        "original.png", "reconstruction_0.png", "reconstruction_0_stretched.png", "summary.json"]


def test_out_of_another_run_is_refused_in_one_line_and_kept(picture, tmp_path, capsys):
    out = tmp_path / "o"
    assert run(["invert", picture, *FAST, "--seeds", "2", "--out", str(out), "-q"], capsys)[0] == 0
    before = snapshot(out)
    status, stdout, err = run(["invert", picture, *FAST, "--out", str(out), "-q"], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1 and "Traceback" not in err and stdout == "", err
    assert lines[0].startswith("jaxinv: error: --out") and "another run's results" in lines[0]
    assert "--overwrite" in lines[0]
    assert snapshot(out) == before


def test_overwrite_replaces_the_earlier_run_leaving_none_of_its_files(picture, tmp_path, capsys):
    out = tmp_path / "o"
    assert run(["invert", picture, *FAST, "--seeds", "3", "--out", str(out), "-q"], capsys)[0] == 0
    (out / "notes.txt").write_text("mine")  # not a result: left alone
    status, _, err = run(["invert", picture, *FAST, "--out", str(out), "--overwrite", "-q"], capsys)
    assert status == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "original.png", "reconstruction_0.png",
                                                     "reconstruction_0_stretched.png", "summary.json"]
    assert len(json.loads((out / "summary.json").read_text())["seeds"]) == 1


def test_a_half_written_run_counts_as_a_run(picture, tmp_path, capsys):
    """Pictures without a summary.json (a run that stopped) are refused too: nothing would mix."""
    out = tmp_path / "o"
    out.mkdir()
    (out / "reconstruction_4.png").write_bytes(b"old")
    status, _, err = run(["invert", picture, *FAST, "--out", str(out), "-q"], capsys)
    assert status == 2 and "reconstruction_4.png" in err and "--overwrite" in err
    assert run(["invert", picture, *FAST, "--out", str(out), "--overwrite", "-q"], capsys)[0] == 0
    assert not (out / "reconstruction_4.png").exists()


def test_an_out_with_other_files_only_is_written(picture, tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert run(["invert", picture, *FAST, "--out", str(out), "-q"], capsys)[0] == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "summary.json").is_file()


def test_claim_removes_what_maximize_and_caricature_wrote(tmp_path):
    folder = tmp_path / "o"
    folder.mkdir()
    names = ["channel_3_seed0.png", "channel_3_seed0_stretched.png", "min_class_145_seed1.png", "grid.png",
             "original.png", "summary.json"]
    for name in [*names, "keep.png"]:
        (folder / name).write_bytes(b"x")
    assert [p.name for p in previous_results(folder)][-1] == "summary.json"
    assert sorted(p.name for p in previous_results(folder)) == sorted(names)
    refused = Output("maximize", folder, tmp_path, "20250101-000000", overwrite=False)
    with pytest.raises(jaxinv.JaxinvError, match="--overwrite"):
        claim(refused)
    assert claim(Output("maximize", folder, tmp_path, "20250101-000000", overwrite=True)) == folder
    assert [p.name for p in folder.iterdir()] == ["keep.png"]


def test_default_folders_are_claimed_exclusively(tmp_path):
    output = Output("caricature", None, tmp_path / "jaxinv-out", "20250101-000000", overwrite=False)
    made = [claim(output) for _ in range(3)]
    assert [p.name for p in made] == ["caricature-20250101-000000", "caricature-20250101-000000-2",
                                      "caricature-20250101-000000-3"]
    assert all(p.is_dir() for p in made)


def test_bad_input_creates_no_default_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, _, err = run(["invert", "/no/such/picture.png", "-q"], capsys)
    assert status == 2 and "not found" in err
    assert not (tmp_path / "jaxinv-out").exists()


def test_quiet_says_nothing_on_stderr_and_a_terminal_gets_a_bar(picture, tmp_path, monkeypatch, capsys):
    status, out, err = run(["invert", picture, *FAST, "--out", str(tmp_path / "q"), "--quiet"], capsys)
    assert status == 0 and err == "" and "pictures in" in out
    status, _, err = run(["invert", picture, *FAST, "--out", str(tmp_path / "p")], capsys)
    assert status == 0 and err.startswith("jaxinv: inverting") and err.count("\n") == 1, err  # no terminal: no bar
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    status, _, err = run(["invert", picture, *FAST, "--out", str(tmp_path / "t")], capsys)
    assert status == 0 and "inverting avgpool2:" in err and "0/2 [" in err, err  # tqdm's bar, labelled
    status, _, err = run(["invert", picture, *FAST, "--out", str(tmp_path / "n"), "--no-progress"], capsys)
    assert status == 0 and err == ""  # the old name of --quiet
