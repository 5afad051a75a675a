"""benchmarks/priors.py: its layers exist, bad choices are refused in one line, and both tables
from a tiny fake record (no optimisation)."""

from types import SimpleNamespace

import numpy as np
import priors as bench
import pytest

from jaxinv import images
from jaxinv.networks.registry import resolve_layer
from jaxinv.results import ResultsFile


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


def test_the_figures_have_a_row_per_prior_done_and_wait_for_missing_pictures(tmp_path):
    import numpy as np

    from jaxinv import images

    tile = np.full((224, 224, 3), 9.0, np.float32)
    done = set()
    for name, count in (("lucid", 10), ("maco", 10), ("dip", 3)):  # dip has 3 classes: no row
        for c, unit in list(bench.CLASSES.items())[:count]:
            images.save_png(tmp_path / "pictures" / "classes" / "googlenet" / name / f"{unit}.png", tile)
            done.add(f"googlenet|class|{name}|{c}")
    path = bench.class_figure(tmp_path, "googlenet", ["lucid", "maco", "dip"], done)
    assert path == tmp_path / "classes_googlenet.png"
    assert images.load(path).shape == (2 * 116, 10 * 116, 3)
    assert bench.class_figure(tmp_path, "squeezenet1_1", ["lucid"], done) is None
    layers = ["squeezenet1_1:fire3", "squeezenet1_1:fire7", "squeezenet1_1:pool10", "googlenet:conv2/3x3"]
    for name in ("paper", "dip"):
        for layer in layers[:3]:
            images.save_png(bench.picture_path(tmp_path, layer, name, "p"), tile)
            done.add(f"{layer}|{name}|p")
    drawn = bench.figure(tmp_path, layers, ["paper", "lucid", "dip"], "p", done)  # lucid not done: no row
    assert images.load(drawn).shape == (2 * 164, 3 * 164, 3)
    done.add(f"{layers[0]}|lucid|p")
    done |= {f"{layer}|maco|p" for layer in layers[:3]}  # recorded, PNGs missing (a fresh checkout)
    (tmp_path / "priors.png").unlink()
    assert bench.figure(tmp_path, layers, ["paper", "maco", "dip"], "p", done) is None
    assert not (tmp_path / "priors.png").exists()


def test_the_table_on_dips_pictures_averages_every_prior_over_the_same_ones():
    layer = "squeezenet1_1:fire3"
    found = {layer: {"n1": 100.0, "n2": 400.0, "norms": {"a": 20.0, "b": 60.0}}}

    def row(prior, picture, distance):
        return {"layer": layer, "prior": prior, "picture": picture, "distance": distance, "psnr": 20.0,
                "ssim": 0.5, "own_top1": True, "other_top1": picture == "a", "seconds": 1.0}

    rows = [row("paper", "a", 10.0), row("paper", "b", 30.0), row("dip", "a", 5.0)]
    pictures = [("a", None), ("b", None)]
    # printed mean(d)/N1 = 20/100; squared mean(d²)/N2 = 500/400; IJCV mean(d²/|Φ0|²) = (0.25 + 0.25)/2
    assert "| squeezenet1_1:fire3 | paper | 2 | 20.0 % | 125.00 % | 0.25 |" in bench.table(
        rows, [layer], ["paper", "dip"], pictures, normalisers=found)
    same = bench.table(rows, [layer], ["paper", "dip"], pictures, on="dip", normalisers=found)
    assert "| squeezenet1_1:fire3 | paper | 1 | 10.0 % | 25.00 % | 0.25 | 20.00 | 0.500 | 1/1 | 1/1 | 1 |" in same
    assert "| squeezenet1_1:fire3 | dip | 1 | 5.0 % | 6.25 % | 0.0625 |" in same


