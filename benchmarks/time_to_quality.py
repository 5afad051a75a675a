"""Time to the paper's quality: gradient evaluations and seconds each optimiser needs.

``--optimisers fast`` scores the ``fast`` prior (`jaxinv.core.priors.fast_prior`: the paper's
objective and start, Adam on the spectrum of u, its own short schedule; its settings were chosen
on pictures 11-14 with benchmarks/tune_fast.py, so nothing is tuned here) and records the PSNR and SSIM of the paper's and the
fast run's final pictures against the picture the representation saw.

For each representation and each of the first ``--limit`` (10) shared ImageNet pictures in
file-name order, the paper's schedule (the authors' momentum) sets the bar: the normalised
feature error ‖Φ(x) − Φ0‖²/‖Φ0‖² it ends with. Every other optimiser runs on the same
objective, parametrisation and start, within the same number of steps, and is scored by the
gradient evaluations (for L-BFGS, each evaluation of its line search too) and the seconds it
needs to bring the error down to that bar. Settings (Adam's rate, L-BFGS's memory) are tuned
on pictures 11 to 20 only (``--tune``), never on those scored. Results are JSON lines,
resumable; the table is rebuilt from them.

    python benchmarks/time_to_quality.py --reps hog,dsift,squeezenet1_1:fire5
"""

from __future__ import annotations

import functools
import pathlib
import time
from argparse import ArgumentTypeError

import jax
import jax.numpy as jnp
import numpy as np
import optax

import common
import jaxinv
from jaxinv import scores
from jaxinv.cli import ArgumentParser, positive, seed_number
from jaxinv.core.priors import default_schedule
from jaxinv.core import staged
from jaxinv.core.schedules import Schedule
from jaxinv.files import atomic_write_bytes
from jaxinv.results import ResultsFile

#: Settings tried on the tuning pictures: Adam's first-stage rate (on u = x/σ; the later stages
#: divide it as the paper's schedule divides its rate, decade by decade) and L-BFGS's memory.
#: (An Adam that kept its rate for three quarters of the run and a tenth of it after never
#: reached the paper's HOG bar at any rate from 1e-5 to 1e-3.)
ADAM_RATES = (1e-4, 1e-3)
#: The library's retries of an overflowed run (`jaxinv.invert`'s defaults).
RETRIES, RETRY_FACTOR = 2, 0.3
LBFGS_MEMORY = (10,)


@functools.lru_cache(maxsize=None)
def optimiser(kind: str, setting: float | None, schedule: Schedule) -> optax.GradientTransformation | None:
    """None: the paper's own (the preset's momentum). One object per setting, so that a
    compiled program is reused from picture to picture."""
    if kind == "adam":
        first = schedule.stages[0].learning_rate
        return staged(optax.adam, [(setting * s.learning_rate / first, s.iterations) for s in schedule.stages])
    if kind == "lbfgs":
        return optax.lbfgs(memory_size=int(setting))  # its zoom line search sets the step
    return None


def _linesearch_steps(opt_state) -> jax.Array:
    found = [leaf.num_linesearch_steps for leaf in
             jax.tree.leaves(opt_state, is_leaf=lambda x: hasattr(x, "num_linesearch_steps"))
             if hasattr(leaf, "num_linesearch_steps")]
    return jnp.asarray(found[0] if found else 0, jnp.int32)


def _errors(solver, key, target, steps: int):
    def body(state, _):
        state, energy = solver.step(state, target)
        return state, (energy[0], _linesearch_steps(state.opt_state))

    state, (errors, searches) = jax.lax.scan(body, solver.init(key), None, length=steps)
    images, _, final = solver.evaluate(state.variables, target)
    return errors, searches, final[0], state.rejected, images[0]


_COMPILED: dict = {}


def trace(rep, picture: np.ndarray, kind: str, setting, *, key: jax.Array) -> dict:
    """Errors at every iterate and the evaluations that produced it, for one optimiser.

    The paper's and the fast prior's runs are the library's (`jaxinv.invert`): where a step
    overflows, the run is done again from the same start at ``RETRY_FACTOR`` times the rates (up
    to ``RETRIES`` times); the evaluations of the overflowed attempts count. The solver (params,
    weights) is an argument of the compiled program, so pictures of one shape share it;
    compilation is not timed."""
    spent, seconds = 0, 0.0
    for attempt in range(RETRIES + 1 if kind in ("paper", "fast") else 1):
        run = _attempt(rep, picture, kind, setting, key=key, scale=RETRY_FACTOR ** attempt)
        seconds += run["seconds"]
        run["evaluations"] = run["evaluations"] + spent
        spent = int(run["evaluations"][-1])
        if run["overflowed"] is False:
            break
    run["seconds"], run["rate_scale"] = seconds, RETRY_FACTOR ** attempt
    if not np.isfinite(run["errors"][-1]):  # the library falls back to the start
        run["errors"][-1] = run["errors"][0]
    return run


