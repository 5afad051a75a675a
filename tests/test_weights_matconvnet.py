"""MatConvNet .mat reader: layouts, both simplenn field styles, DagNN, errors, CaffeNet parity."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from conftest import require
from jaxinv.weights import load_network
from jaxinv.errors import JaxinvError

scipy_io = require("scipy.io")

from jaxinv.weights import read_blobs  # noqa: E402
from jaxinv.weights.matconvnet import read_mat, read_mat_meta, write_mat  # noqa: E402
from jaxinv.weights.official import expected_shapes  # noqa: E402


def random_blobs(name: str, seed: int = 0) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {layer: [rng.standard_normal(s, dtype=np.float32) for s in shapes]
            for layer, shapes in expected_shapes(name).items()}


def assert_blobs_equal(got, want) -> None:
    assert list(got) == list(want)
    for layer in want:
        assert len(got[layer]) == len(want[layer]), layer
        for a, b in zip(got[layer], want[layer]):
            assert a.dtype == np.float32 and a.shape == b.shape, (layer, a.shape, b.shape)
            np.testing.assert_array_equal(a, b, err_msg=layer)


@pytest.fixture(scope="module")
def caffenet_blobs():
    return random_blobs("caffenet")


def test_round_trip_full_caffenet(tmp_path, caffenet_blobs):
    """Full-size CaffeNet (newer ``weights`` field) reads back to the same canonical blobs."""
    path = write_mat(caffenet_blobs, tmp_path / "caffenet.mat")
    blobs = read_blobs(path, network="caffenet")
    assert_blobs_equal(blobs, caffenet_blobs)
    # The three shapes that decide the layout: grouped conv2 (in = 48), fc6 over 6x6x256.
    assert blobs["conv2"][0].shape == (256, 48, 5, 5)
    assert blobs["fc6"][0].shape == (4096, 9216)
    assert blobs["fc8"][0].shape == (1000, 4096)


@pytest.mark.parametrize("style", ["weights", "filters", "dagnn"])
def test_round_trip_each_style(tmp_path, caffenet_blobs, style):
    """Each MatConvNet layout (new ``weights``, old ``filters``/``biases``, DagNN ``params``)
    round-trips; a cut-down net keeps the decisive shapes (conv2 in = 48, fc6 over 6x6x256)."""
    rng = np.random.default_rng(5)
    small = {k: caffenet_blobs[k] for k in ("conv1", "conv2", "conv5")}
    small["fc6"] = [rng.standard_normal((16, 9216), dtype=np.float32), rng.standard_normal(16, dtype=np.float32)]
    small["fc7"] = [rng.standard_normal((8, 16), dtype=np.float32), rng.standard_normal(8, dtype=np.float32)]
    path = write_mat(small, tmp_path / f"small-{style}.mat", style=style)
    assert_blobs_equal(read_mat(path), small)
    if style != "dagnn":
        stored = scipy_io.loadmat(path, struct_as_record=False)["layers"][0, 6][0, 0]
        filters = stored.weights[0, 0] if style == "weights" else stored.filters
        assert filters.shape == (6, 6, 256, 16)  # fc6 stored as MatConvNet does: H x W x in x out


def _save(path: pathlib.Path, layers: list[dict], **extra) -> pathlib.Path:
    cell = np.empty((1, len(layers)), dtype=object)
    for i, layer in enumerate(layers):
        cell[0, i] = layer
    scipy_io.savemat(path, {"layers": cell, **extra})
    return path


def _weights(filters, biases):
    cell = np.empty((1, 2), dtype=object)
    cell[0, 0], cell[0, 1] = filters, biases
    return cell


def test_layouts_built_by_hand(tmp_path):
    """A file written directly with savemat (not write_mat) pins the conventions independently:
    conv1 RGB -> BGR, (H, W, in, out) -> (out, in, H, W), fc6 flattened in Caffe's (C, H, W)."""
    rng = np.random.default_rng(1)
    f1 = rng.standard_normal((11, 11, 3, 96), dtype=np.float32)   # MATLAB H x W x in x out, RGB
    f2 = rng.standard_normal((5, 5, 48, 256), dtype=np.float32)   # grouped conv2: in/group = 48
    f6 = rng.standard_normal((6, 6, 256, 4096), dtype=np.float32)  # fc6 as a 6x6 convolution
    f7 = rng.standard_normal((1, 1, 4096, 10), dtype=np.float32)
    b1, b2 = rng.standard_normal((1, 96), dtype=np.float32), rng.standard_normal((256, 1), dtype=np.float32)
    b6, b7 = rng.standard_normal((1, 4096), dtype=np.float32), rng.standard_normal((1, 10), dtype=np.float32)
    empty = np.empty((0, 0), dtype=object)
    path = _save(tmp_path / "hand.mat", [
        {"name": "conv1", "type": "conv", "weights": _weights(f1, b1)},
        {"name": "relu1", "type": "relu", "weights": empty},
        {"name": "norm1", "type": "normalize", "param": np.array([[5, 1, 2e-5, 0.75]])},
        {"name": "conv2", "type": "conv", "weights": _weights(f2, b2)},
        {"name": "fc6", "type": "conv", "weights": _weights(f6, b6)},
        {"name": "fc7", "type": "conv", "weights": _weights(f7, b7)},
        {"name": "prob", "type": "softmax"},
    ])
    blobs = read_mat(path)
    assert list(blobs) == ["conv1", "conv2", "fc6", "fc7"]

    # conv1: the same RGB patch seen by MatConvNet equals the BGR patch seen by Caffe.
    patch_rgb = rng.standard_normal((11, 11, 3), dtype=np.float32)
    matconvnet = np.einsum("hwco,hwc->o", f1, patch_rgb)
    caffe = np.einsum("ochw,chw->o", blobs["conv1"][0], patch_rgb[..., ::-1].transpose(2, 0, 1))
    np.testing.assert_allclose(caffe, matconvnet, rtol=1e-5, atol=1e-4)
    assert blobs["conv1"][0][5, 0, 2, 3] == f1[2, 3, 2, 5]  # B (Caffe channel 0) = MATLAB channel 3

    assert blobs["conv2"][0].shape == (256, 48, 5, 5)
    assert blobs["conv2"][0][7, 40, 1, 4] == f2[1, 4, 40, 7]
    np.testing.assert_array_equal(blobs["conv2"][1], b2.ravel())  # column biases accepted too

    # fc6: Caffe's inner product over pool5 flattened (C, H, W) = MatConvNet's 6x6 convolution.
    pool5 = rng.standard_normal((6, 6, 256), dtype=np.float32)
    caffe = blobs["fc6"][0] @ pool5.transpose(2, 0, 1).ravel()
    matconvnet = np.einsum("hwco,hwc->o", f6, pool5)
    np.testing.assert_allclose(caffe, matconvnet, rtol=1e-4, atol=1e-3)
    assert blobs["fc6"][0][9, 100 * 36 + 2 * 6 + 5] == f6[2, 5, 100, 9]
    assert blobs["fc7"][0].shape == (10, 4096)


