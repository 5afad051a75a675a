"""Inversion throughput: jaxinv (XLA CPU) vs the same algorithm in PyTorch eager, side by side.

    python benchmarks/throughput.py                                  # every case, batch 1,8,32
    python benchmarks/throughput.py --cases caffenet:conv5 --batch 1,8 --steps 5 --repeats 3
    python benchmarks/throughput.py --check                          # iterate equality only
    python benchmarks/throughput.py --json benchmarks/results/throughput.json

What is timed: complete inversion steps (objective, gradient, momentum update) of B
independent problems, reported as image-iterations per second (B × steps / seconds).

- JAX: the host runner's own compiled chunk `jaxinv.program.advance_chunk` over the paper's
  solver (`jaxinv.core.solver(rep, "paper")`: the representation's objective and schedule
  preset, split by `jaxinv.program.split_solver` as the runner does, its weights compiled in),
  a `Program` with ``chunk = --steps`` and the runner's default `vmap_width`, the random starts
  of `jaxinv.program.init_states` (`step_cases`), lowered and compiled ahead of time with the
  runner's CPU compiler options so that compilation is timed apart ("compile s"); the first
  execution is timed apart too ("first s"); then ``--repeats`` chunks of ``--steps`` steps.
  Each chunk continues from the previous states at the next step index.
- PyTorch: `baselines.torch_inversion.TorchInversion` on the same canonical blobs, targets,
  initial image and schedule; its first chunk (oneDNN primitive creation, allocator warm-up) is
  timed apart as well. JAX and torch chunks alternate, repeat by repeat, so that both see the
  same load of the machine; "it/s" is the best repeat, the JSON also holds the median.
- Networks have random canonical weights (`jaxinv.networks.init_blobs`): speed does not depend
  on their values. HOG and DSIFT are the paper's presets on 375×500 gray pictures; there is no
  PyTorch VLFeat HOG/DSIFT, so they are JAX only.
- Memory per image: "XLA MiB/img" = (temp + argument bytes) of the compiled chunk's
  ``memory_analysis()`` / B — arguments include the network weights, shared by the batch;
  "RSS MiB/img" = (peak resident set size − resident size before) / B over the first and the
  timed chunks, from Linux's VmHWM after resetting it (``/proc/self/clear_refs`` 5; falls back to
  ``getrusage`` max RSS, which cannot be reset). It is a lower bound: memory freed earlier in the
  process but kept by the allocator is reused without raising the resident set (the JAX chunk runs
  first). (Pinning glibc's mmap threshold would fix that but makes every large allocation fault
  its pages in again, which slowed both frameworks' steps, so it is not done.)
- GFLOP/s: 2.66 GFLOP per CaffeNet conv5 image-iteration and 2.90 per fc8 (forward +
  backward to the input, from the issue); other cases have no figure.
- Threads: torch uses ``--threads`` (default: every core) intra-op threads; XLA CPU uses its
  own pool over every core, with ``XLA_FLAGS`` as found in the environment (recorded in the
  JSON). On a shared, loaded machine torch's OpenMP threads spin-wait at every barrier and its
  steps slow down 10-30x; ``--omp-passive`` sets ``OMP_WAIT_POLICY=PASSIVE`` before torch is
  imported (it does not change what is computed).

``--check`` runs both on 5 steps of CaffeNet conv5 (227×227, batch 1) from the same start
and prints the relative difference of the final images (tests/test_baselines.py asserts it).
"""

from __future__ import annotations

import os
import platform
import resource
import statistics

import jax

import common
from step_cases import JaxRunner, TorchRunner, check_iterates, make_case
from jaxinv.cli import ArgumentParser
from jaxinv.files import json_text
from jaxinv.images import atomic_write_bytes

#: GFLOP per image-iteration (forward + input gradient), from the issue "Speed and scale".
GFLOP_PER_IMAGE_ITERATION = {"caffenet:conv5": 2.66, "caffenet:fc8": 2.90}
CASES = ("caffenet:conv5", "caffenet:fc8", "squeezenet1_1:fire9", "hog", "dsift")
TORCH_CASES = ("caffenet:conv5", "caffenet:fc8", "squeezenet1_1:fire9")


