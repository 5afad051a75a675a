"""benchmarks/path_check.py: the flag rule on constructed features, the adversarial loop on a small
picture, the table from rows alone, and bad input refused in one line."""

import dataclasses

import jax
import numpy as np
import path_check as bench
import pytest
from conftest import shared_weights

from jaxinv.networks.registry import resolve_layer
from jaxinv.results import ResultsFile


def natural_means(key, *, count=40, channels=(12, 12, 12), noise=0.3):
    """Per layer (count, C_l) codes of "natural" pictures: one shared pattern plus noise, and the unit values."""
    keys = jax.random.split(key, 2 * len(channels) + 1)
    means = []
    for i, c in enumerate(channels):
        base = jax.random.uniform(keys[2 * i], (1, c))
        means.append(np.asarray(base + noise * jax.random.uniform(keys[2 * i + 1], (count, c)), np.float32))
    return means, np.asarray(jax.random.uniform(keys[-1], (count,)), np.float32)


def test_the_default_units_and_paths_exist_and_end_at_the_unit():
    for network, (layer, unit) in bench.UNITS.items():
        assert bench.PATHS[network][-1] == layer and unit == 0
        for name in bench.PATHS[network]:
            assert resolve_layer(network, name) == name


def test_the_references_are_the_largest_values_ties_to_the_lower_index():
    top, rest = bench.split_natural(np.array([3.0, 9.0, 3.0, 1.0, 9.0]), 3)
    assert top.tolist() == [1, 4, 0] and rest.tolist() == [2, 3]


def test_a_reference_is_not_flagged_and_shuffled_or_negated_early_layers_are():
    means, values = natural_means(jax.random.key(0))
    top, rest, threshold = bench.natural_threshold(means, values, 5)
    reference = [m[top] for m in means]
    others = bench.check([m[rest] for m in means], reference, threshold)
    assert not others.flagged.any() and others.summary.min() == pytest.approx(threshold)  # the rule's own bound
    assert 0.0 < threshold < 1.0
    same = bench.check([m[top[:1]] for m in means], reference, threshold)
    assert not same.flagged[0] and same.summary[0] > np.median(others.summary)
    permutation = [np.asarray(jax.random.permutation(jax.random.key(1), m.shape[1])) for m in means]
    shuffled = [m[top[:1]][:, p] if layer < 2 else m[top[:1]] for layer, (m, p) in enumerate(zip(means, permutation))]
    negated = [-m[top[:1]] if layer < 2 else m[top[:1]] for layer, m in enumerate(means)]
    for changed in (shuffled, negated):  # early layers away from the natural statistics, the unit's layer kept
        found = bench.check(changed, reference, threshold)
        assert found.flagged[0] and found.summary[0] < threshold
        assert found.curve[0, -1] == pytest.approx(same.curve[0, -1])


def test_channel_means_average_over_positions():
    maps = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    (found,) = bench.channel_means([maps])
    np.testing.assert_allclose(found, maps.mean(axis=(1, 2)))


def test_the_adversarial_loop_raises_the_unit_and_lowers_the_early_similarity():
    weights = shared_weights() / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel"
    rep = bench.common.representation("squeezenet1_1:fire2/concat", weights=weights)
    small = dataclasses.replace(rep, input_shape=(48, 48, 3))
    layers = ("relu_conv1", "fire2/concat")
    natural = [np.full((48, 48, 3), v, np.float32) + 40 * np.asarray(jax.random.uniform(k, (48, 48, 3)))
               for v, k in zip((60.0, 120.0, 180.0), jax.random.split(jax.random.key(3), 3))]
    means = bench.path_means(rep, natural, layers)  # warped to 227: the statistics of these pictures
    unit_max = float(means[-1][:, 0].max())
    made = bench.adversarial(small, layers, 0, means[:-1], unit_max, key=jax.random.key(0), steps=40)
    assert made.picture.shape == (48, 48, 3) and 0 <= made.picture.min() and made.picture.max() <= 255
    assert made.relative[-1] > made.relative[0] and made.relative[-1] >= 1.0
    assert made.similarity[-1] < made.similarity[0] - 0.2


def fake_rows():
    natural = {"key": "squeezenet1_1|natural", "what": "natural", "network": "squeezenet1_1",
               "layer": "fire5/relu_expand3x3", "unit": 0, "layers": ["relu_conv1", "fire5/relu_expand3x3"],
               "unit_max": 20.0, "top_k": ["a", "b"], "top_relative": [1.0, 0.5], "threshold": 0.25,
               "summaries": [0.25, 0.5, 0.75], "cosine": [0.6, 0.7, 0.8], "curve_mean": [0.5, 0.4],
               "relative": [0.1, 0.2, 0.4]}
    picture = {"what": "picture", "network": "squeezenet1_1", "layer": "fire5/relu_expand3x3", "unit": 0,
               "threshold": 0.25, "seconds": 3.0}
    return [natural,
            {**picture, "key": "squeezenet1_1|lucid", "prior": "lucid", "steps": 300, "relative": 12.5,
             "summary": 0.4, "cosine": 0.75, "curve": [0.5, 0.3], "flagged": False},
            {**picture, "key": "squeezenet1_1|adversarial", "prior": "adversarial", "steps": 300, "relative": 2.0,
             "summary": -0.1, "cosine": 0.3, "curve": [-0.7, 0.5], "flagged": True}]


