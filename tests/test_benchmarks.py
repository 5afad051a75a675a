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
         "--iterations-scale", "0.1", "--pictures", "skimage", "--out", str(out), *extra],
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
    assert "| avgpool | paper (" in stdout


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
               "--layers", "conv1,relu_conv1", "--limit", "2", "--iterations-scale", "0.02", "--pictures", "skimage",
               "--out", str(tmp_path)]
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == 0, first.stderr
    lines = {p.name: p.read_text() for p in (tmp_path / "cnn" / "squeezenet1_1").glob("*.jsonl")}
    assert sorted(lines) == ["squeezenet1_1-conv1-l0.5-paper.jsonl", "squeezenet1_1-relu_conv1-l0.5-paper.jsonl"]
    assert all(len(text.splitlines()) == 1 + 2 for text in lines.values())
    # A chosen list of layers gets its own table: the block-output and every-layer tables stay.
    table = (tmp_path / "cnn" / "table-squeezenet1_1-paper-selected.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| conv1 |") or line.startswith("| relu_conv1 |")]
    assert len(rows) == 2 and all(row.split("|")[10].strip() == "2" for row in rows)
    # The same rows as numbers beside the table, for seed_question.py.
    numbers = json.loads((tmp_path / "cnn" / "table-squeezenet1_1-paper-selected.json").read_text())
    assert [r["layer"] for r in numbers["rows"]] == ["conv1", "relu_conv1"]
    assert [f"{r['printed'][0]:.1f} ± {r['printed'][1]:.1f}" for r in numbers["rows"]] == [
        row.split("|")[3].strip() for row in rows]
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr
    assert {p.name: p.read_text() for p in (tmp_path / "cnn" / "squeezenet1_1").glob("*.jsonl")} == lines
    assert (tmp_path / "cnn" / "table-squeezenet1_1-paper-selected.md").read_text().split("\n")[:6] == table.split("\n")[:6]


def _folder_of_pictures(folder, sizes):
    """Pictures of the given (H, W) sizes, the last one gray, named like ImageNet files."""
    import numpy as np
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    names = []
    for i, (h, w) in enumerate(sizes):
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        image = Image.fromarray(pixels).convert("L") if i == len(sizes) - 1 else Image.fromarray(pixels)
        name = f"n0144{i:04d}_picture{i}"
        image.save(folder / f"{name}.png")
        names.append(name)
    return names


