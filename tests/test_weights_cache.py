"""The safetensors cache: round trip, truncated files, convert + manifest, atomic failure, CLI."""

from __future__ import annotations

import datetime
import hashlib
import json
import pathlib

import numpy as np
import pytest

from conftest import require
from jaxinv.errors import JaxinvError
from jaxinv.weights.cache import (cache_home, cached_path, convert, read_manifest, read_safetensors,
                                  write_safetensors)
from jaxinv.weights.official import expected_shapes


def sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_under(folder: pathlib.Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def small_blobs() -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(0)
    return {
        "conv1": [rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)],  # float64 in
        "fire2/squeeze1x1": [rng.standard_normal((2, 4, 1, 1), dtype=np.float32), np.zeros(2, np.float32)],
        "inception_3a/1x1": [np.ones((1, 2, 1, 1), np.float32), np.ones(1, np.float32), np.ones(3, np.float32)],
        "a_layer_after": [np.arange(6, dtype=np.float32).reshape(2, 3), np.zeros(2, np.float32)],
    }


@pytest.fixture(scope="module")
def squeezenet_mat(tmp_path_factory):
    """A random SqueezeNet v1.1 in MatConvNet layout (small: 1.2 M parameters)."""
    require("scipy")
    from jaxinv.weights.matconvnet import write_mat

    rng = np.random.default_rng(1)
    blobs = {k: [rng.standard_normal(s, dtype=np.float32) for s in v]
             for k, v in expected_shapes("squeezenet1_1").items()}
    path = write_mat(blobs, tmp_path_factory.mktemp("src") / "squeezenet.mat")
    return path, blobs


def test_safetensors_round_trip(tmp_path):
    blobs = small_blobs()
    path = write_safetensors(blobs, tmp_path / "x.safetensors")
    back = read_safetensors(path)
    assert list(back) == list(blobs)  # layer order survives (safetensors sorts its keys)
    for layer in blobs:
        assert len(back[layer]) == len(blobs[layer])
        for a, b in zip(back[layer], blobs[layer]):
            assert a.dtype == np.float32
            np.testing.assert_array_equal(a, np.asarray(b, np.float32))
    assert files_under(tmp_path) == ["x.safetensors"]  # no temporary file left


