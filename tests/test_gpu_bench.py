"""benchmarks/gpu.sh and gpu.py: the device benchmark runs on the CPU at a tiny size, and its parts."""

from __future__ import annotations

import json
import math
import os
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REPO, require

import jaxinv
from jaxinv import program, registry

TINY = ["--cpu", "--steps", "2", "--repeats", "1", "--batches", "1,2,max", "--max-batch-cap", "3",
        "--check-cases", "hog,caffenet:conv5", "--check-iterations", "6", "--table-layers", "2",
        "--table-pictures", "2", "--table-iterations-scale", "0.01", "--matmul-size", "128",
        "--sections", "checks,throughput,table,atlas", "--atlas-units", "3", "--atlas-steps", "3"]


def strict(text: str):
    def refuse(name):
        raise ValueError(f"{name} in the JSON")
    return json.loads(text, parse_constant=refuse)


def finite_numbers(value) -> bool:
    if isinstance(value, dict):
        return all(finite_numbers(v) for v in value.values())
    if isinstance(value, list):
        return all(finite_numbers(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    """One tiny run of the shell script, as the device would run it (with --cpu)."""
    require("torch")
    out = tmp_path_factory.mktemp("gpu")
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu.sh"), "--out", str(out), *TINY],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return strict((out / "gpu.json").read_text()), (out / "gpu.log").read_text()


def test_cpu_run_writes_every_section(cpu_run):
    doc, log = cpu_run
    assert {"environment", "peaks", "checks", "throughput", "table", "atlas", "seconds"} <= set(doc)
    assert finite_numbers(doc)
    env = doc["environment"]
    assert env["backend"] == "cpu" and env["versions"]["jax"] == jax.__version__
    assert "| caffenet:conv5 | tf32 | 1 |" in log and "wrote " in log
    assert all(v > 0 for v in doc["peaks"]["measured_matmul_tflops"].values())


def test_cpu_run_checks_agree(cpu_run):
    doc, _ = cpu_run
    checks = doc["checks"]
    assert checks["passed"]
    assert {(c["case"], c["precision"]) for c in checks["codes"]} == {
        (n, p) for n in ("hog", "caffenet:conv5") for p in ("default", "highest")}
    for c in checks["codes"]:  # the CPU against itself: the same numbers
        assert c["relative_difference"] <= c["tolerance"] and c["finite"]
    (hog,) = checks["inversions"]
    assert hog["falling_energy"] and all(b < a for a, b in zip(hog["data_first"], hog["data_last"]))
    assert checks["sharding"]["relative_difference"] <= checks["sharding"]["tolerance"]


def test_cpu_run_throughput_rows(cpu_run):
    doc, _ = cpu_run
    rows = [r for r in doc["throughput"]["rows"] if r["case"] == "caffenet:conv5"]
    assert {(r["precision"], r["batch"]) for r in rows} == {(p, b) for p in ("tf32", "fp32") for b in (1, 2, 3)}
    for r in rows:
        assert r["jax_its"] > 0 and r["torch_its"] > 0
        assert r["ratio"] == pytest.approx(r["jax_its"] / r["torch_its"])
        assert r["gflop_per_image_iteration"] == pytest.approx(2.66, abs=0.01)  # the count
        assert r["jax_tflops"] == pytest.approx(2.66e-3 * r["jax_its"], rel=0.01)
        assert r["jax_bytes_per_image"] > 0
        assert r["jax_fp32_peak_fraction"] is None  # no datasheet peak for a CPU
    assert {r["torch_precision"]["cuda_matmul"] for r in rows} == {"tf32", "ieee"}
    plan = doc["throughput"]["largest_batch"]["caffenet:conv5 tf32"]
    assert plan["batch"] == 3 and plan["jax_memory"]["bytes_per_image"] > 0


def test_cpu_run_table_estimate(cpu_run):
    doc, _ = cpu_run
    table = doc["table"]
    assert [s["layer"] for s in table["sampled"]] == ["conv1", "pool10"]
    measured = sum(s["seconds"] for s in table["sampled"])
    assert table["lower_s"] <= table["estimate_s"] <= table["upper_s"]
    assert table["estimate_s"] >= 3 * measured and table["layers"] == 64


def test_cpu_run_atlas_sets_the_batched_layer_beside_both_loops(cpu_run):
    doc, log = cpu_run
    atlas = doc["atlas"]
    # --cpu's layer and loop; the options given on the command line win over its defaults
    assert (atlas["case"], atlas["units"], atlas["layer_units"], atlas["steps"]) == (
        "squeezenet1_1:fire5/expand3x3", 3, 128, 3)
    assert atlas["image_size"] == 80 and atlas["platform"] == "cpu"
    batched, loop, torch_loop = atlas["jax"]["batched"], atlas["jax"]["loop"], atlas["torch_loop"]
    assert batched["units"] == 3 and loop["units"] == torch_loop["units"] == 2
    for arm in (batched, loop, torch_loop):
        assert arm["units_per_second"] == pytest.approx(arm["units"] / arm["seconds"])
    assert atlas["batched_over_jax_loop"] == pytest.approx(batched["units_per_second"] / loop["units_per_second"])
    assert atlas["batched_over_torch_loop"] == pytest.approx(
        batched["units_per_second"] / torch_loop["units_per_second"])
    assert torch_loop["torch"]["cuda_matmul"] == "tf32"
    assert "atlas squeezenet1_1:fire5/expand3x3 (3 units, 3 steps, 80 px)" in log


def test_table_extrapolation_by_hand():
    import gpu_table

    assert gpu_table.sample_order(64, 4) == [0, 63, 21, 42]
    got = gpu_table.extrapolate({0: 1.0, 3: 4.0}, 4)
    # interpolated 1, 2, 3, 4; the cheaper neighbour 1, 1, 1, 4; the dearer 1, 4, 4, 4; × 3 λ
    assert (got["estimate_s"], got["lower_s"], got["upper_s"]) == (30.0, 21.0, 39.0)


def test_largest_batch_from_memory_and_time():
    import gpu_speed

    mib = 2 ** 20
    rows = [{"batch": b, "jax_bytes": 100 * mib + b * 10 * mib, "torch_bytes": 50 * mib + b * 20 * mib,
             "jax_its": 1000.0, "torch_its": 400.0} for b in (64, 256)]
    plan = gpu_speed.largest_batch(rows, shares={"jax": 10_000 * mib, "torch": 10_000 * mib}, steps=25,
                                   max_chunk_s=1000.0, cap=10 ** 6)
    assert plan["jax_memory"]["bytes_per_image"] == pytest.approx(10 * mib)
    assert plan["jax_fits"] == (9000 - 100) // 10 and plan["torch_fits"] == (9000 - 50) // 20
    assert plan["batch"] == 384 and not plan["time_limited"]  # 447 rounded down to a multiple of 64
    quick = gpu_speed.largest_batch(rows, shares={"jax": 10_000 * mib, "torch": 10_000 * mib}, steps=25,
                                    max_chunk_s=10.0, cap=10 ** 6)
    assert quick["batch"] == 128 and quick["time_limited"]  # 10 s × 400 it/s / 25 steps = 160
    alone = gpu_speed.largest_batch(rows[:1], shares={"jax": 10_000 * mib, "torch": None}, steps=25,
                                    max_chunk_s=10.0, cap=10 ** 6)
    assert alone["batch"] is None  # one batch gives no memory per image: nothing to run


def test_report_is_strict_json(tmp_path):
    import gpu

    report = gpu.Report(str(tmp_path))
    report.put("row", {"a": float("nan"), "b": np.float32(1.5), "c": [np.int64(2), float("inf")]})
    assert strict((tmp_path / "gpu.json").read_text())["row"] == {"a": None, "b": 1.5, "c": [2, None]}


def test_datasheet_peaks_by_device_name():
    import gpu_env

    h200 = gpu_env.peaks({"device_kind": "NVIDIA H200"}, fp32=None, tf32=None)
    assert (h200["fp32_tflops"], h200["tf32_tflops"]) == (67.0, 494.5)
    given = gpu_env.peaks({"device_kind": "cpu"}, fp32=1.0, tf32=None)
    assert given["fp32_tflops"] == 1.0 and given["source"] == "given on the command line"


def test_compiler_options_only_for_the_cpu():
    assert program.compiler_options("cpu") == program.COMPILER_OPTIONS
    assert program.compiler_options("gpu") == {} and program.compiler_options("tpu") == {}
    assert program.platform_of(jnp.ones(2)) == "cpu"
    assert program.platform_of(jax.ShapeDtypeStruct((2,), jnp.float32)) == jax.default_backend()
    assert jax.jit(lambda x: jnp.float32(len(program.platform_of(x))))(jnp.ones(2)) == len(jax.default_backend())


def test_other_platforms_program_computes_the_same():
    """The chunk compiled without the CPU option (as for a GPU), run here, gives the CPU's result."""
    rep = registry.get("hog")
    x = jnp.asarray(rep.preprocess(np.random.default_rng(0).uniform(0, 255, (48, 64, 3))), jnp.float32)
    solver = jaxinv.core.solver(rep, "paper", image_shape=tuple(x.shape), schedule=[(0.004, 4)])
    skeleton, arrays = program.split_solver(solver)
    prog = program.Program(skeleton, chunk=4, steps=solver.schedule.total)
    targets = rep.features(rep.params, x)[None]
    states = program.init_states(prog, arrays, jax.random.split(jax.random.key(0), 1))
    args = (prog, arrays, targets, None, states, jnp.int32(0))
    cpu, _ = program.advance_chunk(*args)
    other, _ = program.advance_chunk.for_platform("gpu")(*args)
    moved = float(jnp.linalg.norm(cpu.variables - states.variables))
    assert moved > 0
    np.testing.assert_allclose(np.asarray(other.variables), np.asarray(cpu.variables), rtol=1e-5, atol=1e-5 * moved)


def test_device_case_builds_make_case_on_the_device():
    import gpu_speed
    import step_cases

    ours, theirs = gpu_speed.device_case("hog", 7, steps=1), step_cases.make_case("hog", 7, steps=1)
    assert ours.batch == 7 and ours.solver.image_shape == theirs.solver.image_shape
    np.testing.assert_allclose(np.asarray(ours.targets), np.asarray(theirs.targets), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(np.asarray(ours.states.variables), np.asarray(theirs.states.variables))
