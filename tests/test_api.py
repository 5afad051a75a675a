"""The public API is the explicit re-export list of `jaxinv/__init__.py`."""

import jaxinv


def test_every_public_name_exists():
    for name in jaxinv.__all__:
        assert hasattr(jaxinv, name), name
    assert sorted(jaxinv.__all__) == list(jaxinv.__all__)


def test_core_entry_points_are_exported():
    for name in ("invert", "invert_batch", "hog", "dsift", "cnn", "from_function", "Representation",
                 "PaperObjective", "IJCVObjective", "Schedule", "JaxinvError", "metrics", "networks"):
        assert name in jaxinv.__all__
