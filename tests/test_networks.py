"""The CNN zoo: parity with PyTorch, real pretrained weights, truncation, aliases, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.data
import skimage.transform

from jaxinv.errors import JaxinvError
from jaxinv.networks import init_blobs, load, receptive_field, resolve_layer, spec
from jaxinv.weights import load_network
from jaxinv.networks.graph import ancestors, blob_shapes
from jaxinv.weights.caffe import write_caffemodel
from conftest import require, shared_weights

# How each network's random weights reach the loader: both .caffemodel formats are exercised.
FORMATS = {"caffenet": "v1", "alexnet": "current", "alexnet_torchvision": "blobs",
           "squeezenet1_1": "v1", "googlenet": "current"}


def zero_blobs(name: str) -> dict[str, list[np.ndarray]]:
    s = spec(name)
    return {k: [np.zeros(w, np.float32), np.zeros(b, np.float32)]
            for k, (w, b) in blob_shapes(s.nodes, s.input_shape).items()}


def layer_types(name: str) -> dict[str, str]:
    return {n.name: "Convolution" if n.op == "conv" else "InnerProduct"
            for n in spec(name).nodes if n.op in ("conv", "fc")}


@pytest.mark.parametrize("name", list(FORMATS))
def test_parity_with_pytorch_every_layer(name, tmp_path):
    require("torch")
    from torch_reference import torch_model

    blobs = init_blobs(name, key=7)
    weights = blobs
    if FORMATS[name] != "blobs":
        weights = write_caffemodel(tmp_path / f"{name}.caffemodel", blobs,
                                   layer_types=layer_types(name), v1=FORMATS[name] == "v1")
    net = load_network(name, weights=weights)
    del weights
    s = net.input_size
    x = np.random.default_rng(3).uniform(-120, 130, (2, s, s, 3)).astype(np.float32)
    with jax.default_matmul_precision("highest"):
        ours = net.activations(x, layer="prob")
    ref = torch_model(name, blobs)(x)
    assert list(ours) == list(net.layers)
    for layer in net.layers:
        got, want = np.asarray(ours[layer]), ref[layer]
        assert got.shape == want.shape, (layer, got.shape, want.shape)
        rel = np.abs(got - want).max() / np.abs(want).max()
        assert rel <= 1e-4, f"{name} {layer}: max rel diff {rel:.2e}"


README_TOP3 = {  # shared/weights/README.md
    "squeezenet1_1": {"chelsea": [(285, 0.5018), (282, 0.3006), (281, 0.1765)],
                      "coffee": [(967, 0.9976), (968, 0.0005), (504, 0.0002)]},
    "googlenet": {"chelsea": [(285, 0.5621), (282, 0.2549), (281, 0.1589)],
                  "coffee": [(967, 0.9708), (968, 0.0226), (504, 0.0023)]},
}
PRETRAINED = {"squeezenet1_1": "squeezenet_v1.1/squeezenet_v1.1.caffemodel",
              "googlenet": "bvlc_googlenet/bvlc_googlenet.caffemodel"}


@pytest.mark.parametrize("name", list(PRETRAINED))
def test_pretrained_classification(name):
    net = load_network(name, weights=shared_weights() / PRETRAINED[name])
    s = net.input_size
    for image, top3 in README_TOP3[name].items():
        rgb = getattr(skimage.data, image)()
        # exactly the README's pre-processing
        x = skimage.transform.resize(rgb, (s, s), anti_aliasing=True) * 255
        x = (x[:, :, ::-1] - np.array([104, 117, 123])).astype(np.float32)
        np.testing.assert_allclose(net.preprocess(rgb), x, atol=1e-3)
        prob = np.asarray(net.apply(x[None], layer="prob")).reshape(-1)
        for cls, p in top3:
            assert abs(prob[cls] - p) <= 0.005, (image, cls, prob[cls], p)
        assert [c for c, _ in top3] == list(np.argsort(-prob)[:3])
        prob2 = np.asarray(net.apply(net.preprocess(rgb)[None], layer="prob")).reshape(-1)
        assert int(np.argmax(prob2)) == top3[0][0]


@pytest.fixture(scope="module")
def small_nets():
    return {n: load(n, weights=init_blobs(n, key=0)) for n in ("squeezenet1_1", "googlenet")}


def _count(jaxpr, primitive: str) -> int:
    """Occurrences of ``primitive`` in ``jaxpr`` and the jaxprs nested in its equations."""
    count = 0
    for eqn in jaxpr.eqns:
        count += eqn.primitive.name == primitive
        for p in eqn.params.values():
            for sub in p if isinstance(p, (tuple, list)) else (p,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    count += _count(inner, primitive)
    return count


@pytest.mark.parametrize("name,layers", [
    ("caffenet", ["conv1", "relu2", "norm2", "conv5", "pool5", "fc6", "fc8", "prob"]),
    ("squeezenet1_1", ["fire2/squeeze1x1", "fire2/relu_expand1x1", "fire5", "pool10"]),
    ("googlenet", ["pool1/norm1", "inception_3a/relu_3x3", "inception_3a/pool",
                   "inception_4c", "loss3/classifier"]),
])
def test_features_stop_at_layer(name, layers):
    """The traced program holds exactly the convolutions the layer depends on, nothing after."""
    s = spec(name)
    net = load(name, weights=zero_blobs(name))  # only shapes matter here
    x = jax.ShapeDtypeStruct((1, s.input_size, s.input_size, 3), np.float32)
    for layer in layers:
        canonical = resolve_layer(name, layer)
        need = ancestors(s.nodes, canonical)
        expected = sum(n.group for n in s.nodes if n.op == "conv" and n.name in need)
        jaxpr = jax.make_jaxpr(lambda p, x: net.features(p, x, layer=layer))(net.params, x)
        assert _count(jaxpr.jaxpr, "conv_general_dilated") == expected, layer
        n_dots = _count(jaxpr.jaxpr, "dot_general")  # fc layers and LRN window sums
        expected_dots = sum(n.op in ("fc", "lrn") for n in s.nodes if n.name in need)
        assert n_dots == expected_dots, layer


def test_aliases_and_layer_lists(small_nets):
    net = small_nets["squeezenet1_1"]
    x = np.random.default_rng(0).normal(0, 50, (1, 227, 227, 3)).astype(np.float32)
    np.testing.assert_array_equal(net.apply(x, layer="fire5"), net.apply(x, layer="fire5/concat"))
    assert net.apply(x, layer="fire9").shape == (1, 14, 14, 512)
    g = small_nets["googlenet"]
    assert resolve_layer("googlenet", "inception_3a") == "inception_3a/output"
    assert g.layers[:4] == ("conv1/7x7_s2", "conv1/relu_7x7", "pool1/3x3_s2", "pool1/norm1")
    assert g.layers[-1] == "prob" and "loss3/classifier" in g.layers
    assert not any("loss1" in l or "loss2" in l for l in g.layers)  # no auxiliary heads
    assert spec("caffenet").layers == (
        "conv1", "relu1", "pool1", "norm1", "conv2", "relu2", "pool2", "norm2", "conv3",
        "relu3", "conv4", "relu4", "conv5", "relu5", "pool5", "fc6", "relu6", "fc7", "relu7",
        "fc8", "prob")
    assert spec("alexnet").layers[2:4] == ("norm1", "pool1")
    assert "normalize" not in spec("alexnet_torchvision").layers


def test_caffe_ceil_pooling_shapes(small_nets):
    g = small_nets["googlenet"]
    x = np.zeros((1, 224, 224, 3), np.float32)
    assert g.apply(x, layer="conv1/7x7_s2").shape == (1, 112, 112, 64)
    assert g.apply(x, layer="pool1/3x3_s2").shape == (1, 56, 56, 64)  # ceil: not 55
    assert g.apply(x, layer="inception_5b").shape == (1, 7, 7, 1024)
    assert small_nets["squeezenet1_1"].apply(
        np.zeros((1, 227, 227, 3), np.float32), layer="pool1").shape == (1, 56, 56, 64)


def test_receptive_fields_match_method_table():
    rf = receptive_field("caffenet")
    sizes = [11, 11, 19, 19, 51, 51, 67, 67, 99, 99, 131, 131, 163, 163, 195, 355, 355]
    strides = [4, 4, 8, 8, 8, 8, 16, 16, 16, 16, 16, 16, 16, 16, 32, 32, 32]
    assert [rf[l] for l in spec("caffenet").layers[:17]] == list(zip(sizes, strides))


def test_preprocess_deprocess(small_nets):
    net = small_nets["squeezenet1_1"]
    rgb = skimage.data.astronaut()
    x = net.preprocess(rgb)
    assert x.shape == (227, 227, 3) and x.dtype == np.float32
    np.testing.assert_allclose(net.preprocess(rgb.astype(np.float32)), x, atol=1e-3)
    pic = net.deprocess(x)
    want = skimage.transform.resize(rgb, (227, 227), anti_aliasing=True) * 255
    np.testing.assert_allclose(pic, want, atol=1e-3)
    gray = net.preprocess(skimage.data.camera())
    assert gray.shape == (227, 227, 3)
    with pytest.raises(JaxinvError, match="RGB"):
        net.preprocess(np.zeros((4, 4, 5)))
    tv = load("alexnet_torchvision", weights=zero_blobs("alexnet_torchvision"))
    np.testing.assert_allclose(tv.preprocess(np.full((8, 8, 3), 255.0))[0, 0],
                               255 * (1 - np.array([0.485, 0.456, 0.406])), rtol=1e-5)


def test_init_blobs_shapes_and_determinism():
    a, b = init_blobs("squeezenet1_1", key=3), init_blobs("squeezenet1_1", key=3)
    assert a.keys() == b.keys()
    np.testing.assert_array_equal(a["conv10"][0], b["conv10"][0])
    assert a["conv1"][0].shape == (64, 3, 3, 3) and a["conv1"][0].dtype == np.float32
    c = init_blobs("squeezenet1_1", key=jax.random.key(3))
    assert c["conv1"][0].shape == (64, 3, 3, 3)


def test_errors(tmp_path, small_nets):
    with pytest.raises(JaxinvError, match="unknown network 'vgg'.*caffenet.*googlenet"):
        load("vgg", weights={})
    with pytest.raises(JaxinvError, match="no layer 'conv9'.*conv1.*fire5/concat"):
        small_nets["squeezenet1_1"].apply(np.zeros((1, 227, 227, 3), np.float32), layer="conv9")
    blobs = init_blobs("squeezenet1_1", key=0)
    partial = {k: v for k, v in blobs.items() if k not in ("conv10", "fire9/expand3x3")}
    with pytest.raises(JaxinvError, match="fire9/expand3x3, conv10"):
        load("squeezenet1_1", weights=partial)
    wrong = dict(blobs, conv1=[np.zeros((64, 3, 5, 5), np.float32), blobs["conv1"][1]])
    with pytest.raises(JaxinvError, match=r"'conv1'.*\(64, 3, 5, 5\).*\(64, 3, 3, 3\)"):
        load("squeezenet1_1", weights=wrong)
    with pytest.raises(JaxinvError, match="blobs for layer"):  # GoogLeNet weights, SqueezeNet
        load("squeezenet1_1", weights=init_blobs("googlenet", key=0))
    bad = tmp_path / "model.caffemodel"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(JaxinvError):
        load_network("squeezenet1_1", weights=bad)
    with pytest.raises(JaxinvError, match="load_network"):  # files are read one level up
        load("squeezenet1_1", weights=bad)
    with pytest.raises(JaxinvError, match="weights must be"):
        load("squeezenet1_1", weights=3)


def test_missing_cache_tells_how_to_get_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("JAXINV_CACHE", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    try:
        load_network("caffenet")
    except JaxinvError as exc:
        assert "jaxinv weights" in str(exc)
    # else: a cache on this machine already holds CaffeNet, which is fine


@pytest.mark.parametrize("k,s,p", [(11, 4, 0), (11, 4, 2), (7, 2, 3), (3, 2, 0), (1, 2, 0),
                                   (5, 3, 1)])
def test_strided_conv_space_to_depth(k, s, p):
    from jaxinv.networks import layers as L

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 23, 23, 3)).astype(np.float32)
    kernel = rng.standard_normal((1, k, k, 3, 4)).astype(np.float32)
    bias = np.zeros(4, np.float32)
    with jax.default_matmul_precision("highest"):
        got = L.conv2d(x, kernel, bias, stride=s, pad=p)
        want = jax.lax.conv_general_dilated(x, kernel[0], (s, s), ((p, p), (p, p)),
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("size,k,s,p", [(13, 3, 2, 0), (14, 3, 2, 0), (14, 3, 2, 1),
                                        (7, 3, 1, 1), (10, 7, 1, 0), (9, 2, 2, 1)])
def test_pooling_matches_torch_ceil_mode(size, k, s, p):
    torch = require("torch")
    from jaxinv.networks import layers as L

    x = np.random.default_rng(1).standard_normal((2, size, size, 5)).astype(np.float32)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    for ours, theirs in ((L.max_pool, torch.nn.functional.max_pool2d),
                         (L.avg_pool, torch.nn.functional.avg_pool2d)):
        got = np.asarray(ours(x, kernel=k, stride=s, pad=p))
        want = theirs(xt, k, s, padding=p, ceil_mode=True).permute(0, 2, 3, 1).numpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size,k,s,p", [(13, 3, 2, 0), (14, 3, 2, 1), (7, 3, 1, 1), (10, 7, 1, 0),
                                        (9, 2, 2, 1), (12, 5, 3, 2)])
def test_max_pool_gradient_matches_torch(size, k, s, p):
    """The custom VJP under jit and vmap equals PyTorch's max_pool2d backward (no ties)."""
    torch = require("torch")
    from jaxinv.networks import layers as L

    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, size, size + 1, 4)).astype(np.float32)
    out_shape = L.max_pool(jnp.asarray(x[:1]), kernel=k, stride=s, pad=p).shape[1:]
    g = rng.standard_normal((3, *out_shape)).astype(np.float32)

    def one(xi, gi):
        return jax.grad(lambda v: jnp.sum(L.max_pool(v[None], kernel=k, stride=s, pad=p)[0] * gi))(xi)

    got = np.asarray(jax.jit(jax.vmap(one))(x, g))
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).requires_grad_()
    yt = torch.nn.functional.max_pool2d(xt, k, s, padding=p, ceil_mode=True)
    (yt * torch.from_numpy(g).permute(0, 3, 1, 2)).sum().backward()
    np.testing.assert_allclose(got, xt.grad.permute(0, 2, 3, 1).numpy(), rtol=1e-6, atol=1e-6)


def test_max_pool_gradient_on_ties_is_a_subgradient():
    """Flat and repeated inputs: each window's cotangent goes whole to one of its maxima,
    the first along H in the first column holding it (the documented rule), by a loop."""
    from jaxinv.networks import layers as L

    x = np.zeros((1, 9, 9, 2), np.float32)
    x[0, 2:5, 2:5, 1] = 1.0  # a plateau of equal maxima on a flat field
    g = np.arange(1, 33, dtype=np.float32).reshape(1, 4, 4, 2)
    dx = np.asarray(jax.grad(lambda v: jnp.sum(L.max_pool(v, kernel=3, stride=2) * g))(jnp.asarray(x)))
    want = np.zeros_like(x)
    for i in range(4):
        for j in range(4):
            for c in range(2):
                window = x[0, 2 * i:2 * i + 3, 2 * j:2 * j + 3, c]
                col = int(np.argmax((window == window.max()).any(axis=0)))
                row = int(np.argmax(window[:, col] == window.max()))
                want[0, 2 * i + row, 2 * j + col, c] += g[0, i, j, c]
    np.testing.assert_array_equal(dx, want)
