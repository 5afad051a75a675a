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