def _attempt(rep, picture: np.ndarray, kind: str, setting, *, key: jax.Array, scale: float) -> dict:
    x0 = np.asarray(rep.preprocess(picture), np.float32)
    target = rep.features(rep.params, jnp.asarray(x0))
    prior = "fast" if kind == "fast" else "paper"
    own, options = default_schedule(prior, rep), {}
    if prior == "fast" and setting is not None:  # (decay, Schedule, smooth): a candidate of tune_fast.py
        options["decay"], own, options["smooth"] = setting
    schedule = own.scaled(scale) if scale != 1 else own
    solver = jaxinv.core.solver(rep, prior, image_shape=x0.shape, schedule=schedule, **options)
    steps = schedule.total // 2 if kind == "lbfgs" else schedule.total  # ≥ 2 evaluations a step
    custom = optimiser(kind, setting, schedule)
    if custom is not None:
        solver = solver.replace(optimizer=custom)
    cache_key = (rep.name, kind, setting, x0.shape, scale)
    if cache_key not in _COMPILED:
        _COMPILED[cache_key] = jax.jit(_errors, static_argnums=3).lower(solver, key, target, steps).compile()
    started = time.perf_counter()
    errors, searches, final, rejected, image = jax.block_until_ready(_COMPILED[cache_key](solver, key, target))
    seconds = time.perf_counter() - started
    errors = np.append(np.asarray(errors, np.float64), float(final))
    overflowed = bool(int(rejected) > 0 or not np.isfinite(errors).all())
    errors = np.where(np.isfinite(errors), errors, np.inf)  # an overflow never counts as reached
    evaluations = np.concatenate([[0], np.cumsum(1 + np.asarray(searches, np.int64))])
    return {"errors": errors, "evaluations": evaluations, "seconds": seconds, "overflowed": overflowed,
            "picture": np.clip(rep.deprocess(np.asarray(image)), 0, 255),
            "seen": np.clip(rep.deprocess(x0), 0, 255)}


def to_quality(run: dict, bar: float) -> tuple[int | None, float | None]:
    """Evaluations and seconds (pro rata of the run's) to the first iterate at or below ``bar``."""
    reached = np.flatnonzero(run["errors"] <= bar * (1 + 1e-6))
    if reached.size == 0:
        return None, None
    evaluations = int(run["evaluations"][reached[0]])
    return evaluations, run["seconds"] * evaluations / max(int(run["evaluations"][-1]), 1)


#: The optimisers scored against the paper's run, and the settings each is tuned over.
GRIDS = {"adam": ADAM_RATES, "lbfgs": LBFGS_MEMORY}
#: Every optimiser the script scores: the tuned ones and the fast prior (tuned once, in the library).
KINDS = (*GRIDS, "fast")
#: What each optimiser's setting is, for the table.
SETTING_NAMES = {"adam": "Adam rate", "lbfgs": "L-BFGS memory"}
#: What each optimiser is called in the tables.
KIND_NAMES = {"adam": "Adam", "lbfgs": "L-BFGS", "fast": "fast"}


def tune(rep, pictures, key, kinds: tuple[str, ...]) -> dict[str, float]:
    """The setting of each of ``kinds`` with the fewest mean evaluations to quality on ``pictures``."""
    if not kinds:
        return {}
    keys = [jax.random.fold_in(key, 1000 + i) for i in range(len(pictures))]
    bars = [trace(rep, picture, "paper", None, key=k)["errors"][-1] for (_, picture), k in zip(pictures, keys)]
    chosen = {}
    for kind in kinds:
        grid = GRIDS[kind]
        scores = {}
        for setting in grid:
            costs = []
            for (_, picture), k, bar in zip(pictures, keys, bars):
                run = trace(rep, picture, kind, setting, key=k)
                evaluations, _ = to_quality(run, bar)
                costs.append(evaluations if evaluations is not None else 2 * run["evaluations"][-1])
            scores[setting] = float(np.mean(costs))
        chosen[kind] = min(scores, key=scores.get)
        print(f"  tuned {kind}: {chosen[kind]:g} (mean evaluations {scores})", flush=True)
    return chosen