@pytest.mark.parametrize("keep", ["half", "all-but-one", "header-length-only", "empty"])
def test_truncated_file_is_refused(tmp_path, keep):
    path = write_safetensors(small_blobs(), tmp_path / "x.safetensors")
    data = path.read_bytes()
    size = {"half": len(data) // 2, "all-but-one": len(data) - 1, "header-length-only": 8, "empty": 0}[keep]
    path.write_bytes(data[:size])
    with pytest.raises(JaxinvError) as info:
        read_safetensors(path)
    message = str(info.value)
    assert "incomplete or corrupt" in message and "x.safetensors" in message and "\n" not in message


def test_identical_blobs_give_identical_files(tmp_path):
    """Byte-identical output makes the manifest's sha256 reproducible across runs."""
    a = write_safetensors(small_blobs(), tmp_path / "a.safetensors")
    b = write_safetensors(small_blobs(), tmp_path / "b.safetensors")
    assert a.read_bytes() == b.read_bytes()


def test_foreign_safetensors_is_refused(tmp_path):
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(3, np.float32)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(JaxinvError, match="not one written by jaxinv"):
        read_safetensors(tmp_path / "other.safetensors")


def test_convert_writes_blobs_and_manifest(tmp_path, squeezenet_mat):
    src, blobs = squeezenet_mat
    home = tmp_path / "home"
    assert cached_path("squeezenet1_1", home=home) is None
    out = convert(src, name="squeezenet1_1", home=home)
    assert out == home / "squeezenet1_1.safetensors"
    assert files_under(home) == [".lock", "manifest.json", "squeezenet1_1.safetensors"]

    back = read_safetensors(out)
    assert list(back) == list(blobs)
    for layer in blobs:  # write_mat's RGB flip of conv1 is undone by read_mat
        np.testing.assert_array_equal(back[layer][0], blobs[layer][0])
        np.testing.assert_array_equal(back[layer][1], blobs[layer][1])

    manifest = json.loads((home / "manifest.json").read_text())
    entry = manifest["entries"]["squeezenet1_1"]
    assert entry["file"] == "squeezenet1_1.safetensors"
    assert entry["sha256"] == sha256(out) and entry["size"] == out.stat().st_size
    assert entry["source"]["file"] == "squeezenet.mat" and entry["source"]["sha256"] == sha256(src)
    assert entry["parameters"] == sum(a.size for v in blobs.values() for a in v)
    import jaxinv.weights.cache as cache
    assert entry["jaxinv_version"] == cache.jaxinv_version() and entry["jaxinv_version"]
    converted = datetime.datetime.fromisoformat(entry["converted"])
    assert abs((datetime.datetime.now(datetime.timezone.utc) - converted).total_seconds()) < 600
    assert read_manifest(home=home) == manifest

    assert cached_path("squeezenet1_1", home=home, verify=True) == out
    out.write_bytes(out.read_bytes()[:-1] + b" ")  # same size, different bytes
    with pytest.raises(JaxinvError, match="do not match the manifest"):
        cached_path("squeezenet1_1", home=home, verify=True)


def test_manifest_keeps_every_entry(tmp_path, squeezenet_mat):
    src, _ = squeezenet_mat
    home = tmp_path / "home"
    first = convert(src, name="squeezenet1_1", home=home)
    (tmp_path / "copy.safetensors").write_bytes(first.read_bytes())
    # A jaxinv safetensors file is itself a valid source; it converts to the same bytes.
    second = convert(tmp_path / "copy.safetensors", name="squeezenet1_1", home=home)
    assert sha256(second) == sha256(tmp_path / "copy.safetensors")
    assert read_manifest(home=home)["entries"]["squeezenet1_1"]["source"]["file"] == "copy.safetensors"


@pytest.mark.parametrize("case", ["wrong-type", "not-found", "wrong-shape", "missing-layer",
                                  "unknown-network", "bad-name", "empty-mat", "prototxt-for-mat"])
def test_failed_conversion_writes_nothing(tmp_path, squeezenet_mat, case):
    from jaxinv.weights.matconvnet import write_mat

    src, blobs = squeezenet_mat
    name = "squeezenet1_1"
    if case == "wrong-type":
        src = tmp_path / "weights.npz"
        np.savez(src, w=np.zeros(3))
    elif case == "not-found":
        src = tmp_path / "nothing.mat"
    elif case == "wrong-shape":
        bad = dict(blobs)
        bad["fire3/expand3x3"] = [np.zeros((64, 16, 1, 1), np.float32), np.zeros(64, np.float32)]
        src = write_mat(bad, tmp_path / "bad.mat")
    elif case == "missing-layer":
        src = write_mat({k: v for k, v in blobs.items() if k != "conv10"}, tmp_path / "bad.mat")
    elif case == "unknown-network":
        name = "squeezenet9"
    elif case == "bad-name":
        name = "../outside"
    elif case == "prototxt-for-mat":
        prototxt = tmp_path / "deploy.prototxt"
        prototxt.write_text("name: 'x'")
    else:
        require("scipy.io").savemat(tmp_path / "empty.mat", {"layers": np.empty((1, 0), dtype=object)})
        src = tmp_path / "empty.mat"
    home = tmp_path / "home"
    with pytest.raises(JaxinvError) as info:
        convert(src, name=name, home=home, prototxt=tmp_path / "deploy.prototxt" if case == "prototxt-for-mat" else None)
    message = str(info.value)
    assert "\n" not in message
    assert {"wrong-type": "unsupported type", "not-found": "not found", "wrong-shape": "fire3/expand3x3",
            "missing-layer": "conv10", "unknown-network": "squeezenet9", "bad-name": "invalid weights name",
            "empty-mat": "no weights", "prototxt-for-mat": "only to .caffemodel"}[case] in message
    assert not home.exists()
    assert not (tmp_path / "outside.safetensors").exists()


def test_failed_conversion_keeps_the_previous_cache(tmp_path, squeezenet_mat, monkeypatch):
    src, blobs = squeezenet_mat
    home = tmp_path / "home"
    out = convert(src, name="squeezenet1_1", home=home)
    before = {p: (home / p).read_bytes() for p in files_under(home)}

    from jaxinv.weights.matconvnet import write_mat
    bad = write_mat({k: v for k, v in blobs.items() if k != "fire9/expand1x1"}, tmp_path / "bad.mat")
    with pytest.raises(JaxinvError):
        convert(bad, name="squeezenet1_1", home=home)

    # A crash while writing (disk full, say) leaves neither a temporary file nor a changed cache.
    import safetensors.numpy

    def broken_save(tensors, filename, metadata=None):
        pathlib.Path(filename).write_bytes(b"partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(safetensors.numpy, "save_file", broken_save)
    with pytest.raises(OSError, match="No space"):
        convert(src, name="squeezenet1_1", home=home)
    assert {p: (home / p).read_bytes() for p in files_under(home)} == before
    assert read_safetensors(out).keys() == blobs.keys()


def test_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("JAXINV_HOME", str(tmp_path / "env"))
    assert cache_home() == tmp_path / "env"
    assert cache_home(home=tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv("JAXINV_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    import sys
    if sys.platform.startswith("linux"):
        assert cache_home() == tmp_path / "xdg" / "jaxinv"
    assert not (tmp_path / "xdg").exists()  # asking for the folder does not create it


def test_cli_convert_and_list(tmp_path, squeezenet_mat, capsys):
    from jaxinv.weights.cli import main

    src, _ = squeezenet_mat
    home = tmp_path / "home"
    assert main(["weights", "convert", str(src), "--name", "squeezenet1_1", "--home", str(home)]) == 0
    assert capsys.readouterr().out.strip() == str(home / "squeezenet1_1.safetensors")
    assert main(["weights", "list", "--home", str(home)]) == 0
    listing = capsys.readouterr().out
    assert "caffenet" in listing and "torchvision-alexnet" in listing
    line = next(l for l in listing.splitlines() if l.startswith("squeezenet1_1 "))
    assert "other" in line  # cached, but converted from a local file, not the official one

    assert main(["weights", "convert", str(tmp_path / "missing.mat"), "--name", "caffenet",
                 "--home", str(home)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jaxinv: error:") and "missing.mat" in err and "\n" not in err


def test_main_cli_has_weights_commands(tmp_path, capsys):
    """The lead's main CLI registers these subcommands (skipped until it does)."""
    cli = pytest.importorskip("jaxinv.cli")
    parser = cli.build_parser() if hasattr(cli, "build_parser") else None
    if parser is None or "weights" not in parser._subparsers._group_actions[0].choices:
        pytest.skip("the main CLI does not register the weights commands yet")
    assert cli.main(["weights", "list", "--home", str(tmp_path)]) == 0
    assert "caffenet" in capsys.readouterr().out
    assert cli.main(["weights", "download", "no-such-net", "--home", str(tmp_path)]) == 2
    assert "unknown weights name" in capsys.readouterr().err


def test_convert_caffemodel(tmp_path, squeezenet_mat):
    """A .caffemodel (the caffe module's writer) goes through the same cache path."""
    caffe = pytest.importorskip("jaxinv.weights.caffe")
    _, blobs = squeezenet_mat
    src = caffe.write_caffemodel(tmp_path / "squeezenet_v1.1.caffemodel", blobs,
                                 layer_types={k: "Convolution" for k in blobs})
    out = convert(src, name="squeezenet1_1", home=tmp_path / "home")
    back = read_safetensors(out)
    for layer in blobs:
        for a, b in zip(back[layer], blobs[layer]):
            np.testing.assert_array_equal(a, b)


def test_convert_caffemodel_with_prototxt_records_it(tmp_path, squeezenet_mat):
    """--prototxt is passed to the Caffe reader's check and recorded (name, sha256)."""
    from conftest import shared_weights

    caffe = pytest.importorskip("jaxinv.weights.caffe")
    prototxt = shared_weights() / "squeezenet_v1.1" / "deploy.prototxt"
    _, blobs = squeezenet_mat
    src = caffe.write_caffemodel(tmp_path / "s.caffemodel", blobs, layer_types={k: "Convolution" for k in blobs})
    home = tmp_path / "home"
    convert(src, name="squeezenet1_1", prototxt=prototxt, home=home)
    source = read_manifest(home=home)["entries"]["squeezenet1_1"]["source"]
    assert source["prototxt"] == {"file": "deploy.prototxt", "sha256": sha256(prototxt)}


def test_a_second_source_for_a_network_says_in_one_line_what_it_replaced(tmp_path, squeezenet_mat, capsys):
    """The cache keeps one file per network: converting another source file for it replaces the
    first, the manifest keeps what it replaced, and the command says so in one line."""
    from jaxinv.weights.cli import main

    caffe = pytest.importorskip("jaxinv.weights.caffe")
    src, blobs = squeezenet_mat
    other = {k: [2 * a for a in v] for k, v in blobs.items()}
    second = caffe.write_caffemodel(tmp_path / "s.caffemodel", other, layer_types={k: "Convolution" for k in other})
    home = tmp_path / "home"
    convert_args = ["weights", "convert", "--name", "squeezenet1_1", "--home", str(home)]
    assert main([*convert_args[:2], str(src), *convert_args[2:]]) == 0
    assert capsys.readouterr().err == ""  # nothing replaced
    assert read_manifest(home=home)["entries"]["squeezenet1_1"]["source"]["format"] == "MatConvNet"
    first = read_manifest(home=home)["entries"]["squeezenet1_1"]
    assert main([*convert_args[:2], str(second), *convert_args[2:]]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("jaxinv: replaced the cached squeezenet1_1 converted from"
                                                    f" MatConvNet (squeezenet.mat, sha256 {sha256(src)[:12]}, ")
    assert "with the one from Caffe (s.caffemodel, sha256" in err and "convert squeezenet.mat again" in err
    entry = read_manifest(home=home)["entries"]["squeezenet1_1"]
    assert entry["source"]["format"] == "Caffe" and entry["replaced"] == {"source": first["source"],
                                                                          "converted": first["converted"]}
    np.testing.assert_array_equal(read_safetensors(home / "squeezenet1_1.safetensors")["conv1"][0], other["conv1"][0])
    assert main([*convert_args[:2], str(second), *convert_args[2:]]) == 0  # the same file again: nothing replaced
    assert capsys.readouterr().err == "" and "replaced" not in read_manifest(home=home)["entries"]["squeezenet1_1"]


def test_the_notice_names_torchvision_and_timm(tmp_path):
    """A timm checkpoint of a torchvision-named family is told from jaxinv's own files by its header."""
    from safetensors.numpy import save_file

    from jaxinv.weights.cache import source_format, replacement_notice

    save_file({"cls_token": np.zeros(3, np.float32)}, str(tmp_path / "model.safetensors"))
    jaxinv_file = write_safetensors(small_blobs(), tmp_path / "own.safetensors")
    assert source_format(tmp_path / "model.safetensors", "vit_b_16") == "timm"
    assert source_format(jaxinv_file, "vit_b_16") == "jaxinv"
    assert source_format(tmp_path / "vit_b_16-c867db91.pth", "vit_b_16") == "torchvision"
    entry = {"source": {"file": "model.safetensors", "format": "timm", "sha256": "b" * 64},
             "replaced": {"source": {"file": "vit_b_16-c867db91.pth", "format": "torchvision", "sha256": "a" * 64},
                          "converted": "2025-01-02T03:04:05+00:00"}}
    assert replacement_notice("vit_b_16", entry) == (
        "replaced the cached vit_b_16 converted from torchvision (vit_b_16-c867db91.pth, sha256 aaaaaaaaaaaa,"
        " 2025-01-02T03:04:05+00:00) with the one from timm (model.safetensors, sha256 bbbbbbbbbbbb);"
        " convert vit_b_16-c867db91.pth again (--name vit_b_16) to go back")
    assert replacement_notice("vit_b_16", {"source": entry["source"]}) is None
