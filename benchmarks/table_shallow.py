"""The paper's Table 1 protocol for HOG, HOGb and DSIFT (METHOD.md §4), resumable.

    python benchmarks/table_shallow.py                      # the paper's optimiser
    python benchmarks/table_shallow.py --schedule shallow_long
    python benchmarks/table_shallow.py --method ijcv        # the IJCV 2016 optimiser
    python benchmarks/table_shallow.py --pictures skimage   # the quick set: 5 photographs

Default picture set: the 100 shared ImageNet pictures (``--pictures``, ``$JAXINV_IMAGENET100``),
each at its own size, as the paper's protocol (255·gray − 128, no resize): the small ones stay
small, the gray one is read as gray. The codes then differ in length and the set normaliser
zero-pads them, as the authors' script does. scikit-image's photographs are warped to 500×375.
Per picture it records the squared code error, the IJCV error and PSNR/SSIM as JSON lines;
a killed run started again completes the set without repeating a picture. The table, rebuilt
from the JSON lines, prints the paper's printed metric (norms) and the script's (squares); its
rows go to ``table-*.md`` and, as numbers, to ``table-*.json`` beside it (`table_lines` makes
the table again from that JSON alone: the results pages do).
"""

from __future__ import annotations

import argparse
import math
import pathlib
import time

import jax

import common
from jaxinv import registry
from jaxinv.cli import ArgumentParser, number
from jaxinv.core.priors import default_schedule
from jaxinv.files import undefined_as_null, write_json
from jaxinv.images import atomic_write_bytes
from jaxinv.results import ResultsFile

#: CVPR 2015 Table 1 as recalled in METHOD.md §4.4 (UNVERIFIED against the PDF): mean ± std
#: of the paper's metric in percent, 100 ImageNet validation pictures, the paper's own
#: HOG/DSIFT networks. HOGgle is not recomputed here.
PAPER_TABLE1 = {"hoggle": (66.2, 13.7), "hog": (28.1, 7.9), "hogb": (10.7, 5.2), "dsift": (10.9, 7.5)}


def within(measured, paper: tuple[float, float] | None) -> str:
    """Whether the measured mean lies within one of the paper's standard deviations of its mean
    (a dash where either is missing: no paper figure, or a mean undefined on one picture)."""
    if paper is None or measured is None or measured[0] is None or not math.isfinite(measured[0]):
        return "–"
    return "yes" if abs(measured[0] - paper[0]) <= paper[1] else "no"


#: The table's header and separator (the rows are `table_row`'s).
HEADER = ("| rep | optimiser | printed metric % | paper's Table 1 % | within 1 std of the paper |"
          " script's metric % (squares) | IJCV error % (± 95% CI) | PSNR dB | SSIM | n | seconds |",
          "|---|---|---|---|---|---|---|---|---|---|---|")


def table_row(s: dict) -> str:
    """One representation's summary (a row of the table's JSON) as a row of the table."""
    paper = PAPER_TABLE1.get(s["rep"])
    return (f"| {s['rep']} | {s['optimiser']} | {common.fmt(s['printed'])} | {'%.1f ± %.1f' % paper if paper else '–'} | "
            f"{within(s['printed'], paper)} | {common.fmt(s['script'])} | {common.fmt(s['ijcv'])} | "
            f"{common.fmt(s['psnr'], 2)} | {common.fmt(s['ssim'], 3)} | {s['n']} | {s['seconds']:.0f} |")


def table_lines(rows: list[dict]) -> list[str]:
    """The Markdown table of the summaries ``rows`` (the JSON's, or a run's): header, then a row each."""
    return [*HEADER, *map(table_row, rows)]


def run_one(args: argparse.Namespace, rep_name: str, pictures, *, out: pathlib.Path, size, source: str) -> dict | None:
    """Invert the pictures not yet done with one representation; its summary, a row of the table
    (None if none is done)."""
    from tqdm.auto import tqdm

    rep = registry.get(rep_name)
    schedule = default_schedule(args.method, rep, given=args.schedule)
    schedule = schedule.shortened(args.iterations_scale)
    config = {"table": "shallow", "rep": rep_name, "method": args.method, "images": [n for n, _ in pictures],
              "size": "own" if size is None else list(size), "seed": args.seed,
              "schedule": [[s.learning_rate, s.iterations] for s in schedule.stages], "source": source}
    options = {}
    if args.method == "ijcv":
        config["data_weight"] = args.data_weight
        options["data_weight"] = args.data_weight
    tag = f"{rep_name}-{args.method}" + (f"-{args.schedule}" if args.schedule else "")
    path = out / "shallow" / f"{tag}.jsonl"
    if args.table_only and not path.exists():
        return None
    results = ResultsFile(path, config, read_only=args.table_only)  # a table may be built while a run appends
    if not args.table_only:
        bar = tqdm(total=len(pictures), initial=len(results.done()), desc=f"{rep_name} ({args.method})", unit="img")
        common.run_rep(rep, pictures, results, prior=args.method, batch=args.batch,
                       key=jax.random.key(args.seed), schedule=schedule,
                       save_dir=out / "shallow" / tag, save_first=args.save_pictures, progress=bar, **options)
        bar.close()
    if not results.rows:  # --table-only before the first result
        return None
    optimiser = f"{args.method}{', ' + args.schedule if args.schedule else ''} ({schedule.total} it)"
    return {"rep": rep_name, "optimiser": optimiser, **common.summarise(rep, pictures, results)}


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    common.add_common_args(parser)
    parser.add_argument("--reps", default="hog,hogb,dsift")
    parser.add_argument("--schedule", help="schedule preset (default: the paper's, or ijcv)")
    parser.add_argument("--data-weight", type=number(float, above=0), default=100.0,
                        help="IJCV data weight C (the IJCV code uses 100 for HOG/DSIFT)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = common.results_root(args)
    folder = common.picture_folder(args)
    size = common.IMAGENET_SIZE if folder is None else None  # a folder's pictures keep their size
    pictures = common.load_image_set(folder, size=size, limit=args.limit)
    names = [n for n, _ in pictures]
    source = common.SKIMAGE if folder is None else pathlib.Path(folder).resolve().name
    rows = [row for rep_name in args.reps.split(",")
            if (row := run_one(args, rep_name, pictures, out=out, size=size, source=source)) is not None]
    described = (f"{len(names)} pictures of {folder}, each at its own size" if folder is not None
                 else f"{', '.join(names)} (scikit-image photographs), warped to 500×375")
    table = "\n".join([
        f"Pictures: {described}; gray 255·g − 128. Printed metric: ‖Φ(x*) − Φ0‖ / mean_ij ‖Φ0_i − Φ0_j‖;"
        " script's: both squared (docs/METRICS.md). Mean ± std over the pictures, percent.",
        "",
        *table_lines(rows),
        "",
        common.environment_line(),
    ])
    print(table)
    print(f"total time {time.perf_counter() - started:.0f} s")
    (out / "shallow").mkdir(parents=True, exist_ok=True)
    stem = f"table-{args.method}" + (f"-{args.schedule}" if args.schedule else "")
    atomic_write_bytes(out / "shallow" / f"{stem}.md", (table + "\n").encode())
    # The same rows as numbers: the results pages (scripts/results_pages.py) build the table from
    # them, since the set normaliser needs every picture's code; undefined metrics are null, never NaN.
    write_json(out / "shallow" / f"{stem}.json", {"pictures": described, "rows": undefined_as_null(rows)})
    return 0


if __name__ == "__main__":
    common.run_script(main, "table_shallow")
