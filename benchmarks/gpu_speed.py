"""Throughput of the inversion step on one device, jaxinv against PyTorch, at a stated precision.

The pieces of `benchmarks/gpu.py` that time things: `throughput.py`'s cases and runners (the
same `step_cases.make_case`, `JaxRunner` and `TorchRunner`), moved onto the device, under one
precision on both sides, with the device's memory per image, model FLOPs and the largest batch
that fits.

Definitions (docs/GPU.md):

- precision ``tf32``: JAX's default matmul precision (TF32 for float32 convolutions and
  matrix products on NVIDIA GPUs since Ampere) and torch's ``fp32_precision = "tf32"`` for
  cuBLAS matmuls and cuDNN convolutions; ``fp32``: ``jax.default_matmul_precision("highest")``
  at compile time and torch's ``"ieee"``, strict float32 on both sides.
- model FLOPs per image-iteration: 2 × the forward FLOPs of the convolutions and matrix
  products up to the layer (forward + input gradient; no weight gradient), counted by
  ``torch.utils.flop_counter`` on the PyTorch baseline (CaffeNet conv5: 2.66 GFLOP, fc8: 2.90);
  for HOG and DSIFT (no PyTorch model), 2 × XLA's cost analysis of the forward.
- memory: JAX, the compiled chunk's ``memory_analysis()`` (temp + arguments + outputs −
  aliased); PyTorch, ``torch.cuda.max_memory_allocated`` over a chunk above what was allocated
  before the run was built (so both include the weights, the state and the activations).
  Memory per image is the slope between two batches, (M(B2) − M(B1)) / (B2 − B1).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import statistics
import time

import jax
import jax.numpy as jnp

import step_cases
from jaxinv.program import init_states

#: Precisions, each the same on both sides: (JAX matmul precision, torch fp32_precision).
PRECISIONS = {"tf32": ("default", "tf32"), "fp32": ("highest", "ieee")}


# ----------------------------------------------------------------------------- precision


def jax_precision(name: str):
    """The context in which JAX traces and compiles at precision ``name``."""
    jax_name = PRECISIONS[name][0]
    return contextlib.nullcontext() if jax_name == "default" else jax.default_matmul_precision(jax_name)


def set_torch_precision(name: str) -> dict:
    """Set torch's float32 precision of cuBLAS matmuls and cuDNN convolutions; returns what it reads back."""
    import torch

    value = PRECISIONS[name][1]
    torch.backends.cudnn.benchmark = True  # fixed shapes: cuDNN may time its algorithms, as XLA autotunes
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    if hasattr(matmul, "fp32_precision"):  # torch >= 2.9; the legacy flags must not be mixed in
        matmul.fp32_precision = value
        conv.fp32_precision = value
        return {"cuda_matmul": matmul.fp32_precision, "cudnn_conv": conv.fp32_precision, "cudnn_benchmark": True}
    matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = value == "tf32"
    return {"cuda_matmul_allow_tf32": matmul.allow_tf32, "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "cudnn_benchmark": True}


# ----------------------------------------------------------------------------- runners


def torch_device(platform: str) -> str:
    return "cpu" if platform == "cpu" else "cuda"


def synchronize(device: str) -> None:
    if device != "cpu":
        import torch

        torch.cuda.synchronize()


def torch_allocated(device: str) -> int | None:
    if device == "cpu":
        return None
    import torch

    return int(torch.cuda.memory_allocated())


class DeviceTorchRunner(step_cases.TorchRunner):
    """`step_cases.TorchRunner` with its run on ``device``; a chunk ends when the device is done."""

    def __init__(self, case: step_cases.Case, device: str):
        if device != "cpu":
            import torch

            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        self.device, self.base_bytes = device, torch_allocated(device)
        super().__init__(case)
        self.inv.to(device)

    def chunk(self) -> float:
        synchronize(self.device)
        started = time.perf_counter()
        self.inv.run(self.steps)
        synchronize(self.device)
        return time.perf_counter() - started

    def peak_bytes(self) -> int | None:
        if self.device == "cpu":
            return None
        import torch

        return int(torch.cuda.max_memory_allocated()) - self.base_bytes


def jax_bytes(compiled) -> int | None:
    """temp + arguments + outputs − aliased bytes of a compiled program (None if XLA does not say)."""
    m = compiled.memory_analysis()
    if m is None:
        return None
    return int(m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes
               - m.alias_size_in_bytes)


# ----------------------------------------------------------------------------- FLOPs


def model_gflop(name: str, blobs: dict | None, image_shape: tuple[int, ...], rep=None) -> tuple[float, str]:
    """Model GFLOP per image-iteration of case ``name`` and where the count comes from."""
    if blobs is not None:
        try:
            import torch
            from torch.utils.flop_counter import FlopCounterMode

            from baselines.torch_inversion import build_network
        except ImportError:
            pass
        else:
            network, layer = name.split(":")
            net = build_network(network, blobs, layer).to("meta")
            with FlopCounterMode(display=False) as counter:
                net(torch.empty((1, image_shape[2], *image_shape[:2]), device="meta"))
            return 2 * counter.get_total_flops() / 1e9, "2 x torch.utils.flop_counter forward"
    x = jax.ShapeDtypeStruct(tuple(image_shape), jnp.float32)
    cost = jax.jit(rep.features).lower(rep.params, x).cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return 2 * float(cost["flops"]) / 1e9, "2 x XLA cost analysis of the forward"


def matmul_tflops(size: int, precision: str, *, repeats: int = 10) -> float:
    """Measured float32 matmul rate of the default device at ``precision``, TFLOP/s (best of ``repeats``)."""
    keys = jax.random.split(jax.random.key(0), 2)
    a, b = (jax.random.normal(k, (size, size), jnp.float32) for k in keys)
    with jax_precision(precision):
        f = jax.jit(jnp.matmul)
        f(a, b).block_until_ready()
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        f(a, b).block_until_ready()
        best = min(best, time.perf_counter() - started)
    return 2 * size ** 3 / best / 1e12


# ----------------------------------------------------------------------------- one row


def _its(times: list[float], work: int) -> dict:
    return {"best": work / min(times), "median": work / statistics.median(times), "seconds": times}


def device_case(name: str, batch: int, *, steps: int) -> step_cases.Case:
    """`step_cases.make_case` of any batch, built on the device: the same targets and starts
    (picture i is photograph i mod 5, problem i's key ``fold_in(key(0), i)``) without
    preprocessing every picture of a large batch on the host."""
    base = step_cases.make_case(name, min(batch, 5), steps=steps)
    if batch <= 5:
        return base
    index = jnp.arange(batch)
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(0), i))(index)
    states = init_states(base.program, base.arrays, keys)
    return dataclasses.replace(base, batch=batch, targets=base.targets[index % base.targets.shape[0]],
                               states=states)


