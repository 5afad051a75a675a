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
