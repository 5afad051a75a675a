"""``jaxinv maximize`` and ``jaxinv caricature``: outputs, one-line errors with exit status 2."""

import json

import numpy as np
import pytest
from PIL import Image

from conftest import shared_weights

from jaxinv.cli import main

WEIGHTS = ("squeezenet_v1.1", "squeezenet_v1.1.caffemodel")
REP = "squeezenet1_1:fire3/expand3x3"


@pytest.fixture(scope="module")
def weights():
    return str(shared_weights().joinpath(*WEIGHTS))


@pytest.fixture(scope="module")
def picture_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("pics") / "pic.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_maximize_writes_a_grid_one_cell_per_channel(tmp_path, weights, capsys):
    out = tmp_path / "max"
    code = main(["maximize", REP, "--channel", "2", "--channel", "7", "--seeds", "2", "--iterations", "5",
                 "--weights", weights, "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    names = sorted(p.name for p in out.iterdir())
    assert "grid.png" in names and "summary.json" in names and "neuron_7_seed1.png" in names  # --channel 7: its centre neuron (--average: the channel)
    assert len([n for n in names if n.endswith("_stretched.png")]) == 4
    summary = json.loads((out / "summary.json").read_text(), parse_constant=pytest.fail)
    assert [c["label"] for c in summary["cells"]] == ["neuron 2", "neuron 7"]
    assert summary["image_size"] == 32 and len(summary["cells"][0]["values"]) == 2
    assert Image.open(out / "grid.png").size == (2 * 2 * 32, 2 * 32)  # ⌈√2⌉ cells a row, 2 seeds each
    assert "x its extreme over the 100 ImageNet pictures" in capsys.readouterr().out


def test_maximize_under_a_named_prior_runs_its_schedule(tmp_path, weights, capsys):
    out = tmp_path / "maco"
    code = main(["maximize", REP, "--channel", "2", "--prior", "maco", "--weights", weights, "--out", str(out),
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text(), parse_constant=pytest.fail)
    assert summary["prior"] == "maco" and summary["iterations"] == 300  # maco's own 200 + 100 steps
    assert summary["schedule"]["total"] == 300 and summary["schedule"]["rates"] == "Adam's learning rates"
    assert [(s["learning_rate"], s["iterations"]) for s in summary["schedule"]["stages"]] == [(0.2, 200), (0.02, 100)]
    assert "relative" in summary["definitions"] and "method" not in summary
    assert summary["cells"][0]["values"][0] > summary["cells"][0]["reference"]  # past every picture
    assert "300 iterations (maco)" in capsys.readouterr().out


@pytest.mark.parametrize("prior, stages", [("maco", [(0.2, 4), (0.02, 2)]), ("ijcv", [(1.0, 6)])])
def test_maximize_iterations_are_the_steps_in_all_under_every_prior(prior, stages, tmp_path, weights, capsys):
    """--iterations N runs N steps under any prior (a named prior's stages scaled to N) and
    summary.json records the steps and the stages that ran."""
    out = tmp_path / prior
    code = main(["maximize", REP, "--channel", "2", "--prior", prior, "--iterations", "6", "--weights", weights,
                 "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text(), parse_constant=pytest.fail)
    assert summary["prior"] == prior and summary["iterations"] == summary["schedule"]["total"] == 6
    assert [(s["learning_rate"], s["iterations"]) for s in summary["schedule"]["stages"]] == stages
    assert f"6 iterations ({prior})" in capsys.readouterr().out


def test_caricature_writes_the_picture_and_its_caricature(tmp_path, weights, picture_file, capsys):
    out = tmp_path / "car"
    code = main(["caricature", picture_file, "--rep", REP, "--iterations", "5", "--image-size", "48",
                 "--weights", weights, "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert {"original.png", "caricature_seed0.png", "summary.json"} <= {p.name for p in out.iterdir()}
    assert Image.open(out / "original.png").size == (48, 48)
    summary = json.loads((out / "summary.json").read_text(), parse_constant=pytest.fail)
    assert summary["cells"][0]["reference"] == pytest.approx(1.0, rel=1e-4)
    assert summary["prior"] == "ijcv" and summary["iterations"] == summary["schedule"]["total"] == 5


@pytest.mark.parametrize("args, words", [
    (["maximize", REP, "--channel", "64"], "channel 64 is out of range"),
    (["maximize", "squeezenet1_1:pool10", "--class", "1000"], "class 1000 is out of range"),
    (["maximize", REP, "--channel", "0", "--neuron", "40,0"], "neuron row 40"),
    (["maximize", REP, "--channel", "0", "--neuron", "x"], "ROW,COLUMN"),
    (["maximize", REP, "PICTURE", "--channel", "0"], "takes no picture"),
    (["maximize", REP], "--channel K"),
    (["maximize", REP, "--channel", "-1"], "out of range"),
    (["maximize", "hog", "--channel", "0"], "not a network layer"),
    (["maximize", REP, "--channel", "0", "--prior", "lucid", "--iterations", "2"],
     "--iterations 2 is fewer than the 3 stages of lucid's schedule; use at least 3"),
    (["maximize", REP, "--channel", "0", "--prior", "fourier"], "invalid choice: 'fourier'"),
    (["caricature", "--rep", REP], "needs a picture"),
    (["caricature", "PICTURE"], "--rep"),
])
def test_bad_input_gives_one_line_and_status_2(args, words, weights, picture_file, tmp_path, capsys):
    args = [picture_file if a == "PICTURE" else a for a in args]
    if args[1] != "hog" and "--rep" in args or args[0] == "maximize" and args[1] != "hog":
        args += ["--weights", weights]
    try:
        code = main([*args, "--out", str(tmp_path / "o"), "--no-progress"])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()
