"""Downloads against a local HTTP server on 127.0.0.1: verify, reject, cut off and resume."""

from __future__ import annotations

import hashlib
import http.server
import json
import pathlib
import re
import threading
import time

import numpy as np
import pytest

from conftest import require
from jaxinv.errors import JaxinvError
from jaxinv.weights.download import download, fetch, verify
from jaxinv.weights.official import ALGORITHMS, entries, entry

SERVER_LIFETIME_S = 120.0  # the server stops itself after this even if a test hangs


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; honours ``Range: bytes=N-``; per-path modes:

    ``ok``: normal; ``cut``: the first request sends the full Content-Length header but only
    half the bytes, then closes; ``norange``: ignores Range (always 200, whole file).
    """

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        server = self.server
        server.log.append((self.path, self.headers.get("Range")))
        if self.path not in server.files:
            self.send_error(404)
            return
        data, mode = server.files[self.path], server.modes.get(self.path, "ok")
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and mode != "norange":
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if mode == "cut" and not server.cut_done.get(self.path):
            server.cut_done[self.path] = True
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)
        self.close_connection = True


@pytest.fixture
def server():
    """A threaded HTTP server on 127.0.0.1 (free port); bounded loop, stops itself."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.files, httpd.modes, httpd.cut_done, httpd.log = {}, {}, {}, []
    httpd.timeout = 0.1
    stop = threading.Event()
    deadline = time.monotonic() + SERVER_LIFETIME_S

    def serve() -> None:
        while not stop.is_set() and time.monotonic() < deadline:
            httpd.handle_request()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield httpd
    finally:
        stop.set()
        thread.join(timeout=5)
        httpd.server_close()


