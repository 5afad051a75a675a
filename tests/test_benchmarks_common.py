"""benchmarks/common.py: the resumable per-picture runner drops JAX's caches as picture shapes pile up; table cells."""

import common
import jax
import numpy as np
import pytest

import jaxinv
from jaxinv.results import ResultsFile


def test_run_rep_clears_the_caches_after_so_many_shapes(tmp_path, monkeypatch):
    cleared = []
    monkeypatch.setattr(common, "SHAPES_BEFORE_CLEARING", 1)
    monkeypatch.setattr(jax, "clear_caches", lambda: cleared.append(True))
    rng = np.random.default_rng(0)
    pictures = [(f"p{i}", rng.uniform(0, 255, shape).astype(np.float32))
                for i, shape in enumerate([(16, 16, 3), (16, 20, 3), (20, 16, 3), (16, 16, 3)])]
    results = ResultsFile(tmp_path / "r.jsonl", {"test": 1})
    common.run_rep(jaxinv.average_pool(factor=2), pictures, results, prior="paper", batch=2,
                   key=jax.random.key(0), schedule=[(0.004, 2)])
    assert len(cleared) == 2  # three shapes, a limit of one: cleared before the 2nd and the 3rd
    assert sorted(results.done()) == ["p0", "p1", "p2", "p3"]
    assert all(np.isfinite(r["error"]) for r in results.rows)


def test_fmt_and_percent_print_a_dash_where_a_number_is_undefined():
    assert common.fmt([12.345, 0.5], 2) == "12.35 ± 0.50"
    assert common.fmt(None) == common.fmt([1.0, None]) == common.fmt([float("nan"), 1.0]) == "–"
    assert common.percent(83.4) == "83" and common.percent(None) == "–"


def test_interleaved_seconds_takes_turns_after_one_untimed_call_each():
    order = []
    calls = [lambda: order.append("a"), lambda: order.append("b") or jax.numpy.ones(2)]
    times = common.interleaved_seconds(calls, repeats=3)
    assert order == ["a", "b"] + ["a", "b"] * 3
    assert [len(t) for t in times] == [3, 3] and min(min(t) for t in times) >= 0


def test_a_benchmark_refuses_to_run_under_the_step_limit(monkeypatch, capsys):
    monkeypatch.setenv("JAXINV_MAX_STEPS", "5")
    ran = []
    with pytest.raises(SystemExit) as stop:
        common.run_script(lambda: ran.append(1), "bench")
    assert stop.value.code == 2 and not ran
    assert "JAXINV_MAX_STEPS is set" in capsys.readouterr().err
