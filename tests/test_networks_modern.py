"""VGG-16, ResNet-50, ViT-B/16: parity with plain PyTorch through every converter, bad files.

Each architecture is written in plain PyTorch (`torch_reference_modern`) with torchvision's
key names, filled with random weights, saved as the user's file (.pth, timm .safetensors,
MatConvNet .mat), converted with ``jaxinv weights convert`` and compared layer by layer:
max |Δ| / max |reference| ≤ 1e-4 under the highest matmul precision. The networks run at
reduced widths (same code, same depth, 224×224 except ViT's inversion) to keep CI fast; one
full-size VGG-16 goes through the whole conversion once.
"""

from __future__ import annotations

import pickle

import jax
import numpy as np
import pytest

from conftest import require
from jaxinv.networks import NETWORKS, load, register
from jaxinv.weights import load_network
from jaxinv.networks import resnet50 as resnet_spec
from jaxinv.networks import vgg16 as vgg_spec
from jaxinv.networks import vit as vit_spec

torch = require("torch")
import torch_reference_modern as ref  # noqa: E402

SMALL = {  # jaxinv spec and plain-PyTorch model at the same reduced widths
    "vgg16": (lambda: vgg_spec.build(name="test_vgg16", widths=(4, 8, 8, 16, 16), hidden=32, classes=10),
              lambda: ref.vgg16(widths=(4, 8, 8, 16, 16), hidden=32, classes=10)),
    "resnet50": (lambda: resnet_spec.build(name="test_resnet50", width=4, classes=10),
                 lambda: ref.resnet50(width=4, classes=10)),
    "vit_b_16": (lambda: vit_spec.build(name="test_vit_b_16", dim=32, heads=4, mlp=64, classes=10),
                 lambda: ref.vit_b_16(dim=32, heads=4, mlp=64, classes=10)),
}
TORCHVISION_MEAN = np.array([0.485, 0.456, 0.406]) * 255
TORCHVISION_STD = np.array([0.229, 0.224, 0.225]) * 255


def convert_cli(src, name, home):
    """``jaxinv weights convert SRC --name NAME --home HOME``: the converted path, or the error."""
    from jaxinv.cli import main

    assert main(["weights", "convert", str(src), "--name", name, "--home", str(home)]) == 0
    return home / f"{name}.safetensors"


def pictures(size=224, n=2, seed=3):
    """Input-space batches: pixels in [0, 255] minus a mean, as `Network.preprocess` gives."""
    return np.random.default_rng(seed).uniform(-120, 130, (n, size, size, 3)).astype(np.float32)


def assert_parity(net, model, x, reference_input):
    with jax.default_matmul_precision("highest"):
        ours = net.activations(x, layer="prob")
    want = ref.run(model, reference_input)
    assert list(ours) == list(net.layers)
    for layer in net.layers:
        got = np.asarray(ours[layer])
        assert got.size == want[layer].size, (layer, got.shape, want[layer].shape)
        got = got.reshape(want[layer].shape)
        rel = np.abs(got - want[layer]).max() / np.abs(want[layer]).max()
        assert rel <= 1e-4, f"{net.name} {layer}: max rel diff {rel:.2e}"


@pytest.fixture(scope="module")
def small():
    """{family: (network name, torch model with random weights)}, registered once."""
    out = {}
    for seed, (family, (spec, model)) in enumerate(SMALL.items()):
        name = register(spec()).name
        module = model()
        ref.randomize(module, seed)
        out[family] = (name, module)
    yield out
    for name, _ in out.values():  # leave the registry as other test modules expect it
        NETWORKS.pop(name)


@pytest.mark.parametrize("family", list(SMALL))
def test_torchvision_pth_parity_every_layer(family, small, tmp_path):
    """A torchvision-keyed .pth, converted by the CLI, matches PyTorch at every named layer."""
    name, model = small[family]
    src = tmp_path / f"{family}.pth"
    torch.save(model.state_dict(), src)
    net = load_network(name, weights=convert_cli(src, name, tmp_path / "home"))
    np.testing.assert_allclose(net.mean, TORCHVISION_MEAN, rtol=1e-6)
    x = pictures()
    assert_parity(net, model, x, x / TORCHVISION_STD)


def test_timm_safetensors_parity_every_layer(small, tmp_path):
    """timm's key names and mean = std = 0.5: the same network, other file, other input scale."""
    from safetensors.numpy import save_file

    from jaxinv.weights.timm import read_timm, timm_keys

    name, model = small["vit_b_16"]
    state = timm_keys({k: v.numpy() for k, v in model.state_dict().items()})
    assert "blocks.11.attn.qkv.weight" in state and "cls_token" in state
    src = tmp_path / "model.safetensors"
    save_file(state, str(src))
    net = load(name, weights=read_timm(src, network=name))
    np.testing.assert_allclose(net.mean, [127.5] * 3)
    x = pictures(n=1)
    assert_parity(net, model, x, x / 127.5)


