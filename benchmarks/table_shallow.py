"""The paper's Table 1 protocol for HOG, HOGb and DSIFT (METHOD.md §4), resumable.

    python benchmarks/table_shallow.py                      # the paper's optimiser
    python benchmarks/table_shallow.py --method ijcv        # the IJCV 2016 optimiser

Default image set: scikit-image's natural colour photographs (`common.SKIMAGE_PHOTOS`),
warped to 500×375 so that every code has one length. Per picture it records the paper's
error, the IJCV error and PSNR/SSIM as JSON lines in ``--out``; a killed run started again
completes the set without repeating a picture. The summary is rebuilt from the JSON lines.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import jax

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402

from jaxinv import registry  # noqa: E402
from jaxinv.objective import IJCVObjective  # noqa: E402
from jaxinv.results import ResultsFile  # noqa: E402
from jaxinv.schedules import resolve_schedule  # noqa: E402

#: CVPR 2015 Table 1 as recalled in METHOD.md §4.4 (UNVERIFIED against the PDF): mean ± std
#: of the paper's metric in percent, 100 ImageNet validation pictures, the paper's own
#: HOG/DSIFT networks. HOGgle is not recomputed here.
PAPER_TABLE1 = {"hoggle": (66.2, 13.7), "hog": (28.1, 7.9), "hogb": (10.7, 5.2), "dsift": (10.9, 7.5)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_common_args(parser)
    parser.add_argument("--reps", default="hog,hogb,dsift")
    parser.add_argument("--schedule", help="schedule preset (default: the paper's, or ijcv)")
    parser.add_argument("--data-weight", type=float, default=100.0,
                        help="IJCV data weight C (the IJCV code uses 100 for HOG/DSIFT)")
    args = parser.parse_args(argv)
    from tqdm.auto import tqdm

    started = time.perf_counter()
    out = pathlib.Path(args.out)
    pictures = common.load_image_set(args.images, size=common.IMAGENET_SIZE, limit=args.limit)
    names = [n for n, _ in pictures]
    lines = []
    for rep_name in args.reps.split(","):
        rep = registry.get(rep_name)
        schedule = resolve_schedule(args.schedule or ("ijcv" if args.method == "ijcv" else rep.schedule))
        if args.iterations_scale != 1.0:
            schedule = schedule.shortened(args.iterations_scale)
        config = {"table": "shallow", "rep": rep_name, "method": args.method, "images": names,
                  "size": list(common.IMAGENET_SIZE), "seed": args.seed,
                  "schedule": [[s.learning_rate, s.iterations] for s in schedule.stages],
                  "source": args.images or "skimage"}
        options = {}
        if args.method == "ijcv":
            config["data_weight"] = args.data_weight
            options["objective"] = IJCVObjective(data_weight=args.data_weight)
        tag = (f"{rep_name}-{args.method}" + (f"-{args.schedule}" if args.schedule else "")
               + ("" if args.images is None else f"-{pathlib.Path(args.images).name}"))
        results = ResultsFile(out / "shallow" / f"{tag}.jsonl", config)
        bar = tqdm(total=len(pictures), initial=len(results.done()), desc=f"{rep_name} ({args.method})", unit="img")
        common.run_rep(rep, pictures, results, method=args.method, batch=args.batch,
                       key=jax.random.key(args.seed), schedule=schedule,
                       save_dir=out / "shallow" / tag, progress=bar, **options)
        bar.close()
        s = common.summarise(rep, pictures, results)
        paper = PAPER_TABLE1.get(rep_name)
        lines.append(f"| {rep_name} | {args.method}{', ' + args.schedule if args.schedule else ''} | {common.fmt(s['paper'])} | "
                     f"{'%.1f ± %.1f' % paper if paper else '–'} | {common.fmt(s['ijcv'])} | "
                     f"{common.fmt(s['psnr'], 2)} | {common.fmt(s['ssim'], 3)} | {s['n']} | {s['seconds']:.0f} |")
    table = "\n".join([
        f"Images: {', '.join(names)} ({args.images or 'scikit-image photographs'}), warped to 500×375,"
        " gray 255·g − 128.",
        "",
        "| rep | optimiser | paper metric % (mean ± std) | paper's Table 1 % | IJCV error % (± 95% CI) |"
        " PSNR dB | SSIM | n | seconds |",
        "|---|---|---|---|---|---|---|---|---|",
        *lines,
        "",
        common.environment_line(),
    ])
    print(table)
    print(f"total time {time.perf_counter() - started:.0f} s")
    (out / "shallow").mkdir(parents=True, exist_ok=True)
    from jaxinv.images import atomic_write_bytes
    suffix = f"-{args.schedule}" if args.schedule else ""
    atomic_write_bytes(out / "shallow" / f"table-{args.method}{suffix}.md", (table + "\n").encode())
    return 0


if __name__ == "__main__":
    common.run_script(main, "table_shallow")
