"""Bad weight files through the command line: one line, status 2, nothing cached, no code run."""

import os
import pickle
import struct

import numpy as np
import pytest
from PIL import Image

import jaxinv.cli
from conftest import require, shared_weights


class RunsCode:
    """A pickle that would create a file if it were ever unpickled with the full unpickler."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def bad_file(kind: str, folder, marker):
    squeezenet = shared_weights() / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel"
    rng = np.random.default_rng(0)
    if kind == "other network":
        return shared_weights() / "bvlc_googlenet" / "bvlc_googlenet.caffemodel"
    path = folder / {"truncated": "cut.caffemodel", "random caffemodel": "random.caffemodel",
                     "random mat": "random.mat", "random pth": "random.pth",
                     "random safetensors": "random.safetensors", "empty": "empty.caffemodel",
                     "hostile safetensors": "huge-header.safetensors", "pickled code": "evil.pth",
                     "pickled code in a state dict": "evil-dict.pth", "unknown suffix": "weights.bin"}[kind]
    if kind == "truncated":
        path.write_bytes(squeezenet.read_bytes()[:100_000])
    elif kind.startswith("random") or kind == "unknown suffix":
        path.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "hostile safetensors":
        path.write_bytes(struct.pack("<Q", 2 ** 62) + b"{}")  # a header that claims exabytes
    elif kind == "pickled code":
        path.write_bytes(pickle.dumps(RunsCode(marker)))
    elif kind == "pickled code in a state dict":
        torch = require("torch")
        torch.save({"features.0.weight": torch.zeros(1), "payload": RunsCode(marker)}, path)
    return path


KINDS = ["other network", "truncated", "random caffemodel", "random mat", "random pth", "random safetensors",
         "empty", "hostile safetensors", "pickled code", "pickled code in a state dict", "unknown suffix"]


@pytest.mark.parametrize("kind", KINDS)
def test_bad_weight_files_are_refused_in_one_line(kind, tmp_path, capsys):
    marker = tmp_path / "code-ran"
    path = bad_file(kind, tmp_path, marker)
    home = tmp_path / "home"
    picture = tmp_path / "pic.png"
    Image.fromarray(np.full((30, 30, 3), 90, np.uint8)).save(picture)
    for argv in (["weights", "convert", str(path), "--name", "squeezenet1_1", "--home", str(home)],
                 ["invert", str(picture), "--rep", "squeezenet1_1:conv1", "--weights", str(path),
                  "--out", str(tmp_path / "out"), "--no-progress"]):
        status = jaxinv.cli.main(argv)
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert status == 2, (kind, argv[0], err)
        assert len(lines) == 1 and lines[0].startswith("jaxinv: error"), (kind, err)
        assert "Traceback" not in err and "weights_only=False" not in err
    assert not marker.exists(), "a pickle's code ran"
    assert not (tmp_path / "out").exists()
    assert not home.exists() or not [p for p in home.rglob("*") if p.is_file() and p.name != ".lock"]
