"""What traced objective weights cost: the core's 25-step `advance` with λ as arguments vs constants.

The core's `Objective` holds its weights as pytree leaves, so a user's jit of a `Solver` traces
them (a sweep over λ_V compiles once); the runner's chunk (`jaxinv.optimize.run_chunk`)
compiles them as constants instead, because of what this measures. It times the same
`Solver.advance` (the paper's preset, one problem, batch 1, XLA's CPU options of
`jaxinv.optimize`) compiled both ways, alternated, best of ``--repeats``; image-iterations
per second.

    python benchmarks/traced_weights.py --reps hog,dsift,squeezenet1_1:fire9
"""

from __future__ import annotations

import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import common  # noqa: E402

from jaxinv import optimize  # noqa: E402
from jaxinv.cli import ArgumentParser, positive  # noqa: E402
from jaxinv.files import atomic_write_bytes, json_text  # noqa: E402
from jaxinv.inversion import make_objective  # noqa: E402
from jaxinv.networks import init_blobs  # noqa: E402
from jaxinv.schedules import resolve_schedule  # noqa: E402

STEPS = 25


def compare(name: str, repeats: int) -> dict:
    network, _, layer = name.partition(":")  # random weights: speed does not depend on their values
    rep = common.representation(name, weights=init_blobs(network, key=0) if layer else None)
    picture = np.random.default_rng(0).uniform(0, 255, (*common.IMAGENET_SIZE, 3)).astype(np.float32)
    x = rep.preprocess(picture)
    target = rep.features(rep.params, jnp.asarray(x))
    problem = optimize.Problem(rep.features, make_objective(rep), resolve_schedule(rep.schedule), x.shape)
    solver = problem.solver(rep.params)
    state = solver.init(jax.random.key(0))
    options = optimize.compiler_options("cpu")
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