def files_under(folder: pathlib.Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def payload(size: int = 3_000_000, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).bytes(size)


# ---------------------------------------------------------------------------------------------
# fetch(): the transport


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha256-prefix"])
def test_good_file_is_verified_and_renamed(tmp_path, server, algorithm):
    data = payload()
    server.files["/f.bin"] = data
    digest = hashlib.new("sha256" if algorithm == "sha256-prefix" else algorithm, data).hexdigest()
    checksum = (algorithm, digest[:8] if algorithm == "sha256-prefix" else digest)
    out = fetch(f"{server.url}/f.bin", tmp_path / "dl" / "f.bin", checksum=checksum, progress=False)
    assert out.read_bytes() == data
    assert files_under(tmp_path) == ["dl/f.bin"]
    assert verify(out, checksum)


def test_corrupt_file_is_rejected_and_nothing_is_left(tmp_path, server):
    data = payload()
    server.files["/f.bin"] = data
    wrong = ("sha256", hashlib.sha256(data + b"x").hexdigest())
    home = tmp_path / "home"
    with pytest.raises(JaxinvError) as info:
        fetch(f"{server.url}/f.bin", home / "downloads" / "f.bin", checksum=wrong, progress=False)
    assert "does not match" in str(info.value) and "\n" not in str(info.value)
    assert not home.exists()  # not even the .part, nor the folders fetch created


def test_cut_off_download_resumes_with_range_in_a_later_call(tmp_path, server):
    data = payload()
    server.files["/f.bin"], server.modes["/f.bin"] = data, "cut"
    checksum = ("sha256", hashlib.sha256(data).hexdigest())
    dest = tmp_path / "f.bin"
    with pytest.raises(JaxinvError, match="run the same command again to resume"):
        fetch(f"{server.url}/f.bin", dest, checksum=checksum, progress=False, attempts=1)
    part = tmp_path / "f.bin.part"
    assert part.stat().st_size == len(data) // 2 and not dest.exists()

    out = fetch(f"{server.url}/f.bin", dest, checksum=checksum, progress=False, attempts=1)
    assert server.log == [("/f.bin", None), ("/f.bin", f"bytes={len(data) // 2}-")]
    assert out.read_bytes() == data and verify(out, checksum) and not part.exists()


def test_cut_off_download_resumes_within_one_call(tmp_path, server):
    data = payload(seed=1)
    server.files["/f.bin"], server.modes["/f.bin"] = data, "cut"
    checksum = ("sha1", hashlib.sha1(data).hexdigest())
    out = fetch(f"{server.url}/f.bin", tmp_path / "f.bin", checksum=checksum, progress=False, attempts=3)
    assert [r for _, r in server.log] == [None, f"bytes={len(data) // 2}-"]
    assert out.read_bytes() == data


def test_server_ignoring_range_restarts_cleanly(tmp_path, server):
    data = payload(seed=2)
    server.files["/f.bin"], server.modes["/f.bin"] = data, "norange"
    (tmp_path / "f.bin.part").write_bytes(data[:1000])
    checksum = ("sha256", hashlib.sha256(data).hexdigest())
    out = fetch(f"{server.url}/f.bin", tmp_path / "f.bin", checksum=checksum, progress=False)
    assert server.log == [("/f.bin", "bytes=1000-")]
    assert out.read_bytes() == data  # the old bytes were dropped, not doubled


def test_complete_part_file_gets_416_and_verifies(tmp_path, server):
    data = payload(seed=3)
    server.files["/f.bin"] = data
    (tmp_path / "f.bin.part").write_bytes(data)
    checksum = ("sha256", hashlib.sha256(data).hexdigest())
    out = fetch(f"{server.url}/f.bin", tmp_path / "f.bin", checksum=checksum, progress=False)
    assert out.read_bytes() == data and server.log == [("/f.bin", f"bytes={len(data)}-")]


def test_http_error_is_one_line_and_leaves_nothing(tmp_path, server):
    home = tmp_path / "home"
    with pytest.raises(JaxinvError, match="HTTP 404"):
        fetch(f"{server.url}/missing.bin", home / "x.bin", checksum=None, progress=False)
    assert not home.exists()
    assert len(server.log) == 1  # a 404 is not retried


def test_unreachable_server_is_retried_a_bounded_number_of_times(tmp_path):
    with pytest.raises(JaxinvError, match="failed after 2 attempts"):
        fetch("http://127.0.0.1:9/x.bin", tmp_path / "d" / "x.bin", checksum=None, progress=False,
              attempts=2, timeout=2)
    assert not (tmp_path / "d").exists()


# ---------------------------------------------------------------------------------------------
# download(): official names, checksums, conversion into the cache


@pytest.fixture(scope="module")
def caffenet_mat(tmp_path_factory):
    """A random full-size CaffeNet in MatConvNet layout (what imagenet-caffe-ref.mat holds)."""
    require("scipy")
    from jaxinv.weights.matconvnet import write_mat
    from jaxinv.weights.official import expected_shapes

    rng = np.random.default_rng(0)
    blobs = {k: [rng.standard_normal(s, dtype=np.float32) for s in v]
             for k, v in expected_shapes("caffenet").items()}
    path = write_mat(blobs, tmp_path_factory.mktemp("src") / "imagenet-caffe-ref.mat")
    return path.read_bytes()


def test_download_verifies_converts_and_caches(tmp_path, server, caffenet_mat):
    server.files["/imagenet-caffe-ref.mat"] = caffenet_mat
    home = tmp_path / "home"
    url = f"{server.url}/imagenet-caffe-ref.mat"
    digest = hashlib.sha256(caffenet_mat).hexdigest()
    out = download("caffenet-matconvnet", home=home, url=url, sha256=digest, progress=False)
    assert out == home / "caffenet.safetensors"
    assert files_under(home) == [".lock", "caffenet.safetensors", "downloads/imagenet-caffe-ref.mat",
                                 "manifest.json"]
    manifest = json.loads((home / "manifest.json").read_text())
    source = manifest["entries"]["caffenet"]["source"]
    assert source["official"] == "caffenet-matconvnet" and source["url"] == url
    assert source["sha256"] == digest and source["verified"] is True
    assert source["checksum"] == [{"algorithm": "sha256", "value": digest, "verified": True}]
    assert manifest["entries"]["caffenet"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()

    # Already cached: no second request.
    requests = len(server.log)
    assert download("caffenet-matconvnet", home=home, url=url, sha256=digest, progress=False) == out
    assert len(server.log) == requests


def test_download_of_corrupt_official_file_leaves_nothing(tmp_path, server):
    """torchvision's published sha256 prefix (7be5be79) rejects any other bytes."""
    server.files["/alexnet-owt-7be5be79.pth"] = payload(1_000_000)
    home = tmp_path / "home"
    with pytest.raises(JaxinvError, match="does not match its published sha256-prefix 7be5be79"):
        download("torchvision-alexnet", home=home, url=f"{server.url}/alexnet-owt-7be5be79.pth",
                 progress=False)
    assert files_under(home) == [] and not home.exists()


def test_download_cut_off_then_resumed(tmp_path, server, caffenet_mat):
    server.files["/ref.mat"], server.modes["/ref.mat"] = caffenet_mat, "cut"
    home = tmp_path / "home"
    url = f"{server.url}/ref.mat"
    digest = hashlib.sha256(caffenet_mat).hexdigest()
    with pytest.raises(JaxinvError, match="resume"):
        download("caffenet-matconvnet", home=home, url=url, sha256=digest, progress=False, attempts=1)
    assert files_under(home) == ["downloads/imagenet-caffe-ref.mat.part"]
    out = download("caffenet-matconvnet", home=home, url=url, sha256=digest, progress=False, attempts=1)
    assert server.log[-1] == ("/ref.mat", f"bytes={len(caffenet_mat) // 2}-")
    assert (home / "downloads" / "imagenet-caffe-ref.mat").read_bytes() == caffenet_mat
    assert out.is_file() and not (home / "downloads" / "imagenet-caffe-ref.mat.part").exists()


def test_download_that_does_not_convert_leaves_nothing(tmp_path, server):
    """An unverified file that is not a model is deleted again (the cache keeps no junk)."""
    server.files["/x.mat"] = b"not a mat file" * 1000
    home = tmp_path / "home"
    with pytest.raises(JaxinvError, match="not a readable MATLAB"):
        download("caffenet-matconvnet", home=home, url=f"{server.url}/x.mat", allow_unverified=True,
                 progress=False)
    assert files_under(home) == []


def test_download_needs_a_checksum_or_explicit_consent(tmp_path):
    with pytest.raises(JaxinvError, match="--sha256 HEX"):
        download("caffenet-matconvnet", home=tmp_path / "home", progress=False)
    with pytest.raises(JaxinvError, match="64 hex digits"):
        download("caffenet-matconvnet", home=tmp_path / "home", sha256="abc", progress=False)
    with pytest.raises(JaxinvError, match="unknown weights name 'cafenet'.*caffenet"):
        download("cafenet", home=tmp_path / "home", progress=False)
    assert not (tmp_path / "home").exists()


def test_cli_download(tmp_path, server, capsys):
    from jaxinv.weights.cli import main

    server.files["/a.pth"] = payload(10_000)
    code = main(["weights", "download", "torchvision-alexnet", "--url", f"{server.url}/a.pth",
                 "--home", str(tmp_path / "home"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxinv: error:") and err.count("\n") == 1 and "7be5be79" in err


# ---------------------------------------------------------------------------------------------
# The table of official files


def test_official_table_is_consistent():
    rows = entries()
    assert len({r.name for r in rows}) == len(rows)
    by_name = {r.name: r for r in rows}
    assert by_name["caffenet"].hash == "4c8d77deb20ea792f84eb5e6d0a11ca0a8660a46"
    assert by_name["alexnet"].hash == "9116a64c0fbe4459d18f4bb6b56d647b63920377"
    assert (by_name["torchvision-alexnet"].algorithm, by_name["torchvision-alexnet"].hash) == ("sha256-prefix", "7be5be79")
    lengths = {"sha1": 40, "sha256": 64}
    for row in rows:
        assert row.url.startswith(("http://", "https://")) and row.url.endswith(row.file)
        assert row.format == pathlib.Path(row.file).suffix.lstrip(".")
        if row.hash is not None:
            assert row.algorithm in ALGORITHMS and re.fullmatch(r"[0-9a-f]+", row.hash)
            assert len(row.hash) == lengths.get(row.algorithm, len(row.hash))
        if row.algorithm == "sha256-prefix":
            assert row.file.rsplit("-", 1)[1].split(".")[0] == row.hash  # torchvision's convention
    assert entry("caffenet").network == "caffenet"
    networks = pytest.importorskip("jaxinv.networks")
    assert {r.network for r in rows} <= set(networks.NETWORKS)


def test_download_official_caffemodel_with_sha1(tmp_path, server, monkeypatch):
    """The path of a real model-zoo file: published sha1, .caffemodel, converted to the cache.
    The official entry is pointed at a random SqueezeNet served locally, with its own sha1."""
    import dataclasses

    caffe = pytest.importorskip("jaxinv.weights.caffe")
    import jaxinv.weights.download as dl
    from jaxinv.weights.official import expected_shapes

    rng = np.random.default_rng(7)
    blobs = {k: [rng.standard_normal(s, dtype=np.float32) for s in v]
             for k, v in expected_shapes("squeezenet1_1").items()}
    src = caffe.write_caffemodel(tmp_path / "model.caffemodel", blobs, layer_types={k: "Convolution" for k in blobs})
    data = src.read_bytes()
    server.files["/squeezenet_v1.1.caffemodel"] = data
    row = dataclasses.replace(entry("squeezenet1_1"), url=f"{server.url}/squeezenet_v1.1.caffemodel",
                              hash=hashlib.sha1(data).hexdigest())
    monkeypatch.setattr(dl, "official_entry", lambda name: row)
    home = tmp_path / "home"
    out = download("squeezenet1_1", home=home, progress=False)
    assert out == home / "squeezenet1_1.safetensors"
    source = json.loads((home / "manifest.json").read_text())["entries"]["squeezenet1_1"]["source"]
    assert source["checksum"] == [{"algorithm": "sha1", "value": row.hash, "verified": True}]
    assert source["url"] == row.url and source["file"] == "squeezenet_v1.1.caffemodel"