def test_shallow_table_on_pictures_of_their_own_sizes_prints_both_metrics(tmp_path):
    """Own sizes give ragged codes; the printed and the script's metrics match a numpy recomputation."""
    import numpy as np

    from jaxinv import images, metrics

    sizes = [(24, 32), (30, 22), (26, 26)]
    names = _folder_of_pictures(tmp_path / "pictures", sizes)
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
    command = [sys.executable, str(REPO / "benchmarks" / "table_shallow.py"), "--reps", "avgpool", "--batch", "2",
               "--iterations-scale", "0.05", "--pictures", str(tmp_path / "pictures"), "--out", str(tmp_path / "out")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "out" / "shallow" / "avgpool-paper.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["config"]["size"] == "own"
    rows = {r["key"]: r for r in map(json.loads, lines[1:])}
    assert sorted(rows) == sorted(names)
    # Independent reference codes: 2x2 average pooling of each picture − 128 at its own size
    # (the gray picture read as three equal channels).
    codes = []
    for name, (h, w) in zip(names, sizes):
        x = images.load(tmp_path / "pictures" / f"{name}.png").astype(np.float64) - 128.0
        codes.append(x[: h // 2 * 2, : w // 2 * 2].reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3)))
    assert len({c.size for c in codes}) == 3  # ragged
    distance = np.sqrt([rows[n]["sq_error"] for n in names])
    printed = 100 * distance / metrics.mean_pairwise_distance(codes)
    script = 100 * distance ** 2 / metrics.mean_pairwise_sq_distance(codes)
    row = next(line for line in done.stdout.splitlines() if line.startswith("| avgpool |"))
    cells = [c.strip() for c in row.split("|")]
    assert cells[3] == f"{printed.mean():.1f} ± {printed.std(ddof=1):.1f}"
    assert cells[6] == f"{script.mean():.1f} ± {script.std(ddof=1):.1f}"
    assert cells[10] == "3"
    # --table-only rebuilds the same row from the JSON lines and runs nothing.
    again = subprocess.run([*command, "--table-only"], capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr
    assert row in again.stdout.splitlines()
    assert (tmp_path / "out" / "shallow" / "avgpool-paper.jsonl").read_text().splitlines() == lines


def test_cnn_table_on_a_folder_records_both_networks_top1(tmp_path):
    """Each row holds both networks' top-1 of the original and of the reconstruction; the
    "class kept" columns are the share of rows where they agree."""
    import numpy as np

    import judges
    from conftest import shared_weights

    names = _folder_of_pictures(tmp_path / "pictures", [(60, 80), (70, 50)])
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu", JAXINV_SHARED_WEIGHTS=str(shared_weights()))
    command = [sys.executable, str(REPO / "benchmarks" / "table_cnn.py"), "--network", "squeezenet1_1",
               "--layers", "conv1", "--iterations-scale", "0.01", "--pictures", str(tmp_path / "pictures"),
               "--out", str(tmp_path / "out")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "out" / "cnn" / "squeezenet1_1" / "squeezenet1_1-conv1-l0.5-paper.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["config"]["judges"] == ["squeezenet1_1", "googlenet"]
    rows = [json.loads(line) for line in lines[1:]]
    assert sorted(r["key"] for r in rows) == sorted(names)
    # The originals' classes, recomputed through the classifier from the warped pictures.
    from jaxinv import images
    warped = [np.clip(images.resize(images.load(tmp_path / "pictures" / f"{r['key']}.png"), (227, 227)), 0, 255)
              for r in rows]
    own = judges.Classifier("squeezenet1_1", weights=shared_weights() / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel")
    assert [r["top1_own_original"] for r in rows] == own.top1(warped).tolist()
    kept = {who: 100 * np.mean([r[f"top1_{who}_reconstruction"] == r[f"top1_{who}_original"] for r in rows])
            for who in ("own", "other")}
    row = next(line for line in done.stdout.splitlines() if line.startswith("| conv1 |"))
    cells = [c.strip() for c in row.split("|")]
    assert cells[8:10] == [f"{kept['own']:.0f}", f"{kept['other']:.0f}"]


def test_seed_question_tabulates_and_plots_the_per_layer_numbers(tmp_path):
    """Only the chosen λ_V rows; a metric undefined on one picture (null) prints as a dash."""
    def row(layer, chosen, printed, agree):
        return {"layer": layer, "lambda_tv": 0.5, "chosen": chosen, "n": 3, "printed": printed,
                "script": [1.25, 0.5], "psnr": [20.0, 1.0], "ssim": [0.5, 0.1], "agree_own": agree,
                "agree_other": 50.0}
    (tmp_path / "cnn").mkdir()
    table = {"network": "squeezenet1_1", "method": "paper", "pictures": "3 of pics",
             "rows": [row("conv1", True, [11.04, 2.0], 100.0), row("conv1", False, [9.0, 1.0], 0.0),
                      row("fire9/concat", True, [None, None], None),
                      {**row("pool10", True, [5.0, 1.0], 100.0), "n": 2}]}  # still running: left out
    (tmp_path / "cnn" / "table-squeezenet1_1-paper.json").write_text(json.dumps(table))
    def scores(n, size, source, psnr):
        return {"n": n, "size": size, "source": source, "flat_psnr": [psnr, 2.0], "flat_ssim": [0.3, 0.1],
                "next_psnr": [9.0, 1.0], "next_ssim": [0.1, 0.05]}
    # Only the folder's baseline at the network's size on as many pictures as the table is used.
    baseline = {"colour 224x224, first 3": scores(3, 224, "folder", 11.0),
                "scikit-image colour 227x227": scores(3, 227, "scikit-image", 12.0),
                "colour 227x227, first 2": scores(2, 227, "folder", 14.0),
                "colour 227x227, first 3": scores(3, 227, "folder", 13.0)}
    (tmp_path / "pixel_baselines.json").write_text(json.dumps(baseline))
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "seed_question.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "seed_question.md").read_text().splitlines()
    assert "| conv1 | 11.0 ± 2.0 | 1.2 ± 0.5 | 20.00 ± 1.00 | 0.500 ± 0.100 | 100 | 50 | 3 |" in lines
    assert "| fire9/concat | – | 1.2 ± 0.5 | 20.00 ± 1.00 | 0.500 ± 0.100 | – | 50 | 3 |" in lines
    assert sum(line.startswith("| conv1 |") for line in lines) == 1
    assert not any(line.startswith("| pool10 |") for line in lines)
    flat = lines.index("| fire9/concat | – | 1.2 ± 0.5 | 20.00 ± 1.00 | 0.500 ± 0.100 | – | 50 | 3 |") + 2
    assert "(colour 227x227, first 3, n = 3): PSNR 13.00 ± 2.00 dB, SSIM 0.300 ± 0.100" in lines[flat]
    assert (tmp_path / "seed_question.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = subprocess.run([sys.executable, str(REPO / "benchmarks" / "seed_question.py"), "--out",
                            str(tmp_path / "none")], capture_output=True, text=True, env=env, timeout=300)
    assert empty.returncode == 2 and "run benchmarks/table_cnn.py first" in empty.stderr
    assert "Traceback" not in empty.stderr


def test_class_kept_from_saved_pictures(tmp_path):
    """A saved picture that is the original keeps its class for both networks; one of another
    class does not; ``--check`` counts where a PNG's top-1 equals the recorded one."""
    import shutil

    from conftest import shared_weights
    from jaxinv import images
    from test_imagenet100 import pictures_folder

    folder = tmp_path / "pictures"
    folder.mkdir()
    names = ["n01440764_tench", "n01530575_brambling"]
    for name in names:
        shutil.copy(pictures_folder() / f"{name}.JPEG", folder)
    warped = {n: images.resize(images.load(folder / f"{n}.JPEG"), (227, 227)) for n in names}
    run = tmp_path / "out" / "cnn" / "squeezenet1_1"
    (run / "squeezenet1_1-conv1-l0.5-paper").mkdir(parents=True)
    images.save_png(run / "squeezenet1_1-conv1-l0.5-paper" / f"{names[0]}.png", warped[names[0]])
    images.save_png(run / "squeezenet1_1-conv1-l0.5-paper" / f"{names[1]}.png", warped[names[0]])
    config = {"kind": "config", "config": {"layer": "squeezenet1_1:conv1", "lambda_tv": 0.5}}
    # Recorded verdicts as table_cnn writes them: the first right, the second deliberately wrong.
    results = [{"kind": "result", "key": n, "top1_own_reconstruction": 0 if i == 0 else -1,
                "top1_other_reconstruction": 0 if i == 0 else -1} for i, n in enumerate(names)]
    (run / "squeezenet1_1-conv1-l0.5-paper.jsonl").write_text("\n".join(map(json.dumps, [config, *results])) + "\n")
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu", JAXINV_SHARED_WEIGHTS=str(shared_weights()))
    command = [sys.executable, str(REPO / "benchmarks" / "class_kept_saved.py"), "--network", "squeezenet1_1",
               "--pictures", str(folder), "--out", str(tmp_path / "out")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads((run.parent / "class-kept-saved-squeezenet1_1.json").read_text()) == [
        {"layer": "conv1", "lambda_tv": 0.5, "n": 2, "agree_own": 50.0, "agree_other": 50.0}]
    check = subprocess.run([*command, "--check"], capture_output=True, text=True, env=env, timeout=600)
    assert check.returncode == 0, check.stderr
    # tench is class 0 for both networks: the first PNG matches its record, the second cannot.
    assert json.loads((run.parent / "class-kept-saved-check-squeezenet1_1.json").read_text()) == {
        "own": [1, 2], "other": [1, 2]}
    empty = subprocess.run([*command[:-1], str(tmp_path / "nothing")], capture_output=True, text=True, env=env,
                           timeout=600)
    assert empty.returncode == 2 and "run benchmarks/table_cnn.py" in empty.stderr and "Traceback" not in empty.stderr
