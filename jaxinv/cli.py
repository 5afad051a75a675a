"""The command line: ``jaxinv invert | reps | weights``.

With no arguments, ``jaxinv`` inverts the HOG of scikit-image's astronaut (the paper's
shallow schedule) and writes PNGs. Bad input prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

__all__ = ["main", "positive"]

DEFAULT_PICTURE = "astronaut"


def positive(kind: type = int):
    """An argparse type: a number of ``kind`` above 0; argparse prints its error in one line.

    The benchmark and example scripts share it for their counts and scales.
    """
    noun = "whole number" if kind is int else "number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {noun}; use one above 0") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text} is not above 0; use a {noun} above 0")
        return value

    return parse


def _schedule_arg(text: str):
    from jaxinv.errors import JaxinvError
    from jaxinv.schedules import PRESETS, Schedule

    if text in PRESETS:
        return text
    try:
        stages = [tuple(part.split("x")) for part in text.split(",")]
        return Schedule.of([(float(lr), int(n)) for lr, n in stages])
    except JaxinvError:
        raise
    except (ValueError, TypeError):
        raise JaxinvError(
            f"cannot read schedule {text!r}; use a preset ({', '.join(PRESETS)}) or stages as LRxITERS,..."
            " e.g. 0.004x100,0.0004x200"
        ) from None


def _add_invert(sub) -> None:
    p = sub.add_parser("invert", help="invert the code of a picture and write PNGs")
    p.add_argument("image", nargs="?", help=f"picture file (default: scikit-image's {DEFAULT_PICTURE})")
    p.add_argument("--rep", default="hog", help="representation NAME[:LAYER] (default hog; see `jaxinv reps`)")
    p.add_argument("--weights", help="weight file for a network (.caffemodel, .mat, .pth, .safetensors)")
    p.add_argument("--seeds", type=int, default=1, help="reconstructions from independent random starts")
    p.add_argument("--coupled", action="store_true", help="optimise the seeds jointly (the paper's numRepeats)")
    p.add_argument("--schedule", help="preset name or LRxITERS,... (default: the representation's, or ijcv);"
                                      " with --method ijcv the rates multiply the IJCV base rate")
    p.add_argument("--method", default="paper", choices=["paper", "ijcv"], help="CVPR 2015 or IJCV 2016 objective")
    p.add_argument("--data-weight", type=float,
                   help="IJCV data weight C (with --method ijcv; default 1, the IJCV HOG/DSIFT code used 100)")
    p.add_argument("--lambda-tv", type=float, help="λ_V in paper units (default: the representation's)")
    p.add_argument("--lambda-alpha", type=float, help="λ_α in paper units (default 2.157e8)")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed of jax.random.key")
    p.add_argument("--chunk", type=int, default=25, help="steps per compiled chunk (and snapshot period)")
    p.add_argument("--out", default="jaxinv-out", help="output folder (default ./jaxinv-out)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run_invert(args) -> int:
    import jax
    import numpy as np

    from jaxinv import images, metrics, registry
    from jaxinv.errors import JaxinvError
    from jaxinv.inversion import invert

    if args.seeds < 1:
        raise JaxinvError(f"--seeds {args.seeds}; use 1 or more")
    if args.lambda_tv is not None and args.lambda_tv < 0 or args.lambda_alpha is not None and args.lambda_alpha < 0:
        raise JaxinvError("λ must be >= 0 (0 disables the term); pass a non-negative --lambda-tv/--lambda-alpha")
    if args.method == "ijcv" and (args.lambda_tv is not None or args.lambda_alpha is not None):
        raise JaxinvError("--lambda-tv/--lambda-alpha weigh the paper's objective; with --method ijcv set"
                          " --data-weight instead")
    if args.method == "paper" and args.data_weight is not None:
        raise JaxinvError("--data-weight is the IJCV objective's C; add --method ijcv or drop it")
    if pathlib.Path(args.out).exists() and not pathlib.Path(args.out).is_dir():
        raise JaxinvError(f"--out {args.out} is a file; pass a folder (it is created if missing)")
    rep = registry.get(args.rep, weights=args.weights)
    if args.image:
        picture, source = images.load(args.image), args.image
    else:
        picture, source = images.default_picture(DEFAULT_PICTURE), f"skimage.data.{DEFAULT_PICTURE}()"
    schedule = _schedule_arg(args.schedule) if args.schedule else None
    print(f"jaxinv: inverting {rep.name} of {source} ({picture.shape[1]}x{picture.shape[0]}),"
          f" {args.seeds} seed(s), on {jax.devices()[0].platform}", file=sys.stderr)
    objective = None
    if args.method == "ijcv":
        from jaxinv.objective import IJCVObjective
        objective = IJCVObjective() if args.data_weight is None else IJCVObjective(data_weight=args.data_weight)
    result = invert(rep, picture, key=jax.random.key(args.seed), seeds=args.seeds, coupled=args.coupled,
                    objective=objective,
                    schedule=schedule, method=args.method, lambda_tv=args.lambda_tv,
                    lambda_alpha=args.lambda_alpha, chunk=args.chunk, progress=not args.no_progress,
                    keep_snapshots=False)
    out = pathlib.Path(args.out)
    reference = np.clip(rep.deprocess(rep.preprocess(picture)), 0, 255)
    images.save_png(out / "original.png", reference)
    rows = []
    for s in range(args.seeds):
        rec = result.images[s]
        images.save_png(out / f"reconstruction_{s}.png", rec)
        images.save_png(out / f"reconstruction_{s}_stretched.png", rec, stretch=True)
        row = {"seed": s, "error": float(result.errors[s]), "ijcv_error": float(np.sqrt(result.errors[s])),
               "psnr": metrics.psnr(rec, reference)}
        if min(rec.shape[:2]) >= 7:
            row["ssim"] = metrics.ssim(rec, reference)
        rows.append(row)
    summary = {"representation": rep.name, "source": source, "method": args.method,
               "iterations": int(result.energy.shape[-2]), "seconds": result.seconds, "seeds": rows}
    images.atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=2).encode())
    for row in rows:
        extra = f", SSIM {row['ssim']:.3f}" if "ssim" in row else ""
        print(f"seed {row['seed']}: ‖Φ(x)−Φ0‖²/‖Φ0‖² = {row['error']:.4f} "
              f"(IJCV {100 * row['ijcv_error']:.1f}%), PSNR {row['psnr']:.2f} dB{extra}")
    print(f"{result.energy.shape[-2]} iterations in {result.seconds:.1f} s; pictures in {out}/")
    return 0


def _run_reps(args) -> int:
    from jaxinv import registry

    for name, (_, text) in registry.SHALLOW.items():
        print(f"{name:14s} {text}")
    for net in registry.network_names():
        print(f"{net + ':LAYER':14s} layers: {' '.join(registry.network_layers(net))}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxinv", description="Invert image representations (Mahendran & Vedaldi, CVPR 2015) in JAX.")
    sub = parser.add_subparsers(dest="command")
    _add_invert(sub)
    sub.add_parser("reps", help="list the representations and their layers")
    try:
        from jaxinv.weights.cli import register
    except ImportError:  # pragma: no cover - the weights CLI is part of the package
        register = None
    if register is not None:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from jaxinv.errors import JaxinvError

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if not argv or argv[0] not in parser._subparsers._group_actions[0].choices and argv[0] not in ("-h", "--help"):
        argv = ["invert", *argv]
    args = parser.parse_args(argv)
    try:
        if args.command == "invert":
            return _run_invert(args)
        if args.command == "reps":
            return _run_reps(args)
        return int(args.handler(args))
    except JaxinvError as exc:
        print(f"jaxinv: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jaxinv: interrupted; nothing half-written was left", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
