"""torchvision AlexNet .pth reader: key mapping, round trip, bad files, parity with PyTorch."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from conftest import require
from jaxinv.weights import load_network
from jaxinv.errors import JaxinvError

torch = require("torch")

from jaxinv.weights import read_blobs  # noqa: E402
from jaxinv.weights.official import expected_shapes  # noqa: E402
from jaxinv.weights.torchvision import ALEXNET_KEYS, read_pth, write_pth  # noqa: E402

# torchvision.models.alexnet().state_dict() shapes, written out so no torchvision is needed.
TORCHVISION_SHAPES = {
    "features.0.weight": (64, 3, 11, 11), "features.0.bias": (64,),
    "features.3.weight": (192, 64, 5, 5), "features.3.bias": (192,),
    "features.6.weight": (384, 192, 3, 3), "features.6.bias": (384,),
    "features.8.weight": (256, 384, 3, 3), "features.8.bias": (256,),
    "features.10.weight": (256, 256, 3, 3), "features.10.bias": (256,),
    "classifier.1.weight": (4096, 9216), "classifier.1.bias": (4096,),
    "classifier.4.weight": (4096, 4096), "classifier.4.bias": (4096,),
    "classifier.6.weight": (1000, 4096), "classifier.6.bias": (1000,),
}


@pytest.fixture(scope="module")
def state_dict():
    generator = torch.Generator().manual_seed(0)
    return {k: torch.randn(s, generator=generator) for k, s in TORCHVISION_SHAPES.items()}


def test_keys_map_to_canonical_layers(tmp_path, state_dict):
    """A state dict saved the way torchvision does maps key by key, values untouched (RGB)."""
    path = tmp_path / "alexnet-owt.pth"
    torch.save(state_dict, path)
    blobs = read_blobs(path, network="alexnet_torchvision")
    assert list(blobs) == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    for prefix, layer in ALEXNET_KEYS.items():
        np.testing.assert_array_equal(blobs[layer][0], state_dict[f"{prefix}.weight"].numpy())
        np.testing.assert_array_equal(blobs[layer][1], state_dict[f"{prefix}.bias"].numpy())
        assert blobs[layer][0].dtype == np.float32
    assert {k: [a.shape for a in v] for k, v in blobs.items()} == {
        k: [tuple(s) for s in v] for k, v in expected_shapes("alexnet_torchvision").items()}


def test_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    blobs = {k: [rng.standard_normal(s, dtype=np.float32) for s in v]
             for k, v in expected_shapes("alexnet_torchvision").items()}
    back = read_pth(write_pth(blobs, tmp_path / "a.pth"))
    assert list(back) == list(blobs)
    for layer in blobs:
        for a, b in zip(back[layer], blobs[layer]):
            np.testing.assert_array_equal(a, b)


def test_checkpoint_wrappers(tmp_path, state_dict):
    """{'state_dict': ...} checkpoints, DataParallel's 'module.' prefix and float16 are accepted."""
    wrapped = {"epoch": 90, "state_dict": {f"module.{k}": v.half() for k, v in state_dict.items()}}
    path = tmp_path / "checkpoint.pth"
    torch.save(wrapped, path)
    blobs = read_pth(path)
    np.testing.assert_array_equal(blobs["fc8"][1], state_dict["classifier.6.bias"].half().float().numpy())
    assert blobs["fc8"][1].dtype == np.float32


@pytest.mark.parametrize("case", ["missing", "unexpected", "shape", "integer", "garbage", "pickle", "tensor"])
def test_bad_files(tmp_path, state_dict, case):
    path = tmp_path / f"{case}.pth"
    state = dict(state_dict)
    if case == "missing":
        del state["classifier.4.weight"]
    elif case == "unexpected":
        state["features.1.weight"] = torch.zeros(3)
    elif case == "shape":
        state["features.3.weight"] = torch.zeros(192, 32, 5, 5)  # a grouped conv2 is not torchvision's
    elif case == "integer":
        state["features.0.bias"] = torch.zeros(64, dtype=torch.int64)
    if case == "garbage":
        path.write_bytes(b"not a pickle" * 100)
    elif case == "pickle":
        path.write_bytes(pickle.dumps(print, protocol=2))  # weights_only refuses to load code references
    elif case == "tensor":
        torch.save(torch.zeros(3), path)
    else:
        torch.save(state, path)
    with pytest.raises(JaxinvError) as info:
        read_pth(path)
    message = str(info.value)
    assert "\n" not in message and path.name in message
    expected = {"missing": "classifier.4.weight", "unexpected": "features.1.weight",
                "shape": "(192, 32, 5, 5)", "integer": "floating", "garbage": "not a readable",
                "pickle": "refuses to load", "tensor": "not a state dict"}[case]
    assert expected in message
    assert "weights_only" not in message  # PyTorch's hint would be advice to run the file's code


def test_wrong_network_name(tmp_path, state_dict):
    path = tmp_path / "a.pth"
    torch.save(state_dict, path)
    with pytest.raises(JaxinvError, match="alexnet_torchvision"):
        read_pth(path, network="caffenet")


def test_convert_refuses_bad_pth_and_writes_nothing(tmp_path, state_dict):
    from jaxinv.weights.cache import convert

    state = dict(state_dict)
    del state["features.10.bias"]
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    home = tmp_path / "home"
    with pytest.raises(JaxinvError, match="features.10.bias"):
        convert(path, name="alexnet_torchvision", home=home)
    assert not home.exists()


def test_torchvision_alexnet_parity_with_torch_reference(tmp_path):
    """torchvision AlexNet from a random .pth, converted through the cache, matches PyTorch."""
    jax = require("jax")
    networks = require("jaxinv.networks")
    torch_reference = require("torch_reference")
    from jaxinv.weights.cache import convert

    blobs = networks.init_blobs("alexnet_torchvision", key=1)
    src = write_pth(blobs, tmp_path / "alexnet-owt-7be5be79.pth")
    converted = convert(src, name="alexnet_torchvision", home=tmp_path / "home")
    net = load_network("alexnet_torchvision", weights=converted)
    x = np.random.default_rng(4).uniform(-128, 128, (1, 224, 224, 3)).astype(np.float32)
    layers = ["conv1", "conv2", "conv5", "fc6", "fc8"]
    with jax.default_matmul_precision("highest"):
        outs = jax.jit(lambda p, x: [net.features(p, x, layer=l) for l in layers])(net.params, x)
    reference = torch_reference.torch_model("alexnet_torchvision", blobs)(x)
    for layer, out in zip(layers, outs):
        ref = reference[layer]
        error = np.max(np.abs(np.asarray(out).reshape(ref.shape) - ref)) / np.max(np.abs(ref))
        assert error <= 1e-4, (layer, error)