def test_trailing_singleton_and_missing_bias(tmp_path):
    """MATLAB drops trailing singleton dims (one output channel) and bias-free layers exist."""
    f = np.arange(3 * 3 * 4, dtype=np.float32).reshape(3, 3, 4)  # H x W x in, out = 1
    path = _save(tmp_path / "single.mat", [{"name": "conv", "type": "conv", "filters": f,
                                             "biases": np.zeros((0, 0), np.float32)}])
    blobs = read_mat(path)
    assert blobs["conv"][0].shape == (1, 4, 3, 3)
    np.testing.assert_array_equal(blobs["conv"][0][0, 2], f[:, :, 2])
    np.testing.assert_array_equal(blobs["conv"][1], np.zeros(1, np.float32))


def test_net_wrapper_and_meta(tmp_path, caffenet_blobs):
    """save(file, 'net') nests the model one level; meta.normalization.averageImage is RGB."""
    small = {k: caffenet_blobs[k] for k in ("conv1", "conv2")}
    flat = write_mat(small, tmp_path / "flat.mat", average_image=np.arange(12, dtype=np.float32).reshape(2, 2, 3))
    contents = scipy_io.loadmat(flat)
    wrapped = tmp_path / "wrapped.mat"
    scipy_io.savemat(wrapped, {"net": {"layers": contents["layers"], "meta": contents["meta"]}})
    assert_blobs_equal(read_mat(wrapped), small)
    meta = read_mat_meta(flat)
    np.testing.assert_array_equal(meta["average_image"], np.arange(12, dtype=np.float32).reshape(2, 2, 3))
    assert meta["image_size"] == (227, 227, 3)
    stored = contents["meta"][0, 0]["normalization"][0, 0]["averageImage"]
    np.testing.assert_array_equal(stored[..., 0], meta["average_image"][..., 2])  # stored RGB