def device_row(name: str, batch: int, precision: str, *, steps: int, repeats: int, with_torch: bool,
               platform: str) -> dict:
    """One case at one batch and precision: compile, first chunk, then alternating timed chunks."""
    gc.collect()
    device = torch_device(platform)
    case = device_case(name, batch, steps=steps)
    row: dict = {"case": name, "batch": batch, "precision": precision, "steps": steps, "repeats": repeats}
    with jax_precision(precision):
        jr = step_cases.JaxRunner(case)
    row["jax_compile_s"], row["jax_bytes"] = jr.compile_s, jax_bytes(jr.compiled)
    row["jax_first_chunk_s"] = jr.chunk()
    tr = None
    if with_torch:
        row["torch_precision"] = set_torch_precision(precision)
        tr = DeviceTorchRunner(case, device)
        row["torch_first_chunk_s"] = tr.chunk()
    jax_times, torch_times = [], []
    for _ in range(repeats):  # alternate, so that both see the same state of the device
        jax_times.append(jr.chunk())
        if tr is not None:
            torch_times.append(tr.chunk())
    work = batch * steps
    jit = _its(jax_times, work)
    row.update(jax_its=jit["best"], jax_its_median=jit["median"], jax_seconds=jit["seconds"])
    if tr is not None:
        tit = _its(torch_times, work)
        row.update(torch_its=tit["best"], torch_its_median=tit["median"], torch_seconds=tit["seconds"],
                   torch_bytes=tr.peak_bytes(), ratio=jit["best"] / tit["best"],
                   ratio_median=jit["median"] / tit["median"])
        del tr
    del jr, case
    return row