def test_the_table_renders_the_natural_range_and_each_picture_from_rows_alone(tmp_path):
    text = bench.table(fake_rows())
    assert "**squeezenet1_1** `fire5/relu_expand3x3` channel 0; reference: the top 2" in text
    assert "summary below 0.250, the lowest of the 3 other natural pictures'" in text
    assert ("| natural, the 3 others: min / median / max | — | 0.10 / 0.20 / 0.40 | 0.250 / 0.500 / 0.750"
            " | — | 0.600 / 0.700 / 0.800 | mean 0.50, 0.40 | 0/3 |") in text
    assert "| lucid | 300 | 12.50 | 0.400 | 1/3 | 0.750 | 0.50, 0.30 | no |" in text
    assert "| adversarial | 300 | 2.00 | -0.100 | 0/3 | 0.300 | -0.70, 0.50 | **yes** |" in text
    results = ResultsFile(tmp_path / "r.jsonl", {"seed": 0})
    results.append(fake_rows())
    assert bench.table(ResultsFile(tmp_path / "r.jsonl", {"seed": 0}).rows) == text
    bench.write_outputs(tmp_path, fake_rows(), ["--networks", "squeezenet1_1"])
    assert (tmp_path / "path_check.md").read_text().startswith(
        "`python benchmarks/path_check.py --networks squeezenet1_1`")


def test_help_lists_every_flag_and_bad_input_is_one_line(capsys):
    with pytest.raises(SystemExit):
        bench.parse(["--help"])
    shown = capsys.readouterr().out
    for flag in ("--networks", "--priors", "--top-k", "--shorten", "--adversarial-steps", "--target", "--weight",
                 "--seed", "--out"):
        assert flag in shown
    for argv, words in [(["--networks", "alexnet"], "--networks: unknown 'alexnet'"),
                        (["--priors", "dip"], "--priors: unknown prior 'dip'"),
                        (["--top-k", "0"], "--top-k"), (["--shorten", "2"], "--shorten"),
                        (["--adversarial-steps", "x"], "--adversarial-steps")]:
        with pytest.raises(SystemExit) as stop:
            bench.parse(argv)
        err = capsys.readouterr().err.strip()
        assert stop.value.code == 2 and words in err and len(err.splitlines()) == 1


def test_the_script_refuses_a_results_file_of_another_configuration_in_one_line(tmp_path):
    import json
    import os
    import subprocess
    import sys

    # a results file written by another configuration (as text: a ResultsFile here would hold its lock)
    (tmp_path / "path_check.jsonl").write_text(json.dumps({"kind": "config", "config": {"seed": 1}}) + "\n")
    repo = bench.common.REPO
    env = dict(os.environ, PYTHONPATH=str(repo), JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, str(repo / "benchmarks" / "path_check.py"), "--out", str(tmp_path)],
                          check=False, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("path_check: error:") and len(done.stderr.strip().splitlines()) == 1
    assert "another configuration" in done.stderr


def test_class_pictures_are_checked_against_the_natural_pictures_of_highest_class_score(monkeypatch):
    """class_paths: per class, the reference is the k natural pictures of largest score for that
    class; a picture whose path matches them is not flagged, one whose path is reversed is."""
    rng = np.random.default_rng(0)
    natural = [rng.normal(size=(100, 6)).astype(np.float32) for _ in range(3)]
    natural[-1][:, 2] = np.arange(100)  # class 2's score: the last pictures score highest
    top = list(range(90, 100))
    matching = [m[top].mean(axis=0, keepdims=True) for m in natural]  # the references' own path
    reversed_ = [-m for m in matching]
    made = [np.concatenate([a, b]) for a, b in zip(matching, reversed_)]
    monkeypatch.setattr(bench.common, "representation", lambda layer: None)
    monkeypatch.setattr(bench.judges, "reference_set", lambda: tuple(range(100)))
    monkeypatch.setattr(bench, "path_means", lambda rep, pictures, layers: natural if len(pictures) == 100 else made)
    bench._natural_class_means.cache_clear()  # the natural pictures' means are cached per network
    try:
        found = bench.class_paths("squeezenet1_1", ["match", "reverse"], [2, 2], k=10)
    finally:
        bench._natural_class_means.cache_clear()
    assert found["flagged"] == [False, True] and found["summaries"][0] > found["summaries"][1]
    assert found["layers"] == list(bench.CLASS_PATHS["squeezenet1_1"]) and found["k"] == 10