def test_the_normalisers_are_the_metrics_of_the_layers_codes(monkeypatch):
    from jaxinv import metrics

    codes = {"a": np.array([3.0, 4.0]), "b": np.array([0.0, 0.0]), "c": np.array([6.0, 8.0])}
    rep = SimpleNamespace(params=None, preprocess=lambda name: name, features=lambda params, name: codes[name])
    monkeypatch.setattr(bench.common, "representation", lambda layer: rep)
    found = bench.set_normalisers("any:layer", [(n, n) for n in codes])
    listed = list(codes.values())
    assert found["n1"] == metrics.mean_pairwise_distance(listed) and found["n2"] == metrics.mean_pairwise_sq_distance(listed)
    assert found["norms"] == {"a": 5.0, "b": 0.0, "c": 10.0}


def test_table_only_rebuilds_the_tables_from_the_rows_and_runs_nothing(tmp_path):
    from jaxinv.errors import JaxinvError
    from jaxinv.results import ResultsFile

    argv = ["--table-only", "--out", str(tmp_path), "--layers", "", "--classes", "googlenet", "--priors", "maco"]
    with pytest.raises(JaxinvError, match="--table-only: no results at"):
        bench.main(argv)
    rows = [{"key": f"googlenet|class|{name}|{unit}", "what": "class", "network": "googlenet", "prior": name,
             "unit": unit, "own_top1": unit, "other_top5": [unit, 0, 1, 2, 3], "relative": 3.0, "seconds": 2.0}
            for name in ("lucid", "maco") for unit in list(bench.CLASSES.values())[:9]]  # a run would make the 10th
    ResultsFile(tmp_path / "priors.jsonl", {"seed": 0, "shorten": 1.0}).append(rows)
    before = (tmp_path / "priors.jsonl").read_bytes()
    bench.main(argv)
    text = (tmp_path / "priors.md").read_text()
    assert "| googlenet | maco | 9 | 9 | 9 | 3.0 | 2 |" in text
    assert "| googlenet | lucid | 9 |" in text  # every prior recorded, not only those --priors runs
    assert (tmp_path / "priors.jsonl").read_bytes() == before
    assert not (tmp_path / "pictures").exists()


def test_table_only_writes_the_class_table_from_the_rows(tmp_path):
    from jaxinv.results import ResultsFile

    rows = [{"key": f"googlenet|class|maco|{unit}", "what": "class", "network": "googlenet", "prior": "maco",
             "unit": unit, "own_top1": unit, "other_top5": [unit, 0, 1, 2, 3], "relative": 3.0, "seconds": 2.0}
            for unit in bench.CLASSES.values()]
    ResultsFile(tmp_path / "priors.jsonl", {"seed": 0, "shorten": 1.0}).append(rows)
    bench.main(["--table-only", "--out", str(tmp_path), "--layers", "", "--classes", "googlenet"])
    text = (tmp_path / "priors.md").read_text()
    assert "| network | prior |" in text and "| googlenet | maco | 10 | 10 | 10 | 3.0 | 2 |" in text


