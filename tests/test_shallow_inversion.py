"""Inverting the paper's HOG, HOGb and DSIFT codes of a natural picture (METHOD.md §1.3)."""

import jax
import numpy as np
import pytest

from jaxinv import registry
from jaxinv.images import default_picture, resize
from jaxinv.inversion import invert
from jaxinv.core import solver


def _correlation(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


@pytest.mark.parametrize("name", ["hog", "hogb", "dsift"])
def test_inversion_recovers_the_picture(name):
    rep = registry.get(name)
    picture = resize(default_picture("astronaut"), (192, 192))
    x0 = rep.preprocess(picture)
    key = jax.random.key(0)
    result = invert(rep, picture, key=key, schedule="shallow", keep_snapshots=False)

    # The random start that run used: the first of the seeds' keys.
    paper = solver(rep, "paper", image_shape=x0.shape, schedule="shallow")
    start = np.asarray(paper.image(paper.init(jax.random.split(key, 1)[0])))[0]
    start_error = float(result.energy[0, 0, 0])
    final_error = float(result.errors[0])
    corr, start_corr = _correlation(result.inputs[0], x0), _correlation(start, x0)
    print(f"{name}: error {start_error:.3f} -> {final_error:.4f} ({start_error / final_error:.0f}x);"
          f" correlation with the picture {start_corr:+.3f} -> {corr:.3f}")
    assert final_error * 10 <= start_error
    assert corr >= 0.3
    assert abs(start_corr) < 0.1