def score(rep_name: str, scored, tuning, results: ResultsFile, key, kinds: tuple[str, ...]) -> None:
    rep = common.representation(rep_name)
    todo = [(i, n, p) for i, (n, p) in enumerate(scored) if f"{rep_name}|{n}" not in results.done()]
    if not todo:
        return
    settings = {**tune(rep, tuning, key, tuple(k for k in kinds if k in GRIDS)), "fast": None}
    for i, name, picture in todo:
        k = jax.random.fold_in(key, i)
        paper = trace(rep, picture, "paper", None, key=k)
        bar = float(paper["errors"][-1])
        row = {"key": f"{rep_name}|{name}", "rep": rep_name, "picture": name, "bar": bar,
               "paper_evaluations": int(paper["evaluations"][-1]), "paper_seconds": paper["seconds"],
               "paper_rate_scale": paper["rate_scale"], **_looks("paper", paper)}
        for kind in kinds:
            run = trace(rep, picture, kind, settings[kind], key=k)
            evaluations, seconds = to_quality(run, bar)
            row.update({f"{kind}_setting": settings[kind], f"{kind}_evaluations": evaluations,
                        f"{kind}_seconds": seconds, f"{kind}_final": _finite(run["errors"][-1])})
            if kind == "fast":
                row.update({"fast_rate_scale": run["rate_scale"], "fast_total": int(run["evaluations"][-1]),
                            **_looks("fast", run)})
        results.append([row])
        found = ", ".join(f"{kind} {row[f'{kind}_evaluations']}" for kind in kinds)
        print(f"{rep_name} {name}: bar {bar:.4f}; {found} of {row['paper_evaluations']} evaluations", flush=True)


def _looks(kind: str, run: dict) -> dict:
    """PSNR and SSIM of a run's final picture against the picture the representation saw."""
    return {f"{kind}_psnr": scores.psnr(run["picture"], run["seen"]),
            f"{kind}_ssim": scores.ssim(run["picture"], run["seen"])}


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def table(rows: list[dict]) -> str:
    """Each optimiser run beside the paper's: evaluations to the bar, median over the pictures that
    reach it (how many), the median over all pictures of its evaluations ÷ the paper's (inf where
    the bar is not reached), and its mean seconds to the bar."""
    rows = [r for r in rows if "paper_evaluations" in r]
    kinds = [k for k in KINDS if any(f"{k}_final" in r for r in rows)]
    lines = ["| rep | n | paper: evaluations, s | " + " | ".join(
        f"{KIND_NAMES[k]}: evaluations to the bar (reached), ÷ paper's, s" for k in kinds) + " | settings (tuned on 11-20) |",
        "|---|---|---|" + "---|" * len(kinds) + "---|"]
    for rep in dict.fromkeys(r["rep"] for r in rows):
        mine = [r for r in rows if r["rep"] == rep]
        cells = [f"median {np.median([r['paper_evaluations'] for r in mine]):.0f},"
                 f" {np.mean([r['paper_seconds'] for r in mine]):.1f}"]
        settings = []
        for kind in kinds:
            if f"{kind}_final" not in mine[0]:
                cells.append("not run")
                continue
            if kind in SETTING_NAMES:
                settings.append(f"{SETTING_NAMES[kind]} {mine[0][f'{kind}_setting']:g}")
            cells.append(_reached(mine, kind))
        lines.append(f"| {rep} | {len(mine)} | {' | '.join(cells)} | {', '.join(settings) or '-'} |")
    return "\n".join(lines) + "\n"


def _reached(rows: list[dict], kind: str) -> str:
    got = [r for r in rows if r[f"{kind}_evaluations"] is not None]
    if not got:
        return f"not reached (0/{len(rows)})"
    return (f"median {np.median([r[f'{kind}_evaluations'] for r in got]):.0f} ({len(got)}/{len(rows)}),"
            f" {_share(rows, kind):.2f}, {np.mean([r[f'{kind}_seconds'] for r in got]):.1f}")


def _share(rows: list[dict], kind: str) -> float:
    """The median over ``rows`` of ``kind``'s evaluations to the bar ÷ the paper's (inf: not reached)."""
    return float(np.median([r[f"{kind}_evaluations"] / r["paper_evaluations"]
                            if r[f"{kind}_evaluations"] is not None else np.inf for r in rows]))