# ----------------------------------------------------------------------------- memory


class PeakRSS:
    """Peak resident set size over a block, minus the resident size at its start (bytes)."""

    def __enter__(self):
        self.resettable = False
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.resettable = True
        except OSError:
            pass
        self.start = self._status("VmRSS") if self.resettable else self._maxrss()
        return self

    def __exit__(self, *exc):
        self.delta = (self._status("VmHWM") if self.resettable else self._maxrss()) - self.start

    @staticmethod
    def _status(field: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise OSError(field)

    @staticmethod
    def _maxrss() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ----------------------------------------------------------------------------- timing


def bench_case(name: str, batch: int, *, steps: int, repeats: int, with_torch: bool,
               channels_last: bool = False) -> dict:
    import gc

    gc.collect()
    case = make_case(name, batch, steps=steps)
    its = batch * steps
    row: dict = {"case": name, "batch": batch, "steps": steps, "repeats": repeats}
    jr = JaxRunner(case)
    row["jax_compile_s"] = jr.compile_s
    row["jax_xla_bytes_per_image"] = None if jr.xla_bytes is None else jr.xla_bytes / batch
    tr = TorchRunner(case, channels_last=channels_last) if with_torch else None
    with PeakRSS() as mj:
        row["jax_first_chunk_s"] = jr.chunk()
        jax_times = [jr.chunk() for _ in range(1)]  # settle the allocator before torch starts
    jax_rss = mj.delta
    torch_times: list[float] = []
    if tr is not None:
        with PeakRSS() as mt:
            row["torch_first_chunk_s"] = tr.chunk()
            torch_times.append(tr.chunk())
        torch_rss = mt.delta
    jax_times = jax_times[:1]
    for _ in range(repeats - 1):  # alternate, so both see the same machine load
        jax_times.append(jr.chunk())
        if tr is not None:
            torch_times.append(tr.chunk())
    row["jax_rss_bytes_per_image"] = jax_rss / batch
    row["jax_seconds"] = jax_times
    row["jax_its"] = its / min(jax_times)
    row["jax_its_median"] = its / statistics.median(jax_times)
    if tr is not None:
        row["torch_rss_bytes_per_image"] = torch_rss / batch
        row["torch_seconds"] = torch_times
        row["torch_its"] = its / min(torch_times)
        row["torch_its_median"] = its / statistics.median(torch_times)
        row["ratio"] = row["jax_its"] / row["torch_its"]
        row["ratio_median"] = row["jax_its_median"] / row["torch_its_median"]
    gflop = GFLOP_PER_IMAGE_ITERATION.get(name)
    if gflop is not None:
        row["jax_gflops"] = gflop * row["jax_its"]
        if tr is not None:
            row["torch_gflops"] = gflop * row["torch_its"]
    return row


# ----------------------------------------------------------------------------- output


def _fmt(v, spec=".1f", scale=1.0) -> str:
    return "—" if v is None else format(v * scale, spec)


def _mb(v) -> str:
    # An RSS delta is a lower bound (memory reused from earlier in the process); never below 0.
    return "—" if v is None else format(max(v, 0.0) / 2 ** 20, ".0f")


def markdown(rows: list[dict]) -> str:
    head = ("| case | B | JAX it/s | torch it/s | JAX/torch | JAX GFLOP/s | torch GFLOP/s "
            "| JAX compile s | JAX first s | torch first s | XLA MiB/img | JAX RSS MiB/img | torch RSS MiB/img |")
    lines = [head, "|" + "|".join(["---"] * (head.count("|") - 1)) + "|"]
    mb = 1 / 2 ** 20
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['batch']} | {_fmt(r['jax_its'], '.2f')} | {_fmt(r.get('torch_its'), '.2f')}"
            f" | {_fmt(r.get('ratio'), '.2f')} | {_fmt(r.get('jax_gflops'))} | {_fmt(r.get('torch_gflops'))}"
            f" | {_fmt(r['jax_compile_s'])} | {_fmt(r['jax_first_chunk_s'], '.2f')}"
            f" | {_fmt(r.get('torch_first_chunk_s'), '.2f')} | {_fmt(r['jax_xla_bytes_per_image'], '.0f', mb)}"
            f" | {_mb(r['jax_rss_bytes_per_image'])} | {_mb(r.get('torch_rss_bytes_per_image'))} |")
    return "\n".join(lines)


