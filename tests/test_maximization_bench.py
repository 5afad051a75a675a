"""benchmarks/maximization.py: the table and the figures from a tiny fake record (no optimisation),
the class list against synset_words.txt, and the per-scale file names."""

import json

import maximization
import numpy as np
import pytest
from conftest import shared_weights

from jaxinv import images


def fake_rows():
    """Two channels of one layer, two classes (one recognised by each judge), one caricature."""
    channel = {"network": "squeezenet1_1", "what": "channel", "layer": "fire3/expand3x3", "setting": "authors",
               "image_size": 32, "iterations": 100}
    klass = {"network": "squeezenet1_1", "what": "class", "setting": "authors", "image_size": 112,
             "iterations": 100}
    return [
        {**channel, "key": "a", "unit": 0, "relative": 1.5, "seconds": 2.0},
        {**channel, "key": "b", "unit": 1, "relative": 2.5, "seconds": 4.0},
        {**klass, "key": "c", "unit": 99, "class_name": "goose", "relative": 0.5, "own_top1": 99,
         "other_top5": [1, 2, 3, 4, 5], "seconds": 1.0},
        {**klass, "key": "d", "unit": 250, "class_name": "Siberian husky", "relative": 1.5, "own_top1": 7,
         "other_top5": [250, 2, 3, 4, 5], "seconds": 1.0},
        {"network": "googlenet", "what": "caricature", "layer": "inception_4d/output", "picture": "n0_x",
         "setting": "authors", "key": "e", "relative": 3.0, "image_size": 224, "iterations": 100, "seconds": 9.0},
    ]


def test_table_summarises_each_group_by_hand():
    text = maximization.table(fake_rows())
    # channels: mean of 1.5 and 2.5, their range, mean seconds 3
    assert "| squeezenet1_1 | fire3/expand3x3 | authors | 32 | 100 | 2 | 2.00 (1.50–2.50) | 3 |" in text
    # classes: goose is its own top-1 (1/2), the husky is in the other's top-5 (1/2)
    assert "| squeezenet1_1 | logits | authors | 112 | 100 | 2 | 1.00 (0.50–1.50) | 1/2 | 1/2 (judge: googlenet) |" in text
    assert "| googlenet | inception_4d/output | 224 | 100 | 1 | 3.00 (3.00–3.00) |" in text


def test_figures_are_drawn_from_the_saved_pictures(tmp_path):
    rows = fake_rows()
    for row in rows:
        images.save_png(maximization.picture_path(tmp_path / "pictures" / "stem", row["key"]), np.full((8, 8, 3), 40.0 + len(row["key"])))
    drawn = maximization.draw(tmp_path, rows, "squeezenet1_1", "stem")
    assert sorted(p.name for p in drawn) == ["stem_squeezenet1_1_channels.png", "stem_squeezenet1_1_classes.png"]
    assert all(images.load(p).shape[-1] == 3 for p in drawn)


def test_outputs_are_strict_markdown_and_the_name_says_the_scale(tmp_path):
    args = maximization.parse(["--iterations-scale", "0.5", "--image-size", "96"])
    assert maximization.scale_name(args) == "maximization_x0.5_s96" and maximization.iterations(args) == 150
    assert maximization.capped(227, args) == 96 and maximization.capped(32, args) == 32
    assert maximization.scale_name(maximization.parse([])) == "maximization_x1_authors"
    maximization.write_outputs(tmp_path, "stem", fake_rows()[:2], [], ["--channels", "2"])
    assert (tmp_path / "stem.md").read_text().startswith("`python benchmarks/maximization.py --channels 2`")
    json.dumps(fake_rows(), allow_nan=False)


def test_another_prior_runs_its_own_schedule_in_its_own_file_without_caricatures(capsys):
    from jaxinv.core.priors import FAST_SCHEDULES

    fast = maximization.parse(["--prior", "fast", "--iterations-scale", "0.5"])
    assert fast.parts == ["channels", "classes"] and maximization.scale_name(fast) == "maximization_x0.5_authors_prior-fast"
    assert maximization.length(fast)["schedule"] == FAST_SCHEDULES["cnn"].shortened(0.5)
    assert maximization.iterations(fast) == FAST_SCHEDULES["cnn"].shortened(0.5).total and maximization.authors_iterations(fast) == 150
    assert maximization.length(maximization.parse([])) == {"iterations": 300}
    with pytest.raises(SystemExit) as stop:
        maximization.parse(["--prior", "fast", "--parts", "caricatures"])
    assert stop.value.code == 2 and "drop it with --prior fast" in capsys.readouterr().err


