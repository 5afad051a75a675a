"""The Caffe reader/writer (both formats), the prototxt parser and bad-file errors."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from jaxinv.errors import JaxinvError
from jaxinv.networks import spec
from jaxinv.weights import read_blobs
from jaxinv.weights.caffe import (prototxt_layers, read_caffemodel, read_prototxt,
                                  write_caffemodel)
from conftest import shared_weights


def small_blobs(seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    blobs = {
        "conv1": [rng.standard_normal((8, 3, 5, 5), dtype=np.float32),
                  rng.standard_normal(8, dtype=np.float32)],
        "conv2": [rng.standard_normal((6, 4, 3, 3), dtype=np.float32),
                  rng.standard_normal(6, dtype=np.float32)],
        "fc6": [rng.standard_normal((10, 54), dtype=np.float32),
                rng.standard_normal(10, dtype=np.float32)],
    }
    types = {"conv1": "Convolution", "conv2": "Convolution", "fc6": "InnerProduct"}
    return blobs, types


@pytest.mark.parametrize("v1", [False, True])
def test_roundtrip_both_formats(tmp_path, v1):
    blobs, types = small_blobs()
    path = write_caffemodel(tmp_path / "m.caffemodel", blobs, layer_types=types, v1=v1)
    got = read_blobs(path)  # through the suffix dispatcher
    assert list(got) == list(blobs)
    for name, arrays in blobs.items():
        for a, b in zip(arrays, got[name]):
            assert b.dtype == np.float32 and b.shape == a.shape
            np.testing.assert_array_equal(a, b)


def test_v1_file_has_4d_dims_and_enum_types(tmp_path):
    blobs, types = small_blobs()
    path = write_caffemodel(tmp_path / "m.caffemodel", blobs, layer_types=types, v1=True)
    data = path.read_bytes()
    assert b"fc6" in data and struct.pack("<f", blobs["fc6"][1][0]) in data
    # NetParameter.layers is field 2 (tag 0x12); the current format's field 100 is absent.
    assert b"\xa2\x06" not in data[:64]
    current = write_caffemodel(tmp_path / "c.caffemodel", blobs, layer_types=types).read_bytes()
    assert b"\xa2\x06" in current[:64]


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def test_unpacked_floats_legacy_dims_and_doubles(tmp_path):
    """Old writers: non-packed float data, num/channels/height/width dims, double_data."""
    values = np.arange(6, dtype=np.float32)
    unpacked = b"".join(_varint(5 << 3 | 5) + struct.pack("<f", v) for v in values)
    dims = b"".join(_varint(f << 3) + _varint(d) for f, d in zip((1, 2, 3, 4), (2, 3, 1, 1)))
    blob_w = dims + unpacked
    blob_b = _ld(7, _ld(1, _varint(2))) + _ld(8, np.array([1.5, -2.0], "<f8").tobytes())
    layer = _ld(1, b"conv") + _ld(2, b"Convolution") + _ld(7, blob_w) + _ld(7, blob_b)
    path = tmp_path / "old.caffemodel"
    path.write_bytes(_ld(100, layer))
    got = read_caffemodel(path)
    np.testing.assert_array_equal(got["conv"][0], values.reshape(2, 3, 1, 1))
    np.testing.assert_array_equal(got["conv"][1], [1.5, -2.0])


def test_v0_layers_nested_in_v1(tmp_path):
    """Pre-2014 models: V1LayerParameter.layer (field 1) = V0LayerParameter, blobs field 50."""
    w = np.arange(4, dtype=np.float32)
    blob = b"".join(_varint(f << 3) + _varint(d) for f, d in zip((1, 2, 3, 4), (1, 1, 2, 2)))
    blob += _ld(5, w.tobytes())
    bias = _ld(5, w[:2].tobytes()) + _varint(4 << 3) + _varint(2)  # legacy width 2
    v0 = _ld(1, b"fc8") + _ld(2, b"innerproduct") + _ld(50, blob) + _ld(50, bias)
    path = tmp_path / "v0.caffemodel"
    path.write_bytes(_ld(2, _ld(1, v0)))
    got = read_caffemodel(path)
    np.testing.assert_array_equal(got["fc8"][0], w.reshape(2, 2))
    np.testing.assert_array_equal(got["fc8"][1], w[:2])


def test_truncated_and_corrupt_files_raise_clean_errors(tmp_path):
    blobs, types = small_blobs()
    for v1 in (False, True):
        data = write_caffemodel(tmp_path / "m.caffemodel", blobs, layer_types=types,
                                v1=v1).read_bytes()
        rng = np.random.default_rng(1)
        cuts = list(rng.integers(1, len(data) - 1, 40)) + [1, 2, 3, len(data) - 1]
        for cut in cuts:
            bad = tmp_path / "bad.caffemodel"
            bad.write_bytes(data[:cut])
            with pytest.raises(JaxinvError, match="truncated|no Caffe layers"):
                read_caffemodel(bad)
        for _ in range(40):  # random byte flips: a clean error or a successful read, no crash
            corrupt = bytearray(data)
            for i in rng.integers(0, len(data), 3):
                corrupt[i] = int(rng.integers(0, 256))
            bad.write_bytes(bytes(corrupt))
            try:
                read_caffemodel(bad)
            except JaxinvError as exc:
                assert "\n" not in str(exc)


@pytest.mark.parametrize("content", [
    b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    b'name: "CaffeNet"\nlayer { name: "conv1" type: "Convolution" }\n',
    b"",
])
def test_wrong_file_type(tmp_path, content):
    path = tmp_path / "x.caffemodel"
    path.write_bytes(content)
    with pytest.raises(JaxinvError, match="caffemodel|Caffe model"):
        read_blobs(path)


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(JaxinvError, match="not found"):
        read_blobs(tmp_path / "nope.caffemodel")
    (tmp_path / "w.bin").write_bytes(b"x")
    with pytest.raises(JaxinvError, match="unsupported"):
        read_blobs(tmp_path / "w.bin")


PROTOTXT = """
name: "tiny"  # a comment
layer {
  name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  param { lr_mult: 1 } param { lr_mult: 2 }
  convolution_param { num_output: 8 kernel_size: 5 stride: 1 }
}
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "fc6" type: "InnerProduct" bottom: "conv1" top: "fc6"
        inner_product_param { num_output: 10 } }
