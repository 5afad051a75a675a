"""Weights when none are given: the cache, then the shared folder, found by the command line as the
tests find them; `jaxinv weights download` of a cached file touches no network and says so."""

import urllib.request

import numpy as np
import pytest

import jaxinv.cli
import jaxinv.weights.download as dl
from jaxinv.errors import JaxinvError
from jaxinv.weights import shared
from jaxinv.weights.cache import convert


@pytest.fixture(scope="module")
def random_squeezenet(tmp_path_factory):
    """A random SqueezeNet v1.1 as a .caffemodel named as the official file."""
    caffe = pytest.importorskip("jaxinv.weights.caffe")
    from jaxinv.weights.official import expected_shapes

    rng = np.random.default_rng(3)
    blobs = {k: [rng.standard_normal(s, dtype=np.float32) for s in v]
             for k, v in expected_shapes("squeezenet1_1").items()}
    path = tmp_path_factory.mktemp("src") / "squeezenet_v1.1.caffemodel"
    return caffe.write_caffemodel(path, blobs, layer_types={k: "Convolution" for k in blobs})


@pytest.fixture
def no_network(monkeypatch):
    """Every way `download` reaches the network fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"the network was asked: {args}")

    monkeypatch.setattr(dl, "fetch", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def cli(argv, capsys):
    status = jaxinv.cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def genuine(monkeypatch, path):
    """Make ``path`` the official squeezenet1_1 file: its sha1 becomes the published checksum."""
    import dataclasses

    from jaxinv.weights.cache import file_sha256
    from jaxinv.weights.official import entry

    row = dataclasses.replace(entry("squeezenet1_1"), hash=file_sha256(path, algorithm="sha1"), algorithm="sha1")
    monkeypatch.setattr(dl, "official_entry", lambda name: row)


def test_download_of_a_cached_file_says_so_and_asks_no_network(tmp_path, random_squeezenet, no_network, capsys,
                                                               monkeypatch):
    home = tmp_path / "home"
    genuine(monkeypatch, random_squeezenet)  # a converted file of the official bytes
    cached = convert(random_squeezenet, name="squeezenet1_1", home=home)
    status, out, err = cli(["weights", "download", "squeezenet1_1", "--home", str(home)], capsys)
    assert status == 0 and out == f"{cached}\n", err
    assert err.count("\n") == 1 and "squeezenet1_1 is already in the cache" in err and str(cached) in err
    assert "squeezenet_v1.1.caffemodel" in err and "--force" in err and "Traceback" not in err
    status, out, err = cli(["weights", "download", "squeezenet1_1", "--home", str(home), "-q"], capsys)
    assert status == 0 and out == f"{cached}\n" and err == ""
    assert dl.download("squeezenet1_1", home=home, progress=False) == cached  # the Python API too


def test_an_official_download_under_another_name_counts_as_cached(tmp_path, random_squeezenet, no_network):
    home = tmp_path / "home"
    renamed = tmp_path / "renamed.caffemodel"
    renamed.write_bytes(random_squeezenet.read_bytes())
    cached = convert(renamed, name="squeezenet1_1", home=home, source_info={"official": "squeezenet1_1"})
    assert dl.cached_download("squeezenet1_1", home=home) == cached


def test_another_source_or_force_downloads_again(tmp_path, random_squeezenet, monkeypatch, capsys):
    home = tmp_path / "home"
    other = tmp_path / "mine.caffemodel"
    other.write_bytes(random_squeezenet.read_bytes())
    convert(other, name="squeezenet1_1", home=home)
    asked = []

    def offline(url, dest, **kwargs):
        asked.append(url)
        raise JaxinvError("offline")

    monkeypatch.setattr(dl, "fetch", offline)
    assert dl.cached_download("squeezenet1_1", home=home) is None  # the cache holds another file
    assert cli(["weights", "download", "squeezenet1_1", "--home", str(home), "-q"], capsys)[0] == 2
    convert(random_squeezenet, name="squeezenet1_1", home=home)
    status, _, err = cli(["weights", "download", "squeezenet1_1", "--home", str(home), "--force", "-q"], capsys)
    assert status == 2 and "offline" in err and len(asked) == 2


def test_the_cache_comes_first_then_the_shared_folder(tmp_path, random_squeezenet, monkeypatch):
    home, folder = tmp_path / "home", tmp_path / "shared"
    monkeypatch.setenv("JAXINV_HOME", str(home))
    monkeypatch.setenv(shared.SHARED_ENV, str(folder))
    placed = folder / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel"
    placed.parent.mkdir(parents=True)
    placed.write_bytes(random_squeezenet.read_bytes())
    assert shared.shared_folder() == folder and shared.shared_file("squeezenet1_1") == placed
    assert shared.locate_weights("squeezenet1_1") == placed
    cached = convert(random_squeezenet, name="squeezenet1_1")
    assert shared.locate_weights("squeezenet1_1") == cached
    assert shared.shared_candidates("googlenet") == [folder / "bvlc_googlenet" / "bvlc_googlenet.caffemodel"]


def test_no_weights_anywhere_is_one_line_naming_each_place(tmp_path, monkeypatch):
    home, folder = tmp_path / "home", tmp_path / "shared"
    monkeypatch.setenv("JAXINV_HOME", str(home))
    monkeypatch.setenv(shared.SHARED_ENV, str(folder))
    with pytest.raises(JaxinvError) as caught:
        shared.locate_weights("googlenet")
    said = str(caught.value)
    assert "\n" not in said and str(home / "googlenet.safetensors") in said
    assert str(folder / "bvlc_googlenet" / "bvlc_googlenet.caffemodel") in said
    for fix in ("--weights PATH", "jaxinv weights download googlenet", "jaxinv weights convert FILE --name googlenet",
                "JAXINV_SHARED_WEIGHTS"):
        assert fix in said, fix
    with pytest.raises(JaxinvError, match=r"none found in the cache \(.*vgg16.safetensors\); pass --weights"):
        shared.locate_weights("vgg16")  # no Caffe file: the shared folder is not a place for it


def test_without_the_variable_the_shared_folder_is_beside_the_checkout(monkeypatch):
    from conftest import REPO

    monkeypatch.delenv(shared.SHARED_ENV, raising=False)
    assert shared.shared_folder() == REPO.parent / "shared" / "weights"


def test_a_file_of_the_official_name_with_a_sha1_of_other_bytes_is_not_the_official_one(tmp_path, random_squeezenet,
                                                                                         no_network):
    """The Caffe zoo publishes a sha1: a converted file of the official name must match it, so a
    fine-tuned bvlc or squeezenet file is not taken for the download."""
    home = tmp_path / "home"
    convert(random_squeezenet, name="squeezenet1_1", home=home)  # official name, random bytes
    assert dl.cached_download("squeezenet1_1", home=home) is None


def test_the_cli_finds_the_shared_weights_without_weights_or_cache(tmp_path, monkeypatch, capsys):
    from conftest import shared_weights

    folder = shared_weights()  # skips (fails in CI) without them
    monkeypatch.setenv("JAXINV_HOME", str(tmp_path / "empty-home"))
    monkeypatch.setenv(shared.SHARED_ENV, str(folder))  # where the tests found them, however they did
    picture = tmp_path / "p.png"
    jaxinv.images.save_png(picture, np.random.default_rng(0).uniform(0, 255, (32, 32, 3)))
    status, _, err = cli(["invert", str(picture), "--rep", "squeezenet1_1:conv1", "--schedule", "0.004x1",
                         "--out", str(tmp_path / "o"), "-q"], capsys)
    assert status == 0, err
    assert (tmp_path / "o" / "summary.json").is_file()


def test_a_file_of_the_official_name_with_other_bytes_is_not_the_official_one(tmp_path, monkeypatch):
    """torchvision publishes a sha256 prefix: a converted file of that name must match it."""
    import dataclasses

    from jaxinv.weights.official import entry

    home = tmp_path / "home"
    home.mkdir()
    row = entry("torchvision-alexnet")
    (home / "alexnet_torchvision.safetensors").write_bytes(b"x")
    manifest = {"entries": {"alexnet_torchvision": {"source": {"file": row.file, "sha256": "0" * 64}}}}
    monkeypatch.setattr(dl, "read_manifest", lambda home: manifest)
    assert dl.cached_download("torchvision-alexnet", home=home) is None
    monkeypatch.setattr(dl, "official_entry", lambda name: dataclasses.replace(row, hash="0" * 8))
    assert dl.cached_download("torchvision-alexnet", home=home) == home / "alexnet_torchvision.safetensors"