def test_timm_resnet50_safetensors_is_torchvision_keyed(small, tmp_path):
    """timm's ResNet-50 file: torchvision's keys and ImageNet mean/std, BatchNorm folded alike."""
    from safetensors.numpy import save_file

    from jaxinv.weights.timm import is_timm_file, read_timm
    from jaxinv.weights.torchvision import read_pth

    name, model = small["resnet50"]
    torch.save(model.state_dict(), tmp_path / "r.pth")
    save_file({k: v.numpy() for k, v in model.state_dict().items()}, str(tmp_path / "model.safetensors"))
    assert is_timm_file(tmp_path / "model.safetensors")
    from_timm, from_pth = read_timm(tmp_path / "model.safetensors", network=name), read_pth(tmp_path / "r.pth", network=name)
    assert list(from_timm) == list(from_pth)
    for layer in from_pth:
        for a, b in zip(from_timm[layer], from_pth[layer]):
            np.testing.assert_array_equal(a, b)


def test_timm_keyed_pth_reads_as_timm(small, tmp_path):
    """timm's pytorch_model.bin layout saved as .pth: timm's key names and pre-processing."""
    from jaxinv.weights.timm import timm_keys
    from jaxinv.weights.torchvision import read_pth

    name, model = small["vit_b_16"]
    src = tmp_path / "pytorch_model.pth"
    torch.save(timm_keys(model.state_dict()), src)
    blobs = read_pth(src, network=name)
    np.testing.assert_allclose(blobs["normalize"][0], [127.5] * 3)
    np.testing.assert_array_equal(blobs["encoder.layers.encoder_layer_3.self_attention"][0],
                                  model.state_dict()["encoder.layers.encoder_layer_3.self_attention.in_proj_weight"].numpy())


def test_official_files_of_the_new_networks():
    from jaxinv.weights.official import entry

    for network, file in (("vgg16", "vgg16-397923af.pth"), ("resnet50", "resnet50-0676ba61.pth"),
                          ("vit_b_16", "vit_b_16-c867db91.pth")):
        row = entry(network)  # the first file of the network is torchvision's
        assert (row.file, row.algorithm, row.hash) == (file, "sha256-prefix", file[-12:-4])
        assert row.url == f"https://download.pytorch.org/models/{file}"
    assert entry("vgg16-matconvnet").file == "imagenet-vgg-verydeep-16.mat"
    assert entry("timm-vit_base_patch16_224").network == "vit_b_16"


def test_timm_safetensors_converts_through_the_cli(small, tmp_path):
    from safetensors.numpy import save_file

    from jaxinv.weights.timm import timm_keys

    name, model = small["vit_b_16"]
    src = tmp_path / "model.safetensors"
    save_file(timm_keys({k: v.numpy() for k, v in model.state_dict().items()}), str(src))
    np.testing.assert_allclose(load_network(name, weights=convert_cli(src, name, tmp_path / "h")).mean, [127.5] * 3)


def test_matconvnet_vgg16_parity_every_layer(small, tmp_path):
    """imagenet-vgg-verydeep-16.mat's layout: conv1_1 … fc8, RGB, average image, no scaling."""
    from jaxinv.weights.matconvnet import write_mat

    name, model = small["vgg16"]
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    aliases = dict(vgg_spec.SPEC.aliases)
    blobs = {}
    for mat_name in ("conv1_1 conv1_2 conv2_1 conv2_2 conv3_1 conv3_2 conv3_3 conv4_1 conv4_2"
                     " conv4_3 conv5_1 conv5_2 conv5_3 fc6 fc7 fc8").split():
        blobs[mat_name] = [state[f"{aliases[mat_name]}.weight"], state[f"{aliases[mat_name]}.bias"]]
    average = np.tile(np.float32([122.7, 114.9, 101.6]), (224, 224, 1))
    src = write_mat(blobs, tmp_path / "imagenet-vgg-verydeep-16.mat", to_rgb=False,
                    average_image=average)
    net = load_network(name, weights=convert_cli(src, name, tmp_path / "home"))
    np.testing.assert_allclose(net.mean, [122.7, 114.9, 101.6], rtol=1e-6)
    picture = np.random.default_rng(0).uniform(0, 255, (224, 224, 3))
    np.testing.assert_allclose(net.preprocess(picture) + average, picture, atol=1e-3)
    x = pictures(n=1)
    assert_parity(net, model, x, x)


