"""Terms and objectives: the maths of each term, the algebra, traced weights, a user's own term."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxinv.core import (AlphaNorm, BoundedAlphaNorm, BoundedTotalVariation, InnerProduct, L2ToPicture,
                         NormalisedData, Objective, Term, TermInputs, TotalVariation)


def inputs(seed=0, copies=2, mask=None):
    rng = np.random.default_rng(seed)
    code = jnp.asarray(rng.normal(size=(copies, 3, 4, 5)), jnp.float32)
    target = jnp.asarray(rng.normal(size=(3, 4, 5)), jnp.float32)
    image = jnp.asarray(rng.uniform(-50, 50, size=(copies, 6, 7, 3)), jnp.float32)
    return TermInputs(code, target, mask, image, image / 10.0)


def test_each_term_against_a_numpy_loop():
    x = inputs(mask=jnp.asarray((np.arange(5) < 3).astype(np.float32)))
    code, target, mask = (np.asarray(a, np.float64) for a in (x.code, x.target, x.mask))
    u = np.asarray(x.pixels, np.float64)
    want = sum(np.sum((mask * (c - target)) ** 2) for c in code) / (2 * np.sum((mask * target) ** 2))
    assert float(NormalisedData()(x)) == pytest.approx(want, rel=1e-5)
    assert float(InnerProduct()(x)) == pytest.approx(np.mean([np.sum(mask * c * target) for c in code]), rel=1e-5)
    assert float(AlphaNorm(alpha=6)(x)) == pytest.approx(np.sum(u ** 6), rel=1e-5)
    dx = np.concatenate([np.diff(u, axis=2), np.zeros_like(u[:, :, :1])], axis=2)
    dy = np.concatenate([np.diff(u, axis=1), np.zeros_like(u[:, :1])], axis=1)
    assert float(TotalVariation(beta=2)(x)) == pytest.approx(np.sum(dx ** 2 + dy ** 2), rel=1e-5)
    hw = 6 * 7
    assert float(BoundedAlphaNorm(bound=3.0, alpha=6)(x)) == pytest.approx(
        np.sum((np.sum(u ** 2, axis=-1) / 9.0) ** 3) / hw, rel=1e-5)
    assert float(BoundedTotalVariation(scale=2.0, beta=2)(x)) == pytest.approx(np.sum(dx ** 2 + dy ** 2) / 4 / hw,
                                                                                rel=1e-5)
    picture = np.zeros((6, 7, 3), np.float32)
    assert float(L2ToPicture(picture=picture)(x)) == pytest.approx(np.mean(np.asarray(x.image, np.float64) ** 2),
                                                                   rel=1e-5)


def test_objectives_add_and_scale_like_numbers():
    x = inputs()
    data, tv, alpha = NormalisedData(), TotalVariation(), AlphaNorm()
    objective = data + 5.0 * tv + 2e-3 * alpha - 0.5 * InnerProduct()
    assert objective.names == ("data", "tv", "alpha", "inner")
    total, values = objective(x)
    want = data(x) + 5.0 * tv(x) + 2e-3 * alpha(x) - 0.5 * InnerProduct()(x)
    assert float(total) == pytest.approx(float(want), rel=1e-6)
    np.testing.assert_allclose(values, [data(x), tv(x), alpha(x), InnerProduct()(x)], rtol=1e-6)
    assert (2 * tv + tv).names == ("tv", "tv_1")
    assert sum([data, tv]).names == ("data", "tv")
    assert float((-data)(x)[0]) == pytest.approx(-float(data(x)))


def test_weights_are_traced_so_a_sweep_compiles_once_and_has_a_gradient():
    x = inputs()
    traces = []

    @jax.jit
    def value(objective):
        traces.append(1)
        return objective(x)[0]

    for lam in (0.5, 5.0, 50.0):
        value(NormalisedData() + lam * TotalVariation())
    assert len(traces) == 1
    grad = jax.grad(lambda lam: (NormalisedData() + lam * TotalVariation())(x)[0])(3.0)
    assert float(grad) == pytest.approx(float(TotalVariation()(x)), rel=1e-6)


class HuberTV(Term):
    """A user's term: first-order total variation with a Huber penalty of width delta."""

    name = "huber_tv"
    delta: float = struct.field(pytree_node=False, default=1.0)

    def __call__(self, inputs):
        u = inputs.pixels
        a = jnp.concatenate([jnp.abs(jnp.diff(u, axis=-2)).ravel(), jnp.abs(jnp.diff(u, axis=-3)).ravel()])
        return jnp.sum(jnp.where(a < self.delta, 0.5 * a * a, self.delta * (a - 0.5 * self.delta)))


def test_a_users_own_term_plugs_in_with_no_library_change():
    x = inputs()
    objective = NormalisedData() + 0.1 * HuberTV(delta=0.5)
    total, values = jax.jit(lambda o: o(x))(objective)
    u = np.asarray(x.pixels, np.float64)
    huber = 0.0
    for d in (np.abs(np.diff(u, axis=-2)), np.abs(np.diff(u, axis=-3))):
        huber += np.sum(np.where(d < 0.5, 0.5 * d * d, 0.5 * (d - 0.25)))
    assert float(values[1]) == pytest.approx(huber, rel=1e-5)
    assert objective.names == ("data", "huber_tv")
    assert isinstance(objective, Objective)
