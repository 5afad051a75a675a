"""benchmarks/time_to_quality.py: evaluations are counted as each optimiser spends them."""

import jax
import numpy as np
import pytest
import time_to_quality as ttq

import jaxinv


def test_trace_counts_evaluations_and_finds_the_bar():
    rep = jaxinv.average_pool(factor=2)
    picture = np.random.default_rng(0).uniform(0, 255, (16, 16, 3)).astype(np.float32)
    key = jax.random.key(0)
    paper = ttq.trace(rep, picture, "paper", None, key=key)
    steps = len(paper["errors"]) - 1
    np.testing.assert_array_equal(paper["evaluations"], np.arange(steps + 1))  # one gradient a step
    assert np.all(np.isfinite(paper["errors"])) and paper["errors"][-1] < paper["errors"][0]
    bar = paper["errors"][-1]
    assert ttq.to_quality(paper, bar)[0] <= steps
    lbfgs = ttq.trace(rep, picture, "lbfgs", 10, key=key)
    increments = np.diff(lbfgs["evaluations"])
    assert np.all(increments >= 1) and increments.sum() > steps  # its line search evaluates too
    evaluations, seconds = ttq.to_quality(lbfgs, bar)
    assert evaluations is not None and seconds >= 0
    assert lbfgs["errors"][np.searchsorted(lbfgs["evaluations"], evaluations)] <= bar * (1 + 1e-6)
    never = dict(paper, errors=paper["errors"] + 10)
    assert ttq.to_quality(never, bar) == (None, None)


def test_optimisers_option_and_a_table_with_an_optimiser_not_run(capsys):
    assert ttq.build_parser().parse_args(["--optimisers", "adam"]).optimisers == ("adam",)
    assert ttq.build_parser().parse_args([]).optimisers == ("adam", "lbfgs")
    with pytest.raises(SystemExit):
        ttq.build_parser().parse_args(["--optimisers", "adam,sgd"])
    assert "use one or more of adam, lbfgs" in capsys.readouterr().err
    row = {"rep": "r", "paper_evaluations": 400, "paper_seconds": 2.0, "adam_setting": 1e-3,
           "adam_evaluations": 100, "adam_seconds": 0.5, "adam_final": 0.1}
    line = ttq.table([row, dict(row, adam_evaluations=None)]).splitlines()[-1]
    assert line == "| r | 2 | median 400, 2.0 | median 100 (1/2), 0.5 | not run | Adam rate 0.001 |"
