"""The table benchmarks: killed with SIGKILL part-way and started again, each picture once."""

import json
import os
import signal
import subprocess
import sys
import time

from conftest import REPO


def _run(out, extra=()):
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
    return subprocess.Popen(
        [sys.executable, str(REPO / "benchmarks" / "table_shallow.py"), "--reps", "avgpool", "--batch", "1",
         "--iterations-scale", "0.1", "--out", str(out), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def _results(out):
    path = out / "shallow" / "avgpool-paper.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines()[1:]:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return rows


def test_killed_run_resumes_without_losing_or_repeating(tmp_path):
    proc = _run(tmp_path)
    deadline = time.time() + 300
    while time.time() < deadline and len(_results(tmp_path)) < 2 and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = [r["key"] for r in _results(tmp_path)]
    assert 2 <= len(first) < 5
    proc = _run(tmp_path)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    keys = [r["key"] for r in _results(tmp_path)]
    assert sorted(keys) == sorted(set(keys)) and len(keys) == 5
    assert keys[: len(first)] == first
    assert "| avgpool | paper |" in stdout


def test_results_of_another_configuration_are_refused(tmp_path):
    proc = _run(tmp_path, ["--limit", "1"])
    proc.communicate(timeout=600)
    assert proc.returncode == 0
    proc = _run(tmp_path, ["--limit", "2"])
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 2 and "another configuration" in stderr and "Traceback" not in stderr


def test_cnn_table_is_rebuilt_from_its_json_lines(tmp_path):
    from conftest import shared_weights

    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu", JAXINV_SHARED_WEIGHTS=str(shared_weights()))
    command = [sys.executable, str(REPO / "benchmarks" / "table_cnn.py"), "--network", "squeezenet1_1",
               "--layers", "conv1,relu_conv1", "--limit", "2", "--iterations-scale", "0.02", "--out", str(tmp_path)]
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == 0, first.stderr
    lines = {p.name: p.read_text() for p in (tmp_path / "cnn" / "squeezenet1_1").glob("*.jsonl")}
    assert sorted(lines) == ["squeezenet1_1-conv1-l0.5-paper.jsonl", "squeezenet1_1-relu_conv1-l0.5-paper.jsonl"]
    assert all(len(text.splitlines()) == 1 + 2 for text in lines.values())
    # A chosen list of layers gets its own table: the block-output and every-layer tables stay.
    table = (tmp_path / "cnn" / "table-squeezenet1_1-paper-selected.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| conv1 |") or line.startswith("| relu_conv1 |")]
    assert len(rows) == 2 and all(row.split("|")[7].strip() == "2" for row in rows)
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr
    assert {p.name: p.read_text() for p in (tmp_path / "cnn" / "squeezenet1_1").glob("*.jsonl")} == lines
    assert (tmp_path / "cnn" / "table-squeezenet1_1-paper-selected.md").read_text().split("\n")[:6] == table.split("\n")[:6]