def environment(threads: int) -> dict:
    import torch

    return {"python": platform.python_version(), "jax": jax.__version__, "torch": torch.__version__,
            "cpu_count": os.cpu_count(), "torch_threads": threads,
            "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", ""), "machine": platform.machine(),
            "loadavg_start": os.getloadavg()}


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--batch", type=common.positive_ints, default=[1, 8, 32], help="comma-separated batch sizes")
    parser.add_argument("--steps", type=common.positive_int, default=25,
                        help="steps per timed chunk (25: the library's chunk)")
    parser.add_argument("--repeats", type=common.positive_int, default=3, help="timed chunks per framework")
    parser.add_argument("--threads", type=common.positive_int, default=os.cpu_count(), help="torch intra-op threads")
    parser.add_argument("--omp-passive", action="store_true",
                        help="OMP_WAIT_POLICY=PASSIVE for torch's OpenMP pool (helps on a shared, loaded machine)")
    parser.add_argument("--no-torch", action="store_true", help="JAX only")
    parser.add_argument("--channels-last", action="store_true", help="torch activations channels-last")
    parser.add_argument("--check", action="store_true", help="only the 5-step iterate check")
    parser.add_argument("--json", help="write the rows and the environment here")
    args = parser.parse_args(argv)
    if args.omp_passive:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # read when libgomp starts, i.e. at import torch

    import torch

    torch.set_num_threads(args.threads)
    env = environment(args.threads)
    print(f"# jax {env['jax']} ({jax.devices()[0].platform}), torch {env['torch']} with {args.threads}"
          f" threads, {env['cpu_count']} cores, XLA_FLAGS={env['XLA_FLAGS']!r},"
          f" OMP_WAIT_POLICY={env['OMP_WAIT_POLICY']!r},"
          f" load average {env['loadavg_start'][0]:.1f}", flush=True)
    out: dict = {"environment": env}
    if args.check:
        chk = check_iterates()
        out["check"] = chk
        print(f"iterate check ({chk['case']}, batch {chk['batch']}, {chk['steps']} steps):"
              f" ‖x_jax − x_torch‖/‖x_jax‖ = {chk['relative_difference']:.2e}"
              f" (images moved {chk['relative_move_from_start']:.2e} from the start)", flush=True)
    else:
        cases = [c for c in args.cases.split(",") if c]
        unknown = [c for c in cases if c not in CASES]
        if unknown:
            parser.error(f"unknown case(s) {unknown}; use {', '.join(CASES)}")
        rows = []
        for name in cases:
            for batch in args.batch:
                row = bench_case(name, batch, steps=args.steps, repeats=args.repeats,
                                 with_torch=(name in TORCH_CASES and not args.no_torch),
                                 channels_last=args.channels_last)
                rows.append(row)
                print(f"  {name} B={batch}: JAX {row['jax_its']:.2f} it/s"
                      + (f", torch {row['torch_its']:.2f} it/s, ratio {row['ratio']:.2f}" if "ratio" in row else "")
                      + f" (compile {row['jax_compile_s']:.1f} s)", flush=True)
        out["rows"] = rows
        print()
        print(markdown(rows))
        print("\nit/s: image-iterations per second, best of the repeats (the JSON also has medians);"
              " JAX/torch > 1: JAX faster.")
    if args.json:
        atomic_write_bytes(args.json, json_text(out, indent=1).encode())
    return 0


if __name__ == "__main__":
    common.run_script(main, "throughput.py")
