"""Atomic writes: whole files or none, the umask's modes, strict JSON, no temporary files left."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from jaxinv import JaxinvError, files, images
from jaxinv.results import ResultsFile


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_written_files_get_the_umasks_mode(tmp_path, umask_022):
    files.atomic_write_bytes(tmp_path / "a.bin", b"x")
    images.save_png(tmp_path / "b.png", np.zeros((4, 4, 3), np.float32))
    files.write_json(tmp_path / "c.json", {"a": 1})
    with files.atomic_path(tmp_path / "d.bin") as tmp:
        tmp.unlink()
        tmp.write_bytes(b"a writer that replaces the file")
    for name in ("a.bin", "b.png", "c.json", "d.bin"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
    os.umask(0o077)
    files.atomic_write_bytes(tmp_path / "e.bin", b"x")
    assert (tmp_path / "e.bin").stat().st_mode & 0o777 == 0o600
    assert files.umask() == 0o077


def test_strict_json_refuses_nan_and_infinity(tmp_path):
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(JaxinvError, match="non-finite"):
            files.write_json(tmp_path / "x.json", {"error": bad})
    assert not (tmp_path / "x.json").exists()
    assert not list(tmp_path.iterdir())  # no temporary file either
    results = ResultsFile(tmp_path / "r.jsonl", {"a": 1})
    with pytest.raises(JaxinvError, match="non-finite"):
        results.append([{"key": "p", "error": float("nan")}])
    for line in (tmp_path / "r.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=pytest.fail)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    files.atomic_write_bytes(tmp_path / "a.bin", b"old")
    with pytest.raises(RuntimeError):
        with files.atomic_path(tmp_path / "a.bin") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert (tmp_path / "a.bin").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    stale = tmp_path / f".summary.json.{_dead_pid()}.0a1b2c3d{files.TEMP_SUFFIX}"
    live = tmp_path / f".summary.json.{os.getppid()}.0a1b2c3d{files.TEMP_SUFFIX}"
    other = tmp_path / ".keep-me.tmp"
    for path in (stale, live, other):
        path.write_bytes(b"partial")
    files.atomic_write_bytes(tmp_path / "summary.json", b"{}")
    assert not stale.exists() and live.exists() and other.exists()


WRITER = """
import sys, numpy as np
from jaxinv import images, files
out = sys.argv[1]
rng = np.random.default_rng(0)
print("ready", flush=True)
for i in range(10**6):
    images.save_png(f"{out}/pic{i % 3}.png", rng.uniform(0, 255, (600, 600, 3)))
    files.write_json(f"{out}/summary{i % 3}.json", {"i": i, "values": list(range(20000))})
"""


def test_sigkill_mid_write_leaves_only_complete_files(tmp_path):
    """Killed at arbitrary moments, every file under its final name is whole; the temporaries
    it left are removed by the next write into the folder."""
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
    for delay in (0.3, 0.55, 0.8):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], env=env, stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for path in tmp_path.glob("*.png"):
            with Image.open(path) as im:
                im.load()
                assert im.size == (600, 600)
        for path in tmp_path.glob("*.json"):
            assert len(json.loads(path.read_text())["values"]) == 20000
    assert list(tmp_path.glob("*.png")) and list(tmp_path.glob("*.json"))
    files.atomic_write_bytes(tmp_path / "after.bin", b"x")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(files.TEMP_SUFFIX)]


def test_every_committed_json_loads_with_a_strict_parser():
    """The benchmarks' and examples' outputs in the repository hold no NaN or Infinity."""
    def refuse(word):
        raise ValueError(word)

    paths = [p for folder in ("benchmarks", "examples", "weights", "jaxinv") for p in (REPO / folder).rglob("*")
             if p.suffix in (".json", ".jsonl")]
    assert len(paths) > 10
    for path in paths:
        text = path.read_text()
        for line in (text.splitlines() if path.suffix == ".jsonl" else [text]):
            if line.strip():
                try:
                    json.loads(line, parse_constant=refuse)
                except ValueError as exc:
                    pytest.fail(f"{path.relative_to(REPO)}: {exc}")


def test_undefined_statistics_become_null():
    value = {"r": float("nan"), "psnr": [1.0, float("inf")], "n": 3, "name": "x"}
    assert files.undefined_as_null(value) == {"r": None, "psnr": [1.0, None], "n": 3, "name": "x"}
    assert json.loads(files.json_text(files.undefined_as_null(value))) == {"r": None, "psnr": [1.0, None],
                                                                           "n": 3, "name": "x"}
