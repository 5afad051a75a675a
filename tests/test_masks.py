import numpy as np
import pytest

from jaxinv import masks
from jaxinv.errors import JaxinvError


def test_central_window_follows_the_authors_indexing():
    m = masks.central_window((6, 6, 4), size=5)
    rows = np.flatnonzero(m[:, 0, 0] + m[:, 1, 0] + m[:, 2, 0])
    assert rows.tolist() == [0, 1, 2, 3, 4]  # 1-based rows 1..5 for S = 6: off-centre
    m13 = masks.central_window((13, 13, 1), size=5)
    assert np.flatnonzero(m13[:, 6, 0]).tolist() == [4, 5, 6, 7, 8]
    assert m13.sum() == 25


def test_channel_group_halves():
    first = masks.channel_group((3, 3, 8), 1)
    second = masks.channel_group((3, 3, 8), 2)
    assert first.shape == (1, 1, 8)
    np.testing.assert_array_equal(first + second, np.ones((1, 1, 8)))
    assert first[..., :4].all() and not first[..., 4:].any()


def test_mask_errors():
    with pytest.raises(JaxinvError):
        masks.channel_group((3, 3, 7), 1)
    with pytest.raises(JaxinvError):
        masks.central_window((3, 3, 2), size=5)
    with pytest.raises(JaxinvError):
        masks.central_window((10,), size=1)
