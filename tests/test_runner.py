"""The host runner's shared rules: overflowed energies recorded finite, whole-number arguments."""

import numpy as np
import pytest

from jaxinv.errors import JaxinvError
from jaxinv.runner import check_whole, finite_energy


def test_finite_energy_records_an_overflow_as_the_largest_float32():
    largest = np.finfo(np.float32).max
    got = finite_energy(np.array([1.5, np.nan, np.inf, -np.inf, 1e39, -1e39]))
    np.testing.assert_array_equal(got, np.float32([1.5, largest, largest, -largest, largest, -largest]))
    assert got.dtype == np.float32 and np.isfinite(got).all()
    unchanged = np.float32([[0.25, -3.0]])
    np.testing.assert_array_equal(finite_energy(unchanged), unchanged)


@pytest.mark.parametrize("value", [0, -1, 2.0, "3", None, True + 0.5])
def test_check_whole_refuses_anything_but_a_whole_number(value):
    with pytest.raises(JaxinvError, match=r"^seeds = .*; use a whole number >= 1$"):
        check_whole("seeds", value)


def test_check_whole_accepts_whole_numbers():
    for value in (1, 7, np.int64(3)):
        check_whole("seeds", value)


# ---------------------------------------------------------------------------------------------
# Progress: a bar by default on a terminal only, silence with progress=False (every prior runs here)


def _tiny_lucid(**options):
    import jax

    import jaxinv

    picture = np.random.default_rng(0).uniform(0, 255, (16, 16, 3)).astype(np.float32)
    return jaxinv.invert(jaxinv.average_pool(factor=2), picture, key=jax.random.key(0), prior="lucid",
                         schedule=[(0.01, 3)], **options)


def test_progress_default_shows_a_bar_on_a_terminal_only_and_false_is_silent(monkeypatch, capsys):
    import sys

    from jaxinv.runner import RunOptions, shows_bar

    assert RunOptions().progress is None
    _tiny_lucid()  # stderr is no terminal: nothing
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert shows_bar(None) and shows_bar(True) and not shows_bar(False) and not shows_bar(print)
    _tiny_lucid()
    err = capsys.readouterr().err
    assert "inverting avgpool2:" in err and "0/3 [" in err, err
    _tiny_lucid(progress=False)
    assert capsys.readouterr().err == ""
    seen = []
    _tiny_lucid(progress=seen.append)  # a callable gets the steps done, and no bar is drawn
    assert seen == [3] and capsys.readouterr().err == ""


def test_progress_true_draws_a_bar_without_a_terminal(capsys):
    _tiny_lucid(progress=True)
    assert "inverting avgpool2:" in capsys.readouterr().err


def test_shows_bar_survives_a_stderr_without_isatty(monkeypatch):
    import io
    import sys

    from jaxinv.runner import shows_bar

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not shows_bar(None)
    sys.stderr.close()
    assert not shows_bar(None)  # a closed stderr says ValueError: no bar, no error


class _Ran(Exception):
    pass


@pytest.mark.parametrize("prior", ["paper", "ijcv", "lucid", "maco", "dip"])
def test_every_prior_runs_through_the_runner_with_the_default_progress(prior, monkeypatch):
    import jax

    import jaxinv
    import jaxinv.inversion

    seen = []

    def fake_run(solver, targets, *, options, **_):
        seen.append(options.progress)
        raise _Ran

    monkeypatch.setattr(jaxinv.inversion, "run", fake_run)
    picture = np.random.default_rng(0).uniform(0, 255, (16, 16, 3)).astype(np.float32)
    with pytest.raises(_Ran):
        jaxinv.invert(jaxinv.average_pool(factor=2), picture, key=jax.random.key(0), prior=prior)
    with pytest.raises(_Ran):
        jaxinv.invert(jaxinv.average_pool(factor=2), picture, key=jax.random.key(0), prior=prior, progress=False)
    assert seen == [None, False]


def test_the_visualisations_default_to_the_same_progress():
    import inspect

    import jaxinv.visualize

    for function in (jaxinv.visualize.maximize, jaxinv.visualize.caricature, jaxinv.invert_batch, jaxinv.invert):
        default = inspect.signature(function).parameters.get("progress")
        assert default is None or default.default is None, function  # invert passes its options on
