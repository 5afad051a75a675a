"""benchmarks/time_to_quality.py: evaluations are counted as each optimiser spends them."""

from argparse import ArgumentTypeError

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
    assert "use one or more of adam, lbfgs, fast" in capsys.readouterr().err
    row = {"rep": "r", "paper_evaluations": 400, "paper_seconds": 2.0, "adam_setting": 1e-3,
           "adam_evaluations": 100, "adam_seconds": 0.5, "adam_final": 0.1}
    line = ttq.table([row, dict(row, adam_evaluations=None)]).splitlines()[-1]
    assert line == "| r | 2 | median 400, 2.0 | median 100 (1/2), inf, 0.5 | Adam rate 0.001 |"


def test_one_table_sets_every_optimiser_of_one_run_beside_the_papers():
    row = {"rep": "r", "paper_evaluations": 400, "paper_seconds": 2.0, "adam_setting": 1e-3, "adam_evaluations": 200,
           "adam_seconds": 1.0, "adam_final": 0.1, "lbfgs_setting": 10, "lbfgs_evaluations": None,
           "lbfgs_seconds": None, "lbfgs_final": 0.3, "fast_setting": None, "fast_evaluations": 80,
           "fast_seconds": 0.25, "fast_final": 0.05}
    other = dict(row, rep="s", lbfgs_evaluations=120, lbfgs_seconds=1.5)
    header, _, first, second = ttq.table([{"kind": "config"}, row, other]).splitlines()
    assert header.count("evaluations to the bar (reached), ÷ paper's, s") == 3
    assert first == ("| r | 1 | median 400, 2.0 | median 200 (1/1), 0.50, 1.0 | not reached (0/1) |"
                     " median 80 (1/1), 0.20, 0.2 | Adam rate 0.001, L-BFGS memory 10 |")
    assert second.split(" | ")[4] == "median 120 (1/1), 0.30, 1.5"


def test_the_fast_prior_is_traced_with_its_own_schedule_and_its_pictures_scored():
    rep = jaxinv.average_pool(factor=2)
    picture = np.random.default_rng(1).uniform(0, 255, (16, 16, 3)).astype(np.float32)
    fast = ttq.trace(rep, picture, "fast", None, key=jax.random.key(0))
    steps = jaxinv.core.priors.fast_schedule(rep).total
    np.testing.assert_array_equal(fast["evaluations"], np.arange(steps + 1))
    assert fast["rate_scale"] == 1 and fast["errors"][-1] < fast["errors"][0] / 10
    np.testing.assert_allclose(fast["seen"], np.clip(rep.deprocess(rep.preprocess(picture)), 0, 255))
    looks = ttq._looks("fast", fast)
    mse = np.mean((fast["picture"].astype(np.float64) - fast["seen"]) ** 2)
    assert looks["fast_psnr"] == pytest.approx(10 * np.log10(255 ** 2 / mse), rel=1e-4)
    assert 0 < looks["fast_ssim"] <= 1


def test_fast_table_sets_the_fast_prior_beside_the_papers_run():
    row = {"key": "r|a", "rep": "r", "bar": 0.1, "paper_evaluations": 800, "paper_seconds": 4.0,
           "fast_evaluations": 100, "fast_seconds": 0.5, "fast_final": 0.09, "paper_psnr": 20.0, "fast_psnr": 21.0,
           "paper_ssim": 0.5, "fast_ssim": 0.4}
    rows = [row, dict(row, key="r|b", fast_evaluations=None, fast_final=0.2, paper_psnr=22.0, paper_ssim=0.6)]
    line = ttq.fast_table([{"kind": "config"}, *rows]).splitlines()[-1]
    assert line == ("| r | 2 | median 800, 4.0 | median 100 (1/2) | inf | 1.45, 0.5 | 21 [20, 22] / 21 (2 in, 0 above,"
                    " 0 below) | 0.55 [0.5, 0.6] / 0.4 (0 in, 0 above, 2 below) |")


def test_tune_fast_reads_candidates_and_refuses_a_malformed_one():
    import tune_fast

    decay, schedule = tune_fast.candidate("0.5:[(5e-5, 70), (5e-6, 50)]")
    assert decay == 0.5 and [(s.learning_rate, s.iterations) for s in schedule.stages] == [(5e-5, 70), (5e-6, 50)]
    rows = [{"rep": "hog", "candidate": "1:[(5e-05, 70)]", "picture": p, "final_over_bar": v, "evaluations": e}
            for p, v, e in (("a", 1.156, None), ("b", 0.94, 175))]
    rows.append({"rep": "hog", "picture": "a", "stage_ends_over_final": [2.611, 1.494, 1.044, 1.0]})
    assert tune_fast.table(rows).splitlines()[2:] == [
        "| hog | 1:[(5e-05, 70)] | 1.16, 0.94 | -, 175 |",
        "| hog | paper (its error at each stage end ÷ its final), a | 2.61, 1.49, 1.04, 1.00 | |"]
    with pytest.raises(ArgumentTypeError, match=r"write D:\[\(RATE, STEPS\), \.\.\.\]"):
        tune_fast.candidate("1:[(5e-5 70)]")
    hog, hogb = jaxinv.registry.get("hog"), jaxinv.registry.get("hogb")
    assert tune_fast.label_of(hog, 0.5, schedule, exact=False) == "0.5:[(5e-05, 70), (5e-06, 50)] smooth"
    assert tune_fast.label_of(hog, 0.5, schedule, exact=True) == "0.5:[(5e-05, 70), (5e-06, 50)]"
    assert tune_fast.label_of(hogb, 0.5, schedule, exact=False) == "0.5:[(5e-05, 70), (5e-06, 50)]"  # its own


def test_a_fast_candidate_runs_its_own_exponent_and_stages():
    rep = jaxinv.average_pool(factor=2)
    picture = np.random.default_rng(2).uniform(0, 255, (16, 16, 3)).astype(np.float32)
    import tune_fast

    decay, schedule = tune_fast.candidate("0.5:[(5e-5, 7), (5e-6, 5)]")
    run = ttq.trace(rep, picture, "fast", (decay, schedule, True), key=jax.random.key(0))
    assert len(run["errors"]) == 13 and run["errors"][-1] < run["errors"][0]
    other = ttq.trace(rep, picture, "fast", (1.0, schedule, True), key=jax.random.key(0))
    assert other["errors"][0] == pytest.approx(run["errors"][0], rel=1e-5)  # the same start
    assert not np.allclose(other["errors"][1:], run["errors"][1:])  # another path
    hog, grey = jaxinv.registry.get("hog"), picture.mean(axis=-1).repeat(2, 0).repeat(2, 1)
    smooth, exact = (ttq.trace(hog, grey, "fast", (1.0, schedule, flag), key=jax.random.key(0)) for flag in (True, False))
    assert smooth["errors"][0] == exact["errors"][0] and not np.allclose(smooth["errors"][1:], exact["errors"][1:])