@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 1), (1, 3)])
def test_mean_pixel_any_orientation(tmp_path, shape):
    path = _save(tmp_path / "mean.mat", [{"name": "relu", "type": "relu"}],
                 meta={"normalization": {"averageImage": np.array([122.7, 116.7, 104.0]).reshape(shape)}})
    np.testing.assert_allclose(read_mat_meta(path)["average_image"], [[[104.0, 116.7, 122.7]]], rtol=1e-6)


def test_dagnn_without_layer_links(tmp_path):
    """DagNN params named conv1f / conv1b are paired even when layers do not list them."""
    rng = np.random.default_rng(2)
    f, b = rng.standard_normal((3, 3, 3, 8), dtype=np.float32), rng.standard_normal((8, 1), dtype=np.float32)
    params = np.empty((1, 2), dtype=[("name", object), ("value", object)])
    params[0, 0]["name"], params[0, 0]["value"] = "conv1f", f
    params[0, 1]["name"], params[0, 1]["value"] = "conv1b", b
    layers = np.empty((1, 1), dtype=[("name", object), ("type", object)])
    layers[0, 0]["name"], layers[0, 0]["type"] = "conv1", "dagnn.Conv"
    path = tmp_path / "dag.mat"
    scipy_io.savemat(path, {"layers": layers, "params": params})
    blobs = read_mat(path)
    np.testing.assert_array_equal(blobs["conv1"][0], f.transpose(3, 2, 0, 1)[:, ::-1])
    np.testing.assert_array_equal(blobs["conv1"][1], b.ravel())


@pytest.mark.parametrize("case", ["garbage", "no-layers", "v73", "bnorm", "no-weights"])
def test_bad_files_raise_one_line_errors(tmp_path, case):
    path = tmp_path / f"{case}.mat"
    if case == "garbage":
        path.write_bytes(b"this is not a MATLAB file at all" * 10)
    elif case == "no-layers":
        scipy_io.savemat(path, {"x": np.ones(3)})
    elif case == "v73":
        # A v7.3 header (HDF5 container): version 0x0200 at byte 124.
        path.write_bytes(b"MATLAB 7.3 MAT-file".ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM" + b"\0" * 512)
    elif case == "bnorm":
        _save(path, [{"name": "bn1", "type": "bnorm",
                      "weights": _weights(np.ones((8, 1), np.float32), np.zeros((8, 1), np.float32))}])
    else:
        _save(path, [{"name": "relu1", "type": "relu"}])
    with pytest.raises(JaxinvError) as info:
        read_mat(path)
    message = str(info.value)
    assert "\n" not in message and path.name in message or case == "bnorm"
    if case == "v73":
        assert "v7.3" in message and "-v7" in message


def test_caffenet_parity_with_torch_reference(tmp_path):
    """CaffeNet from a random .mat, converted through the cache, matches the PyTorch reference."""
    require("torch")
    jax = require("jax")
    networks = require("jaxinv.networks")
    torch_reference = require("torch_reference")
    from jaxinv.weights.cache import convert

    blobs = networks.init_blobs("caffenet", key=0)
    src = write_mat(blobs, tmp_path / "imagenet-caffe-ref.mat")
    converted = convert(src, name="caffenet", home=tmp_path / "home")
    net = load_network("caffenet", weights=converted)
    x = np.random.default_rng(3).uniform(-128, 128, (1, 227, 227, 3)).astype(np.float32)
    layers = ["conv1", "conv2", "conv5", "fc6", "fc8"]
    with jax.default_matmul_precision("highest"):
        outs = jax.jit(lambda p, x: [net.features(p, x, layer=l) for l in layers])(net.params, x)
    reference = torch_reference.torch_model("caffenet", blobs)(x)
    for layer, out in zip(layers, outs):
        ref = reference[layer]
        error = np.max(np.abs(np.asarray(out).reshape(ref.shape) - ref)) / np.max(np.abs(ref))
        assert error <= 1e-4, (layer, error)
