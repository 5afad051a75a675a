"""The public API is the explicit re-export list of `jaxinv/__init__.py`."""

import pytest

import jaxinv


def test_every_public_name_exists():
    for name in jaxinv.__all__:
        assert hasattr(jaxinv, name), name
    assert sorted(jaxinv.__all__) == list(jaxinv.__all__)


def test_core_entry_points_are_exported():
    for name in ("invert", "invert_batch", "maximize", "caricature", "hog", "dsift", "cnn", "from_function",
                 "Representation", "JaxinvError", "metrics", "networks", "core"):
        assert name in jaxinv.__all__
    for name in ("PaperObjective", "IJCVObjective", "Schedule", "Solver", "Preset", "prior", "solver", "staged"):
        assert name in jaxinv.core.__all__


def test_one_level_of_names_at_the_top_and_the_0_1_names_warn_where_they_went():
    """No legacy constant beside the function that replaces it; each old name still answers, once
    more, with a DeprecationWarning naming its new home."""
    for old, home in [("PaperObjective", "jaxinv.core"), ("Schedule", "jaxinv.core"),
                      ("invert_with_prior", "jaxinv.priors"), ("momentum_with_reset", "jaxinv.optimizers")]:
        assert old not in jaxinv.__all__
        with pytest.warns(DeprecationWarning, match=home.replace(".", r"\.")):
            assert getattr(jaxinv, old) is not None
    with pytest.raises(AttributeError):
        jaxinv.no_such_name
