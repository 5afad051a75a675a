import itertools

import numpy as np
import pytest

from jaxinv import metrics
from jaxinv.errors import JaxinvError


def test_set_normaliser_equals_brute_force_pairs_with_padding():
    rng = np.random.default_rng(0)
    codes = [rng.normal(size=n) for n in (5, 7, 6)]
    padded = [np.pad(c, (0, 7 - c.size)) for c in codes]
    brute = np.mean([np.sum((a - b) ** 2) for a, b in itertools.product(padded, padded)])
    assert metrics.set_normaliser(codes) == pytest.approx(brute, rel=1e-12)


def test_paper_metrics_against_a_hand_computation_with_diagonal_and_ragged_codes():
    # Codes of three pictures of different sizes; the third is zero-padded to [0, 0].
    targets = [np.array([3.0, 0.0]), np.array([0.0, 4.0]), np.array([0.0])]
    codes = [np.array([3.0, 2.0]), np.array([0.0, 4.0]), np.array([1.0])]
    # Pair distances 5, 3, 4 (12 and 21 etc.), three zeros on the diagonal: 9 ordered pairs.
    assert metrics.mean_pairwise_distance(targets) == pytest.approx(2 * (5 + 3 + 4) / 9)
    assert metrics.mean_pairwise_sq_distance(targets) == pytest.approx(2 * (25 + 9 + 16) / 9)
    # Printed: ‖Φ(x*) − Φ0‖ = 2, 0, 1 over 8/3; script: 4, 0, 1 over 100/9.
    np.testing.assert_allclose(metrics.paper_printed_errors(codes, targets), [0.75, 0.0, 0.375], rtol=1e-12)
    np.testing.assert_allclose(metrics.paper_script_errors(codes, targets), [0.36, 0.0, 0.09], rtol=1e-12)
    # The former names are the script's metric.
    np.testing.assert_allclose(metrics.paper_errors(codes, targets), [0.36, 0.0, 0.09], rtol=1e-12)
    assert metrics.set_normaliser(targets) == metrics.mean_pairwise_sq_distance(targets)
    np.testing.assert_allclose(metrics.paper_printed_errors(codes, targets, normaliser=2.0), [1.0, 0.0, 0.5])


def test_mean_pairwise_distance_equals_brute_force_pairs_with_padding():
    rng = np.random.default_rng(2)
    codes = [rng.normal(size=n) for n in (40, 33, 40, 12)]
    padded = [np.pad(c, (0, 40 - c.size)) for c in codes]
    brute = np.mean([np.linalg.norm(a - b) for a, b in itertools.product(padded, padded)])
    assert metrics.mean_pairwise_distance(codes) == pytest.approx(brute, rel=1e-9)


def test_paper_metrics_refuse_a_degenerate_set():
    same = [np.ones(3), np.ones(3)]
    with pytest.raises(JaxinvError, match="normaliser 0"):
        metrics.paper_printed_errors(same, same)
    with pytest.raises(JaxinvError, match="one code per target"):
        metrics.paper_script_errors(same[:1], same)
    with pytest.raises(JaxinvError, match="empty"):
        metrics.mean_pairwise_distance([])


def test_paper_and_ijcv_errors():
    targets = [np.array([1.0, 0.0]), np.array([0.0, 1.0])]
    codes = [np.array([1.0, 0.5]), np.array([0.0, 1.0])]
    n = metrics.set_normaliser(targets)
    assert n == pytest.approx(1.0)  # pairs: 0, 2, 2, 0
    np.testing.assert_allclose(metrics.paper_errors(codes, targets), [0.25, 0.0])
    assert metrics.normalized_error(codes[0], targets[0]) == pytest.approx(0.25)
    assert metrics.ijcv_error(codes[0], targets[0]) == pytest.approx(0.5)
    mean, half = metrics.ijcv_summary([0.1, 0.3])
    assert mean == pytest.approx(0.2) and half == pytest.approx(1.96 * np.std([0.1, 0.3], ddof=1) / np.sqrt(2))
    assert metrics.mean_std([1.0, 3.0]) == pytest.approx((2.0, np.sqrt(2)))
    with pytest.raises(JaxinvError):
        metrics.normalized_error(np.zeros(3), np.zeros(4))


def test_psnr_ssim_against_scikit_image():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    rng = np.random.default_rng(1)
    a = rng.uniform(0, 255, (16, 16, 3))
    b = np.clip(a + rng.normal(0, 10, a.shape), 0, 255)
    assert metrics.psnr(b, a) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255))
    assert metrics.ssim(b, a) == pytest.approx(structural_similarity(a, b, data_range=255, channel_axis=-1))
    assert metrics.ssim(a, a) == pytest.approx(1.0)


def test_pairwise_spread():
    ref = np.ones((2, 2, 1))
    same = np.stack([ref, ref, ref])
    assert metrics.pairwise_spread(same, ref) == 0.0
    two = np.stack([np.zeros((2, 2, 1)), np.ones((2, 2, 1))])
    assert metrics.pairwise_spread(two, ref) == pytest.approx(1.0)
    with pytest.raises(JaxinvError):
        metrics.pairwise_spread(two[:1], ref)
