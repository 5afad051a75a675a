"""``cnn()``: a network layer as a Representation (jit + vmap, metadata, λ rule, errors)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.data

from jaxinv.errors import JaxinvError
from jaxinv.networks import init_blobs, load, spec
from jaxinv.core.settings import LAMBDA_ALPHA
from jaxinv.representation import Representation
from jaxinv.representations.cnn import (
    CNNFeatures,
    cnn,
    lambda_by_receptive_field,
    lambda_tv,
    receptive_field,
)


@pytest.fixture(scope="module")
def squeeze_blobs():
    return init_blobs("squeezenet1_1", key=0)


def test_cnn_representation_metadata(squeeze_blobs):
    rep = cnn("squeezenet1_1", layer="fire5", weights=squeeze_blobs)
    assert isinstance(rep, Representation)
    assert rep.name == "squeezenet1_1:fire5/concat"
    assert rep.input_shape == (227, 227, 3) and rep.channels == 3
    assert rep.stride == 8 and rep.lambda_tv == 5.0  # receptive field 99 px of 227
    assert rep.lambda_alpha == LAMBDA_ALPHA and rep.schedule == "cnn"
    assert rep.layers == spec("squeezenet1_1").layers
    picture = skimage.data.chelsea()
    code = rep(picture)
    assert code.shape == (28, 28, 256)
    x = rep.preprocess(picture)
    np.testing.assert_allclose(rep.deprocess(x)[..., 0].mean(), picture[..., 0].mean(), rtol=0.02)


def test_features_equal_for_equal_layers(squeeze_blobs):
    a = cnn("squeezenet1_1", layer="fire5", weights=squeeze_blobs).features
    b = cnn("squeezenet1_1", layer="fire5/concat", weights=squeeze_blobs).features
    c = cnn("squeezenet1_1", layer="fire4", weights=squeeze_blobs).features
    assert a == b and hash(a) == hash(b) and a != c
    assert dataclasses.is_dataclass(a) and isinstance(a, CNNFeatures)


def test_jit_vmap_and_grad_match_batched_network(squeeze_blobs):
    rep = cnn("squeezenet1_1", layer="fire3", weights=squeeze_blobs)
    net = load("squeezenet1_1", weights=squeeze_blobs)
    x = np.random.default_rng(0).normal(0, 60, (3, 227, 227, 3)).astype(np.float32)
    codes = jax.jit(jax.vmap(rep.features, in_axes=(None, 0)))(rep.params, x)
    np.testing.assert_allclose(codes, net.apply(x, layer="fire3"), rtol=1e-4, atol=1e-3)

    def loss(u):
        return jnp.sum(rep.features(rep.params, u) ** 2)
    g = jax.jit(jax.grad(loss))(x[0])
    assert g.shape == x[0].shape and bool(jnp.all(jnp.isfinite(g)))


def test_lambda_tv_rules():
    caffenet = spec("caffenet").layers
    lam = [lambda_tv("caffenet", l) for l in caffenet[:20]]
    assert lam == [0.5] * 6 + [5.0] * 6 + [50.0] * 8  # METHOD.md §1.3 (paper units)
    # The receptive-field-size rule of the other networks reproduces CaffeNet's table.
    rf = receptive_field("caffenet")
    assert [lambda_by_receptive_field(rf[l][0], 227) for l in caffenet[:20]] == lam
    assert lambda_tv("googlenet", "pool2/3x3_s2") == 0.5
    assert lambda_tv("googlenet", "inception_3a") == 5.0
    assert lambda_tv("googlenet", "inception_5b") == 50.0
    assert lambda_tv("squeezenet1_1", "fire4") == 0.5 and lambda_tv("squeezenet1_1", "fire5") == 5.0
    assert lambda_tv("squeezenet1_1", "pool10") == 50.0
    assert lambda_tv("alexnet", "norm1") == 0.5 and lambda_tv("alexnet", "fc8") == 50.0


def test_cnn_errors(squeeze_blobs):
    with pytest.raises(JaxinvError, match="no layer 'fire10'.*fire9/concat"):
        cnn("squeezenet1_1", layer="fire10", weights=squeeze_blobs)
    with pytest.raises(JaxinvError, match="unknown network"):
        cnn("resnet18", layer="conv1", weights=squeeze_blobs)
    rep = cnn("squeezenet1_1", layer="conv1", weights=squeeze_blobs)
    with pytest.raises(JaxinvError, match="does not fit"):
        rep.code(np.zeros((100, 100, 3), np.float32))