def add_rates(row: dict, gflop: float, source: str, peaks: dict) -> dict:
    """Achieved TFLOP/s and fractions of the peaks, for each side of ``row``."""
    row["gflop_per_image_iteration"], row["gflop_source"] = gflop, source
    for side in ("jax", "torch"):
        if f"{side}_its" not in row:
            continue
        tflops = gflop * row[f"{side}_its"] / 1e3
        row[f"{side}_tflops"] = tflops
        for peak in ("fp32", "tf32"):
            value = peaks.get(f"{peak}_tflops")
            row[f"{side}_{peak}_peak_fraction"] = None if not value else tflops / value
        if row.get(f"{side}_bytes") is not None:
            row[f"{side}_bytes_per_image"] = row[f"{side}_bytes"] / row["batch"]
    return row


# ----------------------------------------------------------------------------- largest batch


def memory_line(rows: list[dict], side: str) -> dict | None:
    """Fixed bytes and bytes per image of ``side`` from its two largest measured batches."""
    points = sorted((r["batch"], r[f"{side}_bytes"]) for r in rows if r.get(f"{side}_bytes") is not None)
    if len(points) < 2 or points[-1][0] == points[-2][0]:
        return None
    (b1, m1), (b2, m2) = points[-2], points[-1]
    per_image = max((m2 - m1) / (b2 - b1), 1.0)
    return {"bytes_per_image": per_image, "fixed_bytes": m2 - b2 * per_image, "from_batches": [b1, b2]}