def fast_table(rows: list[dict]) -> str:
    """The fast prior beside the paper's run of the same picture and key (its bar)."""
    lines = ["| rep | n | paper: evaluations, s | fast: evaluations to the bar (reached) | fast ÷ paper evaluations |"
             " fast: final error ÷ bar, s | PSNR paper [min, max] / fast | SSIM paper [min, max] / fast |",
             "|---|---|---|---|---|---|---|---|"]
    rows = [r for r in rows if "fast_final" in r]
    for rep in dict.fromkeys(r["rep"] for r in rows):
        mine = [r for r in rows if r["rep"] == rep]
        got = [r for r in mine if r["fast_evaluations"] is not None]
        reached = f"median {np.median([r['fast_evaluations'] for r in got]):.0f} ({len(got)}/{len(mine)})" \
            if got else f"not reached (0/{len(mine)})"
        final = f"{np.median([r['fast_final'] / r['bar'] for r in mine]):.2f}, {np.mean([r['fast_seconds'] or 0 for r in got]):.1f}" \
            if got else f"{np.median([r['fast_final'] / r['bar'] for r in mine]):.2f}, -"
        looks = [_spread(mine, measure) for measure in ("psnr", "ssim")]
        lines.append(f"| {rep} | {len(mine)} | median {np.median([r['paper_evaluations'] for r in mine]):.0f},"
                     f" {np.mean([r['paper_seconds'] for r in mine]):.1f} | {reached} | {_share(mine, 'fast'):.2f} |"
                     f" {final} | {looks[0]} | {looks[1]} |")
    return "\n".join(lines) + "\n"


def _spread(rows: list[dict], measure: str) -> str:
    """The paper's final pictures' median [min, max] and the fast ones' median (how many in that
    range, above it and below it)."""
    paper = np.array([r[f"paper_{measure}"] for r in rows], float)
    fast = np.array([r[f"fast_{measure}"] for r in rows], float)
    above, below = int(np.sum(fast > paper.max())), int(np.sum(fast < paper.min()))
    return (f"{np.median(paper):.3g} [{paper.min():.3g}, {paper.max():.3g}] / {np.median(fast):.3g}"
            f" ({len(rows) - above - below} in, {above} above, {below} below)")


def optimisers(text: str) -> tuple[str, ...]:
    kinds = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    unknown = [k for k in kinds if k not in KINDS]
    if not kinds or unknown:
        raise ArgumentTypeError(f"{text!r}: use one or more of {', '.join(KINDS)}, comma-separated")
    return kinds


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", default="hog,dsift,squeezenet1_1:fire5,squeezenet1_1:fire9,googlenet:inception_4a")
    parser.add_argument("--pictures", help="folder of pictures (default: the shared ImageNet 100)")
    parser.add_argument("--limit", type=positive(int, maximum=100), default=10, help="pictures scored (the first N)")
    parser.add_argument("--tune", type=positive(int, maximum=10), default=10,
                        help="tuning pictures (N of pictures 11-20)")
    parser.add_argument("--seed", type=seed_number, default=0)
    parser.add_argument("--optimisers", type=optimisers, default=tuple(GRIDS),
                        help=f"optimisers scored against the paper's, comma-separated: {', '.join(KINDS)}"
                             f" (default {','.join(GRIDS)})")
    parser.add_argument("--out", help="results folder (default benchmarks/results/time_to_quality)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    folder = args.pictures or common.default_pictures()
    pictures = common.load_image_set(folder, size=None, limit=20)
    scored, tuning = pictures[:args.limit], pictures[10:10 + args.tune]
    out = pathlib.Path(args.out) if args.out else common.REPO / "benchmarks" / "results" / "time_to_quality"
    config = {"limit": args.limit, "tune": args.tune, "seed": args.seed, "adam_rates": list(ADAM_RATES),
              "lbfgs_memory": list(LBFGS_MEMORY), "pictures": pathlib.Path(folder).name}
    results = ResultsFile(out / "time_to_quality.jsonl", config)
    key = jax.random.key(args.seed)
    for rep_name in args.reps.split(","):
        score(rep_name, scored, tuning, results, key, args.optimisers)
    shown = table(results.rows)
    if "fast" in args.optimisers:
        shown += "\n" + fast_table(results.rows)
    atomic_write_bytes(out / "table.md", shown.encode())
    print(shown)
    return 0


if __name__ == "__main__":
    common.run_script(main, "time_to_quality.py")
