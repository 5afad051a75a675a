"""Settings of the fast prior tried on tuning pictures, each against the paper's run.

Pictures 11 onwards of the shared 100 (file-name order; benchmarks/time_to_quality.py scores
pictures 1-10), each with the key time_to_quality.py's tuning uses. A candidate is the spectrum's
exponent d and Adam's stages, ``D:[(RATE, STEPS), ...]``; each is run from the paper's start on
the paper's objective (`jaxinv.core.priors.fast_prior`) and scored by its final error and the
evaluations it needs to reach the bar, the paper's final error on the same picture. ``--curve``
also records the paper's own error at the end of each of its stages, as a ratio to its final one.
``--exact`` follows the features' own derivative where `smooth_descent` would change it (on
hard-binned HOG; such candidates are labelled "smooth" otherwise). Results are JSON lines,
resumable.

    python benchmarks/tune_fast.py --rep hog --pictures 2 --curve \\
        --candidates "1:[(5e-5,70),(5e-6,50),(1e-6,40),(2e-7,40)]" "0.5:[(2e-5,70),(2e-6,50),(4e-7,40),(8e-8,40)]"
"""

from __future__ import annotations

import ast
import pathlib
from argparse import ArgumentTypeError

import jax
import numpy as np

import common
import time_to_quality as ttq
from jaxinv.cli import ArgumentParser, positive, seed_number
from jaxinv.core.presets import smooth_descent
from jaxinv.core.priors import fast_schedule
from jaxinv.core.schedules import Schedule, resolve_schedule
from jaxinv.results import ResultsFile

OUT = common.REPO / "benchmarks" / "results" / "time_to_quality" / "fast"


def candidate(text: str) -> tuple[float, Schedule]:
    """``D:[(RATE, STEPS), ...]`` → (d, its `Schedule`)."""
    decay, _, stages = text.partition(":")
    try:
        return float(decay), Schedule.of(ast.literal_eval(stages))
    except (ValueError, SyntaxError, TypeError) as error:
        raise ArgumentTypeError(f"{text!r}: write D:[(RATE, STEPS), ...], e.g. 1:[(5e-5,75),(5e-6,75)]") from error


def label_of(rep, decay: float, schedule: Schedule, *, exact: bool) -> str:
    """A candidate's label: its setting, and " smooth" where it follows `smooth_descent`'s derivative
    and that differs from the features' own (hard-binned HOG); a label without it is the features' own."""
    smooth = not exact and smooth_descent(rep.features) is not rep.features
    return f"{decay:g}:{[(s.learning_rate, s.iterations) for s in schedule.stages]}" + (" smooth" if smooth else "")


def tried(rep, picture, key, bar: float, decay: float, schedule: Schedule, smooth: bool) -> dict:
    """One candidate's final error over the bar and its evaluations to the bar (None: not reached)."""
    run = ttq.trace(rep, picture, "fast", (decay, schedule, smooth), key=key)
    evaluations, _ = ttq.to_quality(run, bar)
    return {"final_over_bar": float(run["errors"][-1] / bar), "evaluations": evaluations,
            "rate_scale": run["rate_scale"]}


def stage_ends(rep, run: dict) -> list[float]:
    """The paper's error at the end of each stage of its schedule, over its final error."""
    ends = np.cumsum([s.iterations for s in resolve_schedule(rep.schedule).stages])
    return [float(run["errors"][min(int(end), len(run["errors"]) - 1)] / run["errors"][-1]) for end in ends]


def table(rows: list[dict]) -> str:
    """Per representation and candidate: each tuning picture's final error over the bar and the
    evaluations to the bar; then the paper's error at its stage ends over its final one."""
    lines = ["| rep | setting (d: Adam's stages) | final error ÷ bar, per picture | evaluations to the bar |",
             "|---|---|---|---|"]
    tried_rows = [r for r in rows if "candidate" in r]
    for rep, label in dict.fromkeys((r["rep"], r["candidate"]) for r in tried_rows):
        mine = [r for r in tried_rows if r["rep"] == rep and r["candidate"] == label]
        finals = ", ".join(f"{r['final_over_bar']:.2f}" for r in mine)
        reached = ", ".join("-" if r["evaluations"] is None else str(r["evaluations"]) for r in mine)
        lines.append(f"| {rep} | {label} | {finals} | {reached} |")
    for r in (r for r in rows if "stage_ends_over_final" in r):
        ends = ", ".join(f"{v:.2f}" for v in r["stage_ends_over_final"])
        lines.append(f"| {r['rep']} | paper (its error at each stage end ÷ its final), {r['picture']} | {ends} | |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rep", default="hog", help="NETWORK:LAYER or a registry name (default hog)")
    parser.add_argument("--pictures", type=positive(int, maximum=10), default=2, help="tuning pictures (11 onwards)")
    parser.add_argument("--candidates", type=candidate, nargs="+", metavar="D:STAGES",
                        help="settings to try (default: the fast prior's own for --rep)")
    parser.add_argument("--curve", action="store_true", help="also record the paper's error at its stage ends")
    parser.add_argument("--exact", action="store_true",
                        help="follow the features' own derivative, not smooth_descent's (differs on hard-binned HOG)")
    parser.add_argument("--seed", type=seed_number, default=0)
    parser.add_argument("--out", default=str(OUT), help="results folder")
    args = parser.parse_args(argv)
    rep = common.representation(args.rep)
    candidates = args.candidates or [(1.0, fast_schedule(rep))]
    pictures = common.load_image_set(common.default_pictures(), size=None, limit=20)[10:10 + args.pictures]
    results = ResultsFile(pathlib.Path(args.out) / "tuning.jsonl", {"seed": args.seed})
    for i, (name, picture) in enumerate(pictures):
        key = jax.random.fold_in(jax.random.key(args.seed), 1000 + i)  # time_to_quality.tune's keys
        paper = ttq.trace(rep, picture, "paper", None, key=key)
        bar = float(paper["errors"][-1])
        if args.curve and f"{args.rep}|paper|{name}" not in results.done():
            results.append([{"key": f"{args.rep}|paper|{name}", "rep": args.rep, "picture": name, "bar": bar,
                             "stage_ends_over_final": stage_ends(rep, paper)}])
        for decay, schedule in candidates:
            label = label_of(rep, decay, schedule, exact=args.exact)
            if f"{args.rep}|{label}|{name}" in results.done():
                continue
            row = {"key": f"{args.rep}|{label}|{name}", "rep": args.rep, "candidate": label, "picture": name,
                   "bar": bar, **tried(rep, picture, key, bar, decay, schedule, not args.exact)}
            results.append([row])
            print(f"{args.rep} {name} {label}: {row['final_over_bar']:.3f} of the bar,"
                  f" reached at {row['evaluations']}", flush=True)
    print(table(results.rows))
    return 0


if __name__ == "__main__":
    common.run_script(main, "tune_fast.py")