"""


def test_prototxt_parser_and_check(tmp_path):
    layers = prototxt_layers(PROTOTXT)
    assert [l["name"] for l in layers] == ["conv1", "relu1", "fc6"]
    assert layers[0]["convolution_param"] == {"num_output": 8, "kernel_size": 5, "stride": 1}
    assert layers[0]["param"] == [{"lr_mult": 1}, {"lr_mult": 2}]
    assert layers[1]["top"] == ["conv1"]
    assert read_prototxt(PROTOTXT)["name"] == ["tiny"]
    blobs, types = small_blobs()
    path = write_caffemodel(tmp_path / "m.caffemodel", blobs, layer_types=types)
    proto = tmp_path / "deploy.prototxt"
    proto.write_text(PROTOTXT)
    assert set(read_caffemodel(path, prototxt=proto)) == set(blobs)
    proto.write_text(PROTOTXT.replace("num_output: 10", "num_output: 11"))
    with pytest.raises(JaxinvError, match="fc6.*11"):
        read_caffemodel(path, prototxt=proto)
    proto.write_text(PROTOTXT.replace('"fc6"', '"fc7"'))
    with pytest.raises(JaxinvError, match="no weights for layer 'fc7'"):
        read_caffemodel(path, prototxt=proto)
    with pytest.raises(JaxinvError, match="truncated"):
        prototxt_layers("layer { name: 'x'")
    with pytest.raises(JaxinvError, match="unmatched"):
        prototxt_layers("layer { name: 'x' } }")


_OPS = {"Convolution": "conv", "InnerProduct": "fc", "ReLU": "relu", "LRN": "lrn",
        "Concat": "concat", "Softmax": "softmax"}


@pytest.mark.parametrize("network,folder", [("squeezenet1_1", "squeezenet_v1.1"),
                                            ("googlenet", "bvlc_googlenet")])
def test_architecture_matches_official_prototxt(network, folder):
    """Every layer of the zoo's graph is the prototxt's layer, with its parameters and bottoms."""
    layers = prototxt_layers(shared_weights() / folder / "deploy.prototxt")
    layers = [l for l in layers if l["type"] not in ("Input", "Dropout")]
    nodes = spec(network).nodes
    assert [n.name for n in nodes] == [l["name"] for l in layers]
    top_of = {}  # Caffe blob name -> our node producing its current value
    for node, layer in zip(nodes, layers):
        kind = layer["type"]
        if kind == "Pooling":
            p = layer["pooling_param"]
            assert node.op == ("maxpool" if p["pool"] == "MAX" else "avgpool")
            if p.get("global_pooling"):
                assert node.kernel == 0
            else:
                assert (node.kernel, node.stride, node.pad) == (
                    p["kernel_size"], p.get("stride", 1), p.get("pad", 0))
        else:
            assert node.op == _OPS[kind], node.name
        if kind == "Convolution":
            p = layer["convolution_param"]
            assert (node.out, node.kernel, node.stride, node.pad, node.group) == (
                p["num_output"], p["kernel_size"], p.get("stride", 1), p.get("pad", 0),
                p.get("group", 1))
        if kind == "InnerProduct":
            assert node.out == layer["inner_product_param"]["num_output"]
        if kind == "LRN":
            p = layer["lrn_param"]
            assert (node.size, node.alpha, node.beta) == (p["local_size"], p["alpha"], p["beta"])
        assert node.inputs == tuple(top_of.get(b, b) for b in layer["bottom"])
        top_of[layer["top"][0]] = node.name


@pytest.mark.parametrize("folder,model", [
    ("squeezenet_v1.1", "squeezenet_v1.1.caffemodel"),
    ("bvlc_googlenet", "bvlc_googlenet.caffemodel"),
])
def test_real_caffemodels_read_and_rewrite(tmp_path, folder, model):
    root = shared_weights() / folder
    blobs = read_caffemodel(root / model, prototxt=root / "deploy.prototxt")
    assert all(len(v) == 2 and v[1].ndim == 1 for v in blobs.values())
    types = {k: "InnerProduct" if v[0].ndim == 2 else "Convolution" for k, v in blobs.items()}
    again = read_caffemodel(write_caffemodel(tmp_path / "v1.caffemodel", blobs,
                                             layer_types=types, v1=True))
    for k in blobs:
        np.testing.assert_array_equal(blobs[k][0], again[k][0])