def test_full_size_vgg16_converts_and_runs(tmp_path):
    """The real VGG-16 (138 M parameters) through .pth → convert → load, checked at its ends."""
    model = ref.vgg16()
    ref.randomize(model, 5)
    src = tmp_path / "vgg16-397923af.pth"
    torch.save(model.state_dict(), src)
    net = load_network("vgg16", weights=convert_cli(src, "vgg16", tmp_path / "home"))
    x = pictures(n=1)
    with jax.default_matmul_precision("highest"):
        ours = {layer: np.asarray(net.apply(x, layer=layer)) for layer in ("conv1_1", "pool5", "fc8")}
    want = ref.run(model, x / TORCHVISION_STD)
    for alias, layer in (("conv1_1", "features.0"), ("pool5", "features.30"), ("fc8", "classifier.6")):
        rel = np.abs(ours[alias].reshape(want[layer].shape) - want[layer]).max() / np.abs(want[layer]).max()
        assert rel <= 1e-4, (layer, rel)


def _bad_file(case, small, path):
    name, model = small["resnet50" if case == "resnet_as_vgg" else "vgg16"]
    state = dict(model.state_dict())
    if case == "missing":
        del state["features.17.bias"]
    elif case == "shape":
        state["features.19.weight"] = torch.zeros(16, 16, 5, 5)
    if case == "pickled_code":
        path.write_bytes(pickle.dumps(print, protocol=2))
    else:
        torch.save(state, path)


@pytest.mark.parametrize("case, words", [
    ("resnet_as_vgg", ["is not a test_vgg16 state dict", "pass --name resnet50", "unexpected keys"]),
    ("missing", ["missing keys ['features.17.bias']"]),
    ("shape", ["features.19.weight has shape (16, 16, 5, 5)", "(16, 16, 3, 3)"]),
    ("pickled_code", ["pickled objects other than tensors"]),
])
def test_bad_files_one_line_error_nothing_cached(case, words, small, tmp_path, capsys):
    from jaxinv.cli import main

    src = tmp_path / f"{case}.pth"
    _bad_file(case, small, src)
    home = tmp_path / "home"
    assert main(["weights", "convert", str(src), "--name", small["vgg16"][0], "--home", str(home)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("jaxinv: error:") and "Traceback" not in err
    for word in words:
        assert word in err, err
    assert not home.exists() or not [p for p in home.rglob("*") if p.is_file() and p.name != ".lock"]


def test_layer_names_aliases_and_descriptions():
    from jaxinv.networks import describe_layers, resolve_layer
    from jaxinv.representations.cnn import lambda_tv

    assert resolve_layer("vgg16", "conv5_3") == "features.28"
    assert resolve_layer("vgg16", "pool5") == "features.30"
    assert resolve_layer("vgg16", "fc7") == "classifier.3"
    assert resolve_layer("resnet50", "layer3.5.bn2") == "layer3.5.conv2"
    assert resolve_layer("vit_b_16", "encoder_layer_6") == "encoder.layers.encoder_layer_6"
    text = describe_layers("resnet50")
    assert "after its last ReLU (14×14×1024)" in text["layer3.5"]
    assert "layer3.5.bn2 folded in" in text["layer3.5.conv2"]
    assert "197 tokens × 768" in describe_layers("vit_b_16")["encoder.layers.encoder_layer_6"]
    assert "alias conv5_3" in describe_layers("vgg16")["features.28"]
    # λ_V by the receptive-field rule; ViT token maps after attention: 5 (vit_lambda_tv)
    assert lambda_tv("vit_b_16", "conv_proj") == 0.5
    assert lambda_tv("vit_b_16", "encoder_layer_0") == 5.0 and lambda_tv("vit_b_16", "heads") == 50.0
    assert [lambda_tv("vgg16", layer) for layer in ("conv3_3", "conv4_3", "conv5_3")] == [0.5, 5.0, 50.0]
    assert lambda_tv("resnet50", "layer1") == 0.5 and lambda_tv("resnet50", "layer4") == 50.0


def test_vit_late_block_inverts():
    """encoder_layer_10's tokens of a random ViT invert with the library's defaults (λ_V 5, the
    400-iteration ``cnn`` schedule): the feature error falls ≥ 10× from the first iterate.
    Reduced sizes: 64×64 input (4×4 patches + the class token), D = 48, 12 blocks."""
    import skimage.data
    import skimage.transform

    import jaxinv
    from jaxinv.networks import init_blobs
    from jaxinv.representations.cnn import cnn

    name = register(vit_spec.build(name="test_vit_64", dim=48, heads=4, mlp=96, input_size=64)).name
    try:
        rep = cnn(name, layer="encoder_layer_10", weights=init_blobs(name, key=jax.random.key(0)))
        picture = skimage.transform.resize(skimage.data.astronaut(), (64, 64), anti_aliasing=True) * 255
        result = jaxinv.invert(rep, picture, key=jax.random.key(2))
        first = np.asarray(rep.features(rep.params, result.snapshots[0, 0]))
    finally:
        NETWORKS.pop(name)
    start = np.sum((first - result.targets) ** 2) / np.sum(result.targets ** 2)
    assert rep.lambda_tv == 5.0 and result.snapshot_iterations[0] == 1
    assert result.errors[0] <= start / 10, (start, result.errors[0])
