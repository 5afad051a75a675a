"""benchmarks/priors.py: its layers exist, bad choices are refused in one line, and both tables
from a tiny fake record (no optimisation)."""

import sys

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import priors as bench  # noqa: E402

from jaxinv.networks.registry import resolve_layer  # noqa: E402


def test_the_default_layers_exist_and_bad_choices_are_refused(capsys):
    for layer in bench.LAYERS:  # resolve_layer raises on a name the network lacks
        network, _, name = layer.partition(":")
        assert resolve_layer(network, name)
    args = bench.parse(["--layers", "", "--classes", "googlenet", "--priors", "lucid"])
    assert args.layers == [] and args.classes == ["googlenet"] and args.priors == ["lucid"]
    for argv, words in [(["--classes", "vgg16"], "--classes: unknown network 'vgg16'"),
                        (["--priors", "fourier"], "--priors: unknown prior 'fourier'"),
                        (["--layers", "googlenet"], "is not NETWORK:LAYER")]:
        with pytest.raises(SystemExit):
            bench.parse(argv)
        err = capsys.readouterr().err.strip()
        assert words in err and "Traceback" not in err


def test_the_class_table_counts_what_each_judge_recognised():
    def row(unit, own, other, relative, prior="lucid"):
        return {"what": "class", "network": "squeezenet1_1", "prior": prior, "unit": unit, "own_top1": own,
                "other_top5": other, "relative": relative, "seconds": 4.0}

    rows = [row(99, 99, [1, 2, 3, 4, 99], 2.0), row(250, 7, [250, 1, 2, 3, 4], 4.0), row(251, 251, [0] * 5, 9.0),
            row(99, 3, [0] * 5, 1.0, prior="maco"),
            {"layer": "squeezenet1_1:fire3", "picture": "p", "prior": "lucid"}]  # an inversion row is skipped
    text = bench.class_table(rows, ["squeezenet1_1"], ["lucid", "maco", "dip"])
    assert "| squeezenet1_1 | lucid | 3 | 2 | 2 | 4.0 | 4 |" in text
    assert "| squeezenet1_1 | maco | 1 | 0 | 0 | 1.0 | 4 |" in text
    assert "| dip |" not in text  # no rows, no line
    assert bench.class_table(rows, ["googlenet"], ["lucid"]) == ""  # and no table


def test_the_class_figure_has_a_row_per_prior_with_all_ten_pictures(tmp_path):
    import numpy as np

    from jaxinv import images

    for name, count in (("lucid", 10), ("maco", 10), ("dip", 3)):  # dip lacks pictures: no row
        for unit in list(bench.CLASSES.values())[:count]:
            images.save_png(tmp_path / "pictures" / "classes" / "googlenet" / name / f"{unit}.png",
                            np.full((224, 224, 3), 9.0, np.float32))
    path = bench.class_figure(tmp_path, "googlenet", ["lucid", "maco", "dip"])
    assert path == tmp_path / "classes_googlenet.png"
    assert images.load(path).shape == (2 * 116, 10 * 116, 3)
    assert bench.class_figure(tmp_path, "squeezenet1_1", ["lucid"]) is None


def test_table_only_rebuilds_the_tables_from_the_rows_and_runs_nothing(tmp_path):
    from jaxinv.errors import JaxinvError
    from jaxinv.results import ResultsFile

    argv = ["--table-only", "--out", str(tmp_path), "--layers", "", "--classes", "googlenet", "--priors", "maco"]
    with pytest.raises(JaxinvError, match="--table-only: no results at"):
        bench.main(argv)
    rows = [{"key": f"googlenet|class|maco|{unit}", "what": "class", "network": "googlenet", "prior": "maco",
             "unit": unit, "own_top1": unit, "other_top5": [unit, 0, 1, 2, 3], "relative": 3.0, "seconds": 2.0}
            for unit in list(bench.CLASSES.values())[:9]]  # one class missing: a run would make it
    ResultsFile(tmp_path / "priors.jsonl", {"seed": 0, "shorten": 1.0}).append(rows)
    before = (tmp_path / "priors.jsonl").read_bytes()
    bench.main(argv)
    assert "| googlenet | maco | 9 | 9 | 9 | 3.0 | 2 |" in (tmp_path / "priors.md").read_text()
    assert (tmp_path / "priors.jsonl").read_bytes() == before
    assert not (tmp_path / "pictures").exists()
