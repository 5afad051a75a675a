"""Deep Image Prior energy curves: how many Adam steps a DIP inversion needs, and at which rate.

For each generator width and Adam rate, one DIP inversion (`jaxinv.core.DeepImagePrior`, data
term only, as the authors' feature-inversion notebook) of a layer on tuning pictures (51 on, in
file-name order: never those the comparison scores) records the normalised feature error
‖Φ(x) − Φ0‖²/‖Φ0‖² every ``--chunk`` steps, and the seconds. Results are JSON lines, one per
run, resumable (`jaxinv.results.ResultsFile`); the summary gives each run's error at a few
step counts and the first step at which it is 10× and 30× below its start.

    python benchmarks/dip_energy.py --rep squeezenet1_1:fire5 --widths 0.5 --rates 1e-3,1e-2 --steps 1000
"""

from __future__ import annotations

import pathlib
import time

import jax
import jax.numpy as jnp
import optax

import common
from jaxinv.cli import ArgumentParser, positive
from jaxinv.core import NormalisedData, Schedule, Solver, input_map
from jaxinv.core.generator import DeepImagePrior
from jaxinv.files import atomic_write_bytes
from jaxinv.program import compiler_options
from jaxinv.results import ResultsFile


def dip_solver(rep, prior: DeepImagePrior, rate: float, steps: int) -> Solver:
    """A DIP inversion of ``rep``: the data term only, Adam at ``rate`` on the generator's weights."""
    return Solver(rep.features, rep.params, NormalisedData().as_objective(), prior, optax.adam(rate),
                  schedule=Schedule.of([(1.0, steps)]), image_shape=rep.input_shape, stepwise=True)


def curve(rep, target, prior: DeepImagePrior, rate: float, steps: int, chunk: int, key) -> dict:
    """[(step, error)] every ``chunk`` steps from the start, and the seconds spent stepping.

    The steps are taken one compiled step at a time from the host (`Solver.stepwise`: the
    generator's steps are ~4× slower inside a loop on XLA:CPU).
    """
    solver = dip_solver(rep, prior, rate, steps)
    options = compiler_options(jax.default_backend()) or None
    step = jax.jit(lambda s, t: solver.advance(s, t, solver.chunk), compiler_options=options)
    error = jax.jit(lambda s, t: solver.evaluate(s.variables, t)[2][0], compiler_options=options)
    state = solver.init(key)
    points = [(0, float(error(state, target)))]
    step = step.lower(state, target).compile()  # compile outside the clock
    seconds = 0.0
    for done in range(chunk, steps + 1, chunk):
        start = time.perf_counter()
        for _ in range(chunk):
            state, _ = step(state, target)
        jax.block_until_ready(state.variables)
        seconds += time.perf_counter() - start
        points.append((done, float(error(state, target))))
        print(f"  step {done}: error {points[-1][1]:.4g} ({seconds:.0f} s)", flush=True)
    return {"curve": points, "seconds": seconds, "rejected": int(state.rejected)}


def first_below(points, fraction: float) -> int | None:
    start = points[0][1]
    return next((s for s, e in points if e <= fraction * start), None)


def table(rows) -> str:
    marks = (100, 200, 500, 1000, 2000, 3100)
    head = ("| picture | width | levels | Adam rate | " + " | ".join(f"E@{m}" for m in marks)
            + " | 10× below at | 30× below at | s/step |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        at = dict((int(s), e) for s, e in r["curve"])
        cells = [f"{at[m]:.3g}" if m in at else "–" for m in marks]
        steps = r["curve"][-1][0]
        lines.append(f"| {r['picture']} | {r['width']} | {r['levels']} | {r['rate']:g} | " + " | ".join(cells)
                     + f" | {first_below(r['curve'], 0.1) or '–'} | {first_below(r['curve'], 1 / 30) or '–'}"
                     + f" | {r['seconds'] / max(steps, 1):.3f} |")
    return "\n".join(lines) + "\n"


def readings_table(rows) -> str:
    """Markdown: every reading of the runs side by side, one line per step (a dash where a run has
    none), so that the curves can be compared step by step and not only at `table`'s marks."""
    curves = [dict((int(s), e) for s, e in r["curve"]) for r in rows]
    head = "| step | " + " | ".join(f"{r['picture']}, width {r['width']}, Adam {r['rate']:g}" for r in rows) + " |"
    lines = [head, "|" + "---|" * (len(rows) + 1)]
    for step in sorted({s for curve in curves for s in curve}):
        lines.append(f"| {step} | " + " | ".join(f"{c[step]:.3g}" if step in c else "–" for c in curves) + " |")
    return "\n".join(lines) + "\n"


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="dip_energy.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rep", default="squeezenet1_1:fire5", help="representation (network:layer)")
    parser.add_argument("--widths", default="0.5", help="generator widths × the notebook's, comma-separated")
    parser.add_argument("--levels", type=positive(int), default=6, help="generator levels (6: the notebook's)")
    parser.add_argument("--rates", default="1e-3,1e-2", help="Adam rates, comma-separated")
    parser.add_argument("--steps", type=positive(int), default=1000)
    parser.add_argument("--chunk", type=positive(int), default=50, help="steps between two error readings")
    parser.add_argument("--first", type=positive(int), default=51, help="first picture (1-based, file-name order)")
    parser.add_argument("--count", type=positive(int), default=1, help="pictures from --first on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pictures", default=None, help="folder of pictures (default: the shared ImageNet 100)")
    parser.add_argument("--out", default=None, help="results folder (default benchmarks/results/priors)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    folder = args.pictures or common.default_pictures()
    pictures = common.load_image_set(folder, size=None, limit=args.first - 1 + args.count)[args.first - 1:]
    out = pathlib.Path(args.out) if args.out else common.REPO / "benchmarks" / "results" / "priors"
    config = {"rep": args.rep, "steps": args.steps, "chunk": args.chunk, "seed": args.seed,
              "pictures": pathlib.Path(folder).name}
    results = ResultsFile(out / "dip_energy.jsonl", config)
    rep = common.representation(args.rep)
    for name, picture in pictures:
        target = jnp.asarray(rep.features(rep.params, jnp.asarray(rep.preprocess(picture))))
        for width in (float(w) for w in args.widths.split(",")):
            prior = DeepImagePrior.reduced(levels=args.levels, width=width, input_map=input_map(rep))
            for rate in (float(r) for r in args.rates.split(",")):
                key = f"{name}|{width:g}|{args.levels}|{rate:g}"
                if key in results.done():
                    continue
                print(f"{args.rep} {key}", flush=True)
                row = curve(rep, target, prior, rate, args.steps, args.chunk, jax.random.key(args.seed))
                results.append([{"key": key, "picture": name, "width": width, "levels": args.levels,
                                 "rate": rate, **row}])
    text = table(results.rows)
    atomic_write_bytes(out / "dip_energy.md", text.encode())
    print(text)
    return 0


if __name__ == "__main__":
    common.run_script(main, "dip_energy.py")