def test_classes_run_in_batches_and_resume_where_the_rows_stop(tmp_path, monkeypatch):
    """--class-batch: each batch's rows are written when it ends; a rerun maximises only the rest."""
    asked = []

    def fake_maximize(rep, objectives, *, key, prior, **length):
        asked.append([int(o.index) for o in objectives])  # class_logit(unit) objectives
        return SimpleNamespace(images=np.full((len(objectives), 1, 4, 4, 3), 128, np.uint8),
                               relative=np.full((len(objectives), 1), float(len(asked))), seconds=2.0 * len(objectives))

    def fake_judge(judges_, network, shown):
        return np.arange(len(shown)), np.zeros((len(shown), 5), int)

    monkeypatch.setattr(bench, "maximize", fake_maximize)
    monkeypatch.setattr(bench.judges, "judge_classes", fake_judge)
    monkeypatch.setattr(bench.common, "representation", lambda layer: None)
    monkeypatch.setattr(bench, "schedule_of", lambda rep, name, shorten: None)
    args = bench.parse(["--layers", "", "--classes", "googlenet", "--class-batch", "4", "--out", str(tmp_path)])
    results = ResultsFile(tmp_path / "priors.jsonl", {"seed": 0, "shorten": 1.0})
    units = list(bench.CLASSES.values())
    results.append([{"key": bench.class_key("googlenet", "dip", name), "what": "class"} for name in list(bench.CLASSES)[:3]])
    folder = tmp_path / "pictures" / "classes" / "googlenet" / "dip"
    for unit in units[:3]:
        images.save_png(folder / f"{unit}.png", np.zeros((4, 4, 3), np.float32))
    bench.run_classes("googlenet", "dip", args, results, {})
    assert asked == [units[3:7], units[7:10]]  # the three done are not run again; batches of 4
    rows = [r for r in results.rows if r.get("prior") == "dip" and "unit" in r]
    assert [r["unit"] for r in rows] == units[3:] and all(r["seconds"] == 2.0 for r in rows)
    assert (folder / f"{units[9]}.png").is_file()
    bench.run_classes("googlenet", "dip", args, results, {})
    assert len(asked) == 2  # all ten recorded: nothing to run
    (folder / f"{units[5]}.png").unlink()  # a fresh checkout: the row is there, its picture is not
    count = len(results.rows)
    bench.run_classes("googlenet", "dip", args, results, {})
    assert asked[2] == [units[5]] and (folder / f"{units[5]}.png").is_file() and len(results.rows) == count
    remade = [r for r in ResultsFile(tmp_path / "priors.jsonl", {"seed": 0, "shorten": 1.0}).rows if "unit" in r]
    assert [r["unit"] for r in remade] == units[3:] and remade[2]["relative"] == 3.0  # the row follows the picture
    assert [r["relative"] for r in remade[:2] + remade[3:]] == [1.0] * 3 + [2.0] * 3
    with pytest.raises(SystemExit):
        bench.parse(["--class-batch", "0"])


def test_each_priors_ten_class_pictures_are_scored_once_they_are_all_made(tmp_path, monkeypatch):
    asked = []

    def fake_score_set(pictures, network, *, labels=None, originals=None, seed=0):
        asked.append((len(pictures), network, labels, seed))
        return {"transferability": 0.3, "plausibility": 0.125, "kid": 0.0456, "kid_standard_error": 0.007}

    monkeypatch.setattr(bench.judges, "score_set", fake_score_set)
    monkeypatch.setattr(bench.path_check, "class_paths", lambda network, pictures, classes: {
        "summaries": [0.1 * i for i in range(len(pictures))], "flagged": [i < 2 for i in range(len(pictures))]})
    args = bench.parse(["--layers", "", "--out", str(tmp_path), "--seed", "3"])
    scores = ResultsFile(tmp_path / "class_scores.jsonl", {"seed": 3, "shorten": 1.0})
    folder = tmp_path / "pictures" / "classes" / "googlenet" / "lucid"
    units = list(bench.CLASSES.values())
    for unit in units[:9]:
        images.save_png(folder / f"{unit}.png", np.zeros((4, 4, 3), np.float32))
    bench.score_classes("googlenet", "lucid", args, scores)
    assert asked == []  # nine of ten: not yet a set
    images.save_png(folder / f"{units[9]}.png", np.zeros((4, 4, 3), np.float32))
    bench.score_classes("googlenet", "lucid", args, scores)
    bench.score_classes("googlenet", "lucid", args, scores)
    assert asked == [(10, "googlenet", units, 3)]  # once, with the classes as labels
    rows = [{"what": "class", "network": "googlenet", "prior": "lucid", "unit": u, "own_top1": u,
             "other_top5": [0] * 5, "relative": 2.0, "seconds": 1.0} for u in units]
    text = bench.class_table(rows, ["googlenet"], ["lucid"], scores.rows)
    # the path check's median summary of 0, 0.1, ..., 0.9 and its two flags
    assert "| googlenet | lucid | 10 | 10 | 0 | 2.0 | 1 | 0.125 | 0.0456 ± 0.007 | 0.450 | 2/10 |" in text
    assert "| googlenet | lucid | 10 | 10 | 0 | 2.0 | 1 | — | — | — | — |" in bench.class_table(rows, ["googlenet"], ["lucid"])
