"""What traced objective weights cost: the core's 25-step `advance` with λ as arguments vs constants.

The core's `Objective` holds its weights as pytree leaves, so a user's jit of a `Solver` traces
them (a sweep over λ_V compiles once); the runner's chunk (`jaxinv.program.advance_chunk`,
through `jaxinv.program.split_solver`) compiles them as constants instead, because of what
this measures. It times the same `Solver.advance` (``jaxinv.core.solver(rep, "paper")``, one
problem, batch 1, XLA's CPU options of `jaxinv.program.compiler_options`) compiled both ways,
alternated, best of ``--repeats``; image-iterations per second.

    python benchmarks/traced_weights.py --reps hog,dsift,squeezenet1_1:fire9
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

import common
import jaxinv
from jaxinv.cli import ArgumentParser, positive
from jaxinv.files import atomic_write_bytes, json_text
from jaxinv.networks import init_blobs
from jaxinv.program import compiler_options

STEPS = 25


def compare(name: str, repeats: int) -> dict:
    network, _, layer = name.partition(":")  # random weights: speed does not depend on their values
    rep = common.representation(name, weights=init_blobs(network, key=0) if layer else None)
    picture = np.random.default_rng(0).uniform(0, 255, (*common.IMAGENET_SIZE, 3)).astype(np.float32)
    x = rep.preprocess(picture)
    target = rep.features(rep.params, jnp.asarray(x))
    solver = jaxinv.core.solver(rep, "paper", image_shape=x.shape)
    state = solver.init(jax.random.key(0))
    options = compiler_options("cpu")
    traced = jax.jit(lambda s, st, t: s.advance(st, t, STEPS)).lower(solver, state, target).compile(options)
    # Only the weights differ: the representation's params are an argument of both programs.
    constant = jax.jit(lambda p, st, t: solver.replace(params=p).advance(st, t, STEPS)).lower(
        solver.params, state, target).compile(options)
    runs = {"traced": lambda: traced(solver, state, target), "constant": lambda: constant(solver.params, state, target)}
    best = {k: np.inf for k in runs}
    for _ in range(repeats + 1):  # the first round warms up
        for kind, run in runs.items():
            started = time.perf_counter()
            jax.block_until_ready(run())
            best[kind] = min(best[kind], time.perf_counter() - started)
    return {"rep": name, "traced_its": STEPS / best["traced"], "constant_its": STEPS / best["constant"],
            "traced_over_constant": best["constant"] / best["traced"]}


def table(records: list[dict]) -> str:
    """The Markdown table of one or more runs' records (as their JSON files hold them), each
    rep's figures from every run side by side: run 1 / run 2 / ..."""
    def cells(rep: str, field: str, spec: str) -> str:
        return " / ".join(format(next(r[field] for r in record["rows"] if r["rep"] == rep), spec)
                          for record in records)

    runs = " / ".join(str(i + 1) for i in range(len(records)))
    lines = [f"| rep | weights as arguments, it/s (run {runs}) | weights as constants, it/s |"
             " arguments / constants |", "|---|---|---|---|"]
    for rep in dict.fromkeys(row["rep"] for record in records for row in record["rows"]):
        lines.append(f"| {rep} | {cells(rep, 'traced_its', '.1f')} | {cells(rep, 'constant_its', '.1f')}"
                     f" | {cells(rep, 'traced_over_constant', '.3f')} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", default="hog,dsift,squeezenet1_1:fire9")
    parser.add_argument("--repeats", type=positive(int, maximum=1000), default=7)
    parser.add_argument("--json", default=str(common.REPO / "benchmarks" / "results" / "traced_weights.json"))
    args = parser.parse_args(argv)
    rows = []
    for name in args.reps.split(","):
        row = compare(name, args.repeats)
        rows.append(row)
        print(f"| {name} | {row['traced_its']:.1f} | {row['constant_its']:.1f} | {row['traced_over_constant']:.3f} |",
              flush=True)
    atomic_write_bytes(args.json, json_text({"steps": STEPS, "repeats": args.repeats, "rows": rows}, indent=1).encode())
    return 0


if __name__ == "__main__":
    common.run_script(main, "traced_weights.py")
