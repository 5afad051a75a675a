"""Tune the lucid and maco priors' views and rates on tuning pictures (51 on), never the scored ones.

Each setting (a prior, its options and its schedule) inverts SqueezeNet's ``--layer`` code of
``--count`` pictures from picture 51 of the shared ImageNet-100 set in file-name order (the
comparison, benchmarks/priors.py, scores pictures 1–10); rows record the normalised feature
error ‖Φ(x) − Φ0‖²/‖Φ0‖² at the start and the end, per picture, and the seconds. JSON lines,
resumable (one row per setting). Every setting runs through `jaxinv.invert_batch` with
``prior=NAME`` and the prior's own options (`jaxinv.core.prior_options`):

    nice -n 10 python benchmarks/tune_priors.py --count 2 --shorten 0.5
"""

from __future__ import annotations

import time

import jax
import numpy as np

import common
import judges
import jaxinv
from jaxinv.cli import ArgumentParser, positive
from jaxinv.core.schedules import Schedule, Stage
from jaxinv.results import ResultsFile

#: The first tuning picture (1-based, file-name order).
FIRST = 51

VIEWS_OFF = dict(pad=0, scale=0.0, degrees=0.0)
FULL_VIEWS = dict(pad=8, scale=0.05, degrees=5.0)
HALF_VIEWS = dict(pad=4, scale=0.02, degrees=2.0)
SMALL_VIEWS = dict(pad=2, scale=0.01, degrees=1.0)


def three_stages(rate: float, views_last: bool = False) -> Schedule:
    """rate with views for 200, rate then rate/10 for 100 each with views only if ``views_last``."""
    return Schedule((Stage(rate, 200, jitter=True), Stage(rate, 100, jitter=views_last),
                     Stage(rate * 0.1, 100, jitter=views_last)))


SETTINGS = {
    "lucid-full-views-on": ("lucid", FULL_VIEWS, three_stages(0.05, views_last=True)),
    "lucid-full-views": ("lucid", FULL_VIEWS, three_stages(0.05)),
    "lucid-half-views": ("lucid", HALF_VIEWS, three_stages(0.05)),
    "lucid-no-views": ("lucid", VIEWS_OFF, three_stages(0.05)),
    "lucid-half-views-0.1": ("lucid", HALF_VIEWS, three_stages(0.1)),
    "lucid-no-views-0.02": ("lucid", VIEWS_OFF, three_stages(0.02)),
    "lucid-half-views-0.02": ("lucid", HALF_VIEWS, three_stages(0.02)),
    "lucid-small-views-0.02": ("lucid", SMALL_VIEWS, three_stages(0.02)),
    "lucid-small-views-0.01": ("lucid", SMALL_VIEWS, three_stages(0.01)),
    "lucid-small-views-0.005": ("lucid", SMALL_VIEWS, three_stages(0.005)),
    "lucid-half-views-0.01": ("lucid", HALF_VIEWS, three_stages(0.01)),
    "maco-0.05": ("maco", {}, Schedule((Stage(0.05, 200), Stage(0.005, 100)))),
    "maco-0.1": ("maco", {}, Schedule((Stage(0.1, 200), Stage(0.01, 100)))),
    "maco-0.2": ("maco", {}, Schedule((Stage(0.2, 200), Stage(0.02, 100)))),
}


def start_errors(rep, prior: str, options: dict, pictures, key) -> list[float]:
    """The error at the start (a 1-step run at a negligible rate), per picture."""
    start = jaxinv.invert_batch(rep, pictures, prior=prior, key=key, schedule=[(1e-12, 1)], **options)
    return [float(e) for e in start.errors[:, 0]]


def main(argv=None) -> None:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", default="fire5")
    parser.add_argument("--count", type=positive(int, maximum=50), default=2)
    parser.add_argument("--shorten", type=positive(float, maximum=1.0), default=0.5,
                        help="scale every stage's iterations (CPU budget)")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated names")
    parser.add_argument("--out", default=str(common.REPO / "benchmarks/results/priors/tuning.jsonl"))
    args = parser.parse_args(argv)
    names = args.settings.split(",")
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        parser.error(f"unknown settings {', '.join(unknown)}; use {', '.join(SETTINGS)}")
    rep = jaxinv.cnn("squeezenet1_1", layer=args.layer, weights=judges.weight_file("squeezenet1_1"))
    pictures = common.load_image_set(common.default_pictures(), size=None, limit=FIRST - 1 + args.count)[FIRST - 1:]
    config = {"layer": args.layer, "count": args.count, "shorten": args.shorten, "first": FIRST}
    results = ResultsFile(args.out, config)
    key = jax.random.key(0)
    for name in names:
        if name in results.done():
            continue
        prior, options, schedule = SETTINGS[name]
        schedule = schedule.shortened(args.shorten)
        started = time.perf_counter()
        result = jaxinv.invert_batch(rep, [p for _, p in pictures], prior=prior, key=key, schedule=schedule,
                                     **options)
        seconds = time.perf_counter() - started
        before = start_errors(rep, prior, options, [p for _, p in pictures], key)
        after = [float(e) for e in result.errors[:, 0]]
        row = {"key": name, "prior": prior, "options": options, "iterations": schedule.total,
               "pictures": [n for n, _ in pictures], "start": before, "end": after,
               "ratio": float(np.mean(np.asarray(after) / np.asarray(before))), "seconds": seconds}
        results.append([row])
        print(f"{name:24s} start {np.mean(before):.3f} end {np.mean(after):.4f} ratio {row['ratio']:.3f}"
              f" ({seconds:.0f} s)", flush=True)


if __name__ == "__main__":
    common.run_script(main, "tune_priors")
