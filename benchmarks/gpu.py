"""jaxinv on an accelerator, measured against PyTorch on the same one (issue 18; docs/GPU.md).

    python benchmarks/gpu.py --prepare             # here: weights and pictures into .gpu-data/
    python benchmarks/gpu.py --out DIR             # on the device (benchmarks/gpu.sh calls this)
    python benchmarks/gpu.py --cpu --out DIR       # the same program at a tiny size on the CPU

Sections, each written to ``DIR/gpu.json`` as soon as it is done (strict JSON, atomic):

1. ``environment``: versions (python, jax, jaxlib, flax, optax, numpy, torch), the device's
   name, nvidia-smi's line, the commit (``.gpu-data/manifest.json``);
2. ``peaks``: the card's FP32 and TF32 datasheet peaks and a measured float32 matmul rate at
   both precisions;
3. ``checks``: the GPU subset of the tests (`gpu_checks`);
4. ``throughput``: the inversion step, jaxinv against PyTorch eager on the same device
   (`gpu_speed`), per case × precision (``tf32``, ``fp32``) × batch (1, 64, 256 and the
   largest that fits), with compile times, fractions of the peaks and memory per image;
5. ``table``: the time of SqueezeNet's per-layer table (64 layers × 3 λ_V × the pictures),
   extrapolated from a measured sample of its layers;
6. ``atlas`` (only when named in ``--sections``): a layer's units maximised in one jaxinv
   program beside jaxinv's and PyTorch's one-unit loops on the same card (`gpu_atlas`).

A time budget (``--budget-s``) bounds the run: a row that would not end in time is recorded as
skipped, and the table keeps ``--table-reserve-s`` of it.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

import jax
import numpy as np

import common
import gpu_atlas
import gpu_checks
import gpu_env
import gpu_speed
import gpu_table
from jaxinv.cli import ArgumentParser, number, positive
from jaxinv.images import atomic_write_bytes

REPO = common.REPO

DATA = REPO / ".gpu-data"
CASES = ("caffenet:conv5", "caffenet:fc8", "squeezenet1_1:fire9", "googlenet:inception_4a", "hog", "dsift")
TORCH_CASES = CASES[:4]
#: What --cpu changes: a tiny run that CI's suite can afford.
CPU_DEFAULTS = {"cases": "caffenet:conv5", "batches": "1,2,max", "steps": 2, "repeats": 1,
                "max_batch_cap": 3, "max_batch_steps": 2, "max_batch_repeats": 1, "max_batch_precisions": "tf32,fp32",
                "budget_s": 600.0, "table_layers": 2, "table_pictures": 2, "table_iterations_scale": 0.02,
                "check_cases": "hog,caffenet:conv5", "inversion_reps": "hog", "check_iterations": 8,
                "matmul_size": 256, "table_reserve_s": 60.0, "atlas_case": "squeezenet1_1:fire5/expand3x3",
                "atlas_units": 4, "atlas_loop_units": 2, "atlas_steps": 2}


def parse(argv) -> argparse.Namespace:
    p = ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", help="folder for gpu.json (required unless --prepare)")
    p.add_argument("--prepare", action="store_true", help="copy the weights and pictures into --data and stop")
    p.add_argument("--cpu", action="store_true", help="run on the CPU at a tiny size (defaults: CPU_DEFAULTS)")
    p.add_argument("--data", default=str(DATA), help="the prepared folder (default .gpu-data/)")
    p.add_argument("--shared", default=str(REPO.parent / "shared"), help="--prepare's source folder")
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    p.add_argument("--batches", default="256,1,64,max", help="batch sizes, in order; 'max': the largest that fits")
    p.add_argument("--precisions", default="tf32,fp32", help="tf32 (both sides' default on GPU), fp32 (strict)")
    p.add_argument("--steps", type=common.positive_int, default=25, help="steps per timed chunk")
    p.add_argument("--repeats", type=common.positive_int, default=3, help="timed chunks per side")
    p.add_argument("--no-torch", action="store_true", help="jaxinv alone")
    p.add_argument("--max-batch-precisions", default="tf32", help="precisions that get a largest-batch row")
    p.add_argument("--max-batch-cap", type=common.positive_int, default=8192)
    p.add_argument("--max-batch-steps", type=common.positive_int, default=5, help="steps per chunk at that batch")
    p.add_argument("--max-batch-repeats", type=common.positive_int, default=2)
    p.add_argument("--max-chunk-s", type=positive(float, maximum=600), default=3.0, help="the largest batch's chunk time limit")
    p.add_argument("--sections", default="checks,throughput,table",
                   help="which sections to run, of checks, throughput, table, atlas")
    p.add_argument("--atlas-case", default=gpu_atlas.CASE, help="the atlas section's NETWORK:LAYER")
    p.add_argument("--atlas-units", type=common.positive_int, help="units in its batched call (default all)")
    p.add_argument("--atlas-loop-units", type=common.positive_int, default=8, help="units of each one-unit loop")
    p.add_argument("--atlas-steps", type=common.positive_int, default=300, help="steps per unit (the atlas's 300)")
    p.add_argument("--budget-s", type=positive(float, maximum=86400), default=330.0, help="stop starting new work after this")
    p.add_argument("--table-reserve-s", type=number(float, minimum=0, maximum=86400), default=60.0, help="budget kept for the table")
    p.add_argument("--table-layers", type=common.positive_int, default=4, help="SqueezeNet layers timed")
    p.add_argument("--table-pictures", type=common.positive_int, default=100)
    p.add_argument("--table-iterations-scale", type=positive(float, maximum=100), default=1.0)
    p.add_argument("--check-cases", default=",".join(CASES))
    p.add_argument("--check-iterations", type=common.positive_int, default=50)
    p.add_argument("--inversion-reps", default="hog,squeezenet1_1:fire5", help="inversions checked on the device")
    p.add_argument("--matmul-size", type=common.positive_int, default=8192)
    p.add_argument("--fp32-peak-tflops", type=positive(float, maximum=1e6), help="override the datasheet's")
    p.add_argument("--tf32-peak-tflops", type=positive(float, maximum=1e6), help="override the datasheet's (dense)")
    p.add_argument("--mem-fraction", type=positive(float, maximum=1), default=0.45, help="each side's share of device memory")
    args = p.parse_args(argv)
    if args.cpu:
        given = {a.split("=")[0][2:].replace("-", "_") for a in (argv or sys.argv[1:]) if a.startswith("--")}
        for k, v in CPU_DEFAULTS.items():
            if k not in given:
                setattr(args, k, v)
    if not args.prepare and not args.out:
        p.error("--out DIR is required (or --prepare)")
    return args


class Report:
    """The JSON document, rewritten atomically after every section (strict: no NaN)."""

    def __init__(self, folder: str):
        self.path = pathlib.Path(folder) / "gpu.json"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.doc: dict = {"schema": 1}

    def put(self, key: str, value) -> None:
        self.doc[key] = value
        atomic_write_bytes(self.path, json.dumps(clean(self.doc), indent=1, allow_nan=False).encode())


def clean(value):
    """JSON-safe: numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def main(argv=None) -> int:
    args = parse(argv)
    if args.prepare:
        gpu_env.prepare(pathlib.Path(args.data), pathlib.Path(args.shared), repo=REPO)
        return 0
    # Before JAX starts a backend (importing these modules starts none): torch shares the device.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", str(args.mem_fraction))
    if args.cpu:
        jax.config.update("jax_platforms", "cpu")
    started = time.perf_counter()
    deadline = started + args.budget_s
    report = Report(args.out)
    data = gpu_env.Data(pathlib.Path(args.data), pathlib.Path(args.shared))
    with_torch = not args.no_torch
    report.put("settings", {k: v for k, v in vars(args).items() if k not in ("out",)})
    report.put("environment", gpu_env.environment(data, with_torch=with_torch))
    peaks = gpu_env.peaks(report.doc["environment"], fp32=args.fp32_peak_tflops, tf32=args.tf32_peak_tflops)
    peaks["measured_matmul_tflops"] = {p: gpu_speed.matmul_tflops(args.matmul_size, p)
                                       for p in gpu_speed.PRECISIONS}
    report.put("peaks", peaks)
    sections = split(args.sections)
    if "checks" in sections:
        checks = gpu_checks.all_checks(code_cases=split(args.check_cases), iterations=args.check_iterations,
                                       inversion_reps=split(args.inversion_reps),
                                       blobs={"squeezenet1_1": data.squeezenet_blobs()})
        report.put("checks", checks)
        print(f"checks: {'passed' if checks['passed'] else 'FAILED'}", flush=True)
    if "throughput" in sections:
        speed = gpu_speed.Throughput(args, peaks, with_torch=with_torch, torch_cases=TORCH_CASES)
        reserve = args.table_reserve_s if "table" in sections else 0.0
        speed.run(split(args.cases), deadline=deadline - reserve, on_row=lambda doc: report.put("throughput", doc))
        print(markdown(speed.doc["rows"]))
    if "table" in sections:
        report.put("table", gpu_table.table_time(data, layers=args.table_layers, pictures=args.table_pictures,
                                                 iterations_scale=args.table_iterations_scale, deadline=deadline))
    if "atlas" in sections:
        report.put("atlas", gpu_atlas.atlas_section(case=args.atlas_case, units=args.atlas_units,
                                                    loop_units=args.atlas_loop_units, steps=args.atlas_steps,
                                                    with_torch=with_torch, deadline=deadline))
        print(gpu_atlas.line(report.doc["atlas"]), flush=True)
    report.put("seconds", time.perf_counter() - started)
    print(summary(report.doc))
    print(f"wrote {report.path}")
    return 0


