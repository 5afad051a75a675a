"""The terms' maths (`jaxinv.core.norms`) and the papers' settings (`jaxinv.core.settings`) by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxinv.core import norms, settings
from jaxinv.errors import JaxinvError


def test_paper_lambdas_from_code_table():
    for lambda_tv, expected in [(1, 0.5), (10, 5.0), (100, 50.0)]:
        lv, la = settings.paper_lambdas_from_code(lambda_tv)
        assert lv == pytest.approx(expected)
        assert la == pytest.approx(4e-10 * settings.SIGMA ** 4)
    assert settings.LAMBDA_ALPHA == pytest.approx(2.157e8, rel=1e-3)


def test_forward_differences_zero_on_last_row_and_column():
    x = jnp.arange(12.0).reshape(3, 4, 1)
    dx, dy = norms.forward_differences(x)
    np.testing.assert_array_equal(dx[:, :3, 0], np.ones((3, 3)))
    np.testing.assert_array_equal(dx[:, 3, 0], np.zeros(3))
    np.testing.assert_array_equal(dy[:2, :, 0], 4 * np.ones((2, 4)))
    np.testing.assert_array_equal(dy[2, :, 0], np.zeros(4))


def test_tv_norm_hand_computed_per_channel():
    x = np.zeros((2, 2, 2), np.float32)
    x[0, 0, 0] = 1.0  # channel 0: one bright pixel
    x[1, 1, 1] = 2.0  # channel 1: the last pixel has no forward difference of its own
    # channel 0: pixel (0,0): dx = -1, dy = -1 -> 2; pixel (0,1), (1,0): 0
    # channel 1: (0,1): dy = 2 -> 4; (1,0): dx = 2 -> 4
    assert float(norms.tv_norm(jnp.asarray(x), beta=2.0)) == pytest.approx(10.0)
    # beta = 1: sqrt per pixel and channel: sqrt(2) + 2 + 2
    assert float(norms.tv_norm(jnp.asarray(x), beta=1.0)) == pytest.approx(np.sqrt(2) + 4, rel=1e-6)


def test_alpha_norm_hand_computed():
    x = jnp.asarray([[[1.0, -2.0]]])
    assert float(norms.alpha_norm(x, alpha=6.0)) == pytest.approx(1 + 64)
    assert float(norms.alpha_norm(x, alpha=3.0)) == pytest.approx(1 + 8)


def test_data_term_with_mask_and_normaliser():
    code = jnp.asarray([1.0, 2.0, 3.0])
    target = jnp.asarray([1.0, 0.0, 0.0])
    mask = jnp.asarray([1.0, 1.0, 0.0])
    assert float(norms.data_term(code, target, 2.0)) == pytest.approx((4 + 9) / 2)
    assert float(norms.data_term(code, target, 2.0, mask)) == pytest.approx(4 / 2)


def test_ijcv_terms_hand_computed():
    x = np.zeros((1, 2, 3), np.float32)
    x[0, 0] = [3.0, 4.0, 0.0]  # a pixel vector of norm 5
    val = norms.bounded_alpha_norm(jnp.asarray(x), bound=5.0, alpha=6.0)
    assert float(val) == pytest.approx(1.0 / 2)
    tv = norms.ijcv_tv_norm(jnp.asarray(x), scale=2.0, beta=2.0)
    # channel 0: dx at pixel 0 = -3 -> 9/4; channel 1: -4 -> 16/4
    assert float(tv) == pytest.approx((9 + 16) / 4 / 2)


def test_project_to_ball():
    x = jnp.asarray([[[300.0, 400.0], [3.0, 4.0], [0.0, 0.0]]])
    y = norms.project_to_ball(x, 160.0)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(y), axis=-1)[0], [160.0, 5.0, 0.0], rtol=1e-6)


@pytest.mark.parametrize("beta", [2.0, 1.5])
def test_regulariser_gradients_match_finite_differences(beta):
    with jax.default_matmul_precision("highest"), jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (5, 6, 3), jnp.float64)
        check_grads(lambda v: norms.tv_norm(v, beta=beta), (x,), order=2, modes=["rev"])
        check_grads(lambda v: norms.alpha_norm(v, alpha=6.0), (x,), order=2, modes=["rev"])
        check_grads(lambda v: norms.bounded_alpha_norm(v, bound=1.5), (x,), order=2, modes=["rev"])
        check_grads(lambda v: norms.ijcv_tv_norm(v, scale=0.7, beta=beta), (x,), order=1, modes=["rev"])
        t = jax.random.normal(jax.random.key(1), (5, 6, 3), jnp.float64)
        check_grads(lambda v: norms.data_term(v, t, 3.0), (x,), order=2, modes=["rev"])


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_gradients_finite_on_flat_images(beta):
    for value in (0.0, 1.0, -1.0):
        x = jnp.full((4, 4, 3), value)
        g = jax.grad(lambda v: norms.tv_norm(v, beta=beta) + norms.alpha_norm(v) + norms.bounded_alpha_norm(v, bound=80.0)
                     + norms.ijcv_tv_norm(v, scale=12.0, beta=beta))(x)
        assert np.all(np.isfinite(np.asarray(g)))


def test_negative_lambda_is_rejected_zero_allowed():
    settings.PaperObjective(lambda_tv=0.0, lambda_alpha=0.0)
    with pytest.raises(JaxinvError, match="negative"):
        settings.PaperObjective(lambda_tv=-1.0)
    with pytest.raises(JaxinvError, match="negative"):
        settings.PaperObjective(lambda_alpha=float("nan"))
    with pytest.raises(JaxinvError):
        settings.IJCVObjective(data_weight=-2)


def test_ijcv_jitter_rule():
    o = settings.IJCVObjective()
    assert [o.jitter_for(s) for s in (1, 4, 8, 16, 32)] == [1, 1, 2, 4, 8]
    assert settings.IJCVObjective(jitter=3).jitter_for(32) == 3
    assert o.v == pytest.approx(80 / 6.5)


def test_the_0_1_module_warns_and_gives_the_same_functions():
    import jaxinv.objective as old

    with pytest.warns(DeprecationWarning, match=r"jaxinv\.core\.norms\.tv_norm"):
        assert old.tv_norm is norms.tv_norm
    with pytest.warns(DeprecationWarning, match=r"jaxinv\.core\.settings\.SIGMA"):
        assert old.SIGMA == settings.SIGMA
