"""The runner's program: the JAXINV_MAX_STEPS switch (the documentation's examples run with it)."""

import warnings

import jax
import numpy as np
import pytest

import jaxinv
from jaxinv import program
from jaxinv.errors import JaxinvError


def _hog_solver():
    rep = jaxinv.registry.get("hog")
    return rep, jaxinv.core.solver(rep, "paper", image_shape=(64, 64, 1))


def test_without_the_switch_a_program_runs_the_whole_schedule(monkeypatch):
    monkeypatch.delenv("JAXINV_MAX_STEPS", raising=False)
    _, solver = _hog_solver()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prog, _ = program.program_for(solver)
    assert program.step_limit() is None and prog.steps == solver.schedule.total == 800


def test_the_switch_cuts_every_run_and_says_so(monkeypatch):
    monkeypatch.setenv("JAXINV_MAX_STEPS", "7")
    rep, solver = _hog_solver()
    with pytest.warns(UserWarning, match="JAXINV_MAX_STEPS=7: this run stops after 7 of its 800 iterations"):
        prog, _ = program.program_for(solver)
    assert prog.steps == 7
    picture = np.random.default_rng(0).uniform(0, 255, (64, 64, 1)).astype(np.float32)
    with pytest.warns(UserWarning, match="JAXINV_MAX_STEPS"):
        result = jaxinv.invert(rep, picture, key=jax.random.key(0), progress=False)
    assert result.energy.shape == (1, 7, 4) and np.isfinite(result.errors).all()


def test_a_longer_limit_than_the_schedule_changes_nothing(monkeypatch):
    monkeypatch.setenv("JAXINV_MAX_STEPS", "100000")
    _, solver = _hog_solver()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prog, _ = program.program_for(solver)
    assert prog.steps == 800


@pytest.mark.parametrize("value", ["0", "-3", "ten", "2.5"])
def test_a_bad_limit_is_refused_with_the_fix(value, monkeypatch):
    monkeypatch.setenv("JAXINV_MAX_STEPS", value)
    with pytest.raises(JaxinvError, match="set a positive number of iterations, or unset it"):
        program.step_limit()