def split(text: str) -> list[str]:
    return [part for part in text.split(",") if part]


def _f(value, spec: str = ".1f", scale: float = 1.0) -> str:
    return "–" if value is None else format(value * scale, spec)


def markdown(rows: list[dict]) -> str:
    """The throughput rows as the README's table."""
    lines = ["| case | precision | batch | jaxinv it/s | PyTorch it/s | jaxinv / PyTorch | jaxinv % FP32 peak"
             " | jaxinv % TF32 peak | compile s | jaxinv MiB/image | PyTorch MiB/image |",
             "|" + "---|" * 11]
    mib = 1 / 2 ** 20
    for r in rows:
        if "jax_its" not in r:
            lines.append(f"| {r['case']} | {r['precision']} | {r['batch']} | {r.get('skipped') or 'error'} |"
                         + " |" * 7)
            continue
        lines.append(
            f"| {r['case']} | {r['precision']} | {r['batch']} | {_f(r['jax_its'])} | {_f(r.get('torch_its'))}"
            f" | {_f(r.get('ratio'), '.2f')} | {_f(r.get('jax_fp32_peak_fraction'), '.1f', 100)}"
            f" | {_f(r.get('jax_tf32_peak_fraction'), '.1f', 100)} | {_f(r['jax_compile_s'])}"
            f" | {_f(r.get('jax_bytes_per_image'), '.0f', mib)} | {_f(r.get('torch_bytes_per_image'), '.0f', mib)} |")
    return "\n".join(lines)


def summary(doc: dict) -> str:
    """Device, checks and the table's time in a few lines."""
    env, checks, table = doc["environment"], doc.get("checks"), doc.get("table", {})
    lines = [f"device: {env['device_kind']} ({env['backend']}), jax {env['versions'].get('jax')},"
             f" torch {env['versions'].get('torch', '–')}"]
    if checks:
        worst = {p: max((c["relative_difference"] for c in checks["codes"] if c["precision"] == p), default=None)
                 for p in ("default", "highest")}
        lines.append(f"checks {'passed' if checks['passed'] else 'FAILED'}: worst code difference vs CPU"
                     f" {_f(worst['default'], '.1e')} (default precision), {_f(worst['highest'], '.1e')}"
                     f" (highest); sharding {_f(checks['sharding']['relative_difference'], '.1e')}")
    if "estimate_s" in table:
        lines.append(f"SqueezeNet table ({table['layers']} layers × {table['lambdas']} λ × {table['pictures']}"
                     f" pictures): about {table['estimate_s']:.0f} s ({table['lower_s']:.0f}–{table['upper_s']:.0f})"
                     f" from {len(table['sampled'])} measured layers")
    lines.append(f"total {doc.get('seconds', 0):.0f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    common.run_script(main, "gpu.py")