def test_unknown_network_or_setting_is_refused(capsys):
    assert maximization.parse(["--parts", "classes,caricatures"]).parts == ["classes", "caricatures"]
    for argv in (["--networks", "alexnet"], ["--settings", "loud"], ["--parts", "units"]):
        with pytest.raises(SystemExit) as stop:
            maximization.parse(argv)
        assert stop.value.code == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_classes_are_the_named_lines_of_synset_words():
    lines = (shared_weights() / "synset_words.txt").read_text().splitlines()
    for name, index in maximization.CLASSES.items():
        words = "washer" if name == "washing machine" else name  # its line: "washer, automatic washer, washing machine"
        assert words.lower() in lines[index].lower(), (name, lines[index])


def test_rows_written_are_done_after_a_reload(tmp_path):
    from jaxinv.results import ResultsFile

    first = ResultsFile(tmp_path / "r.jsonl", {"seed": 0})
    first.append(fake_rows())
    again = ResultsFile(tmp_path / "r.jsonl", {"seed": 0})
    assert again.done() == {"a", "b", "c", "d", "e"}  # a row's own "kind" would hide it from a resumed run
    assert maximization.table(again.rows) == maximization.table(fake_rows())


def test_the_sets_are_scored_once_each_from_their_pictures(tmp_path, monkeypatch):
    from jaxinv.results import ResultsFile

    rows, folder = fake_rows(), tmp_path / "pictures"
    rows[4] = {**rows[4], "network": "squeezenet1_1"}
    for key in ("a", "b", "c", "d", "e", "squeezenet1_1|original|n0_x"):
        images.save_png(maximization.picture_path(folder, key), np.full((8, 8, 3), 50.0))
    asked = []

    def fake_score_set(pictures, network, *, labels=None, originals=None, seed=0):
        asked.append((len(pictures), network, labels, None if originals is None else len(originals)))
        return {"plausibility": 0.25, "kid": 0.0123, "kid_standard_error": 0.004, "class_kept": 1.0,
                "original_similarity": 0.5}

    monkeypatch.setattr(maximization.judges, "score_set", fake_score_set)
    monkeypatch.setattr(maximization.path_check, "class_paths", lambda network, pictures, classes: {
        "summaries": [0.5, 0.25], "flagged": [False, True], "classes": classes})
    scores = ResultsFile(tmp_path / "scores.jsonl", {"seed": 0})
    maximization.score_sets("squeezenet1_1", rows, scores, folder, 0)
    # the two classes with their labels, the caricature with its original; channels are no set here
    assert asked == [(2, "squeezenet1_1", [99, 250], None), (1, "squeezenet1_1", None, 1)]
    maximization.score_sets("squeezenet1_1", rows, scores, folder, 0)
    assert len(asked) == 2  # scored sets are not scored again
    text = maximization.table(rows, scores.rows)
    assert "| 1/2 (judge: googlenet) | 0.250 | 0.0123 ± 0.004 | 0.375 | 1/2 |" in text
    assert scores.rows[0]["path"]["classes"] == [99, 250]  # each picture checked for its own class
    assert "| 3.00 (3.00–3.00) | 1.000 | 0.500 | 0.250 |" in text
    assert "| 1/2 (judge: googlenet) | — | — | — | — |" in maximization.table(rows)  # unscored: dashes


def test_a_recorded_result_whose_picture_is_gone_is_made_again_and_not_recorded_twice(tmp_path, capsys):
    from jaxinv.results import ResultsFile

    results = ResultsFile(tmp_path / "r.jsonl", {"seed": 0})
    results.append([{"key": "a", "value": 2.0}])
    assert maximization.missing(["a"], results, tmp_path)  # recorded, but no picture
    images.save_png(maximization.picture_path(tmp_path, "a"), np.zeros((4, 4, 3)))
    assert not maximization.missing(["a"], results, tmp_path) and maximization.missing(["a", "b"], results, tmp_path)
    maximization.record(results, [{"key": "a", "value": 3.0}, {"key": "b", "value": 1.0}])
    assert [r["key"] for r in results.rows] == ["a", "b"] and results.rows[0]["value"] == 2.0
    assert "a: made again, value 3 against 2 recorded" in capsys.readouterr().out
