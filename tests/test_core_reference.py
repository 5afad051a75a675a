"""The paper and IJCV presets give the numbers the engine gave before the core was restructured."""

import numpy as np
import pytest

import core_reference
from conftest import shared_weights


@pytest.mark.parametrize("rep_name, method", core_reference.cases())
def test_presets_reproduce_the_recorded_inversions(rep_name, method):
    recorded = np.load(core_reference.FILE)
    errors, images = core_reference.run_case(rep_name, method, shared_weights())
    np.testing.assert_allclose(errors, recorded[f"{rep_name}|{method}|errors"], rtol=1e-6)
    np.testing.assert_allclose(images, recorded[f"{rep_name}|{method}|images"], rtol=0, atol=1e-3)