def largest_batch(rows: list[dict], *, shares: dict, steps: int, max_chunk_s: float, cap: int) -> dict:
    """The largest batch the memory per image says fits each side's share of the device memory,
    and the one to run: also at most ``cap`` and a chunk of at most ``max_chunk_s`` seconds at
    the rate of the largest measured batch, rounded down to a multiple of 64."""
    out: dict = {"shares_bytes": shares, "max_chunk_s": max_chunk_s, "cap": cap}
    limits = [cap]
    for side in ("jax", "torch"):
        line = memory_line(rows, side)
        out[f"{side}_memory"] = line
        if line is None or shares.get(side) is None:
            continue
        fits = int((0.9 * shares[side] - line["fixed_bytes"]) // line["bytes_per_image"])
        out[f"{side}_fits"] = fits
        limits.append(fits)
        biggest = max(rows, key=lambda r: r["batch"])
        if biggest.get(f"{side}_its"):
            limits.append(int(max_chunk_s * biggest[f"{side}_its"] / steps))
    if out["jax_memory"] is None:
        out.update(batch=None, reason="no memory per image: it needs two measured batches")
        return out
    used = min(limits)
    out["time_limited"] = used < min(out.get(f"{s}_fits", cap) for s in ("jax", "torch"))
    out["batch"] = used - used % 64 if used >= 128 else used
    return out


# ----------------------------------------------------------------------------- all rows


def memory_shares(platform: str, fraction: float, *, with_torch: bool) -> dict:
    """Bytes each side may use: JAX's allocator limit, torch's fraction of the card (host RAM on CPU)."""
    import os

    host = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * fraction
    stats = jax.devices()[0].memory_stats() or {}
    shares = {"jax": float(stats.get("bytes_limit", host)), "torch": None}
    if with_torch:
        shares["torch"] = host
        if platform != "cpu":
            import torch

            torch.cuda.set_per_process_memory_fraction(fraction)
            shares["torch"] = torch.cuda.get_device_properties(0).total_memory * fraction
    return shares


class Throughput:
    """Every row of the throughput section, within a deadline; rows that would not fit are skipped."""

    def __init__(self, args, peaks: dict, *, with_torch: bool, torch_cases: tuple[str, ...]):
        self.args, self.peaks, self.torch_cases = args, peaks, torch_cases
        self.with_torch = with_torch
        self.platform = jax.default_backend()
        self.doc: dict = {"steps": args.steps, "repeats": args.repeats, "rows": [], "largest_batch": {},
                          "memory_shares": memory_shares(self.platform, args.mem_fraction, with_torch=with_torch)}
        self.flops: dict = {}
        self.last_seconds: dict = {}
        self.on_row = lambda doc: None

    def run(self, cases: list[str], *, deadline: float, on_row) -> dict:
        """Case by case, each precision, the batches in the order given; ``max`` after them."""
        a = self.args
        batches = [b for b in a.batches.split(",") if b]
        numeric = [int(b) for b in batches if b != "max"]
        self.on_row = on_row
        for name in cases:
            for precision in [p for p in a.precisions.split(",") if p]:
                rows = [self.row(name, b, precision, deadline, steps=a.steps, repeats=a.repeats) for b in numeric]
                if "max" in batches and precision in a.max_batch_precisions.split(","):
                    self.largest(name, precision, [r for r in rows if "jax_its" in r], numeric, deadline)
        return self.doc

    def row(self, name: str, batch: int, precision: str, deadline: float, *, steps: int, repeats: int,
            scale: float = 1.0) -> dict:
        estimate = self.last_seconds.get(name, 30.0) * max(scale, 1.0)
        if time.perf_counter() + estimate > deadline:
            row = {"case": name, "batch": batch, "precision": precision, "skipped": "time budget"}
        else:
            started = time.perf_counter()
            try:
                row = device_row(name, batch, precision, steps=steps, repeats=repeats,
                                 with_torch=self.with_torch and name in self.torch_cases, platform=self.platform)
                row = add_rates(row, *self.gflop(name), self.peaks)
            except Exception as exc:  # an out-of-memory batch, say: recorded, the rest goes on  # noqa: BLE001
                row = {"case": name, "batch": batch, "precision": precision,
                       "error": f"{type(exc).__name__}: {str(exc)[:400]}"}
                self._release()
            row["wall_s"] = time.perf_counter() - started
            self.last_seconds[name] = row["wall_s"]
        self.doc["rows"].append(row)
        self.on_row(self.doc)
        print(_line(row), flush=True)
        return row

    def largest(self, name: str, precision: str, rows: list[dict], numeric: list[int], deadline: float) -> None:
        """The row at the largest batch that fits (`largest_batch`), with the shorter chunks of --max-batch-steps."""
        a = self.args
        plan = largest_batch(rows, shares=self.doc["memory_shares"], steps=a.max_batch_steps,
                             max_chunk_s=a.max_chunk_s, cap=a.max_batch_cap)
        self.doc["largest_batch"][f"{name} {precision}"] = plan
        if plan["batch"] is not None and plan["batch"] > max(numeric, default=0):
            self.row(name, plan["batch"], precision, deadline, steps=a.max_batch_steps, repeats=a.max_batch_repeats,
                     scale=plan["batch"] / max(numeric, default=1) * a.max_batch_steps / a.steps)

    def gflop(self, name: str) -> tuple[float, str]:
        if name not in self.flops:
            case = step_cases.make_case(name, 1, steps=1)
            self.flops[name] = model_gflop(name, case.blobs if self.with_torch else None,
                                           tuple(int(s) for s in case.solver.image_shape), case.rep)
        return self.flops[name]

    def _release(self) -> None:
        gc.collect()
        if self.with_torch and self.platform != "cpu":
            import torch

            torch.cuda.empty_cache()


def _line(row: dict) -> str:
    head = f"  {row['case']} {row['precision']} B={row['batch']}:"
    if "skipped" in row or "error" in row:
        return f"{head} {row.get('skipped') or row.get('error')}"
    torch_part = f", torch {row['torch_its']:.1f} it/s, ratio {row['ratio']:.2f}" if "ratio" in row else ""
    return f"{head} jax {row['jax_its']:.1f} it/s{torch_part} (compile {row['jax_compile_s']:.1f} s)"
