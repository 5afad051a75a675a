"""The command line: ``jaxinv invert | reps | weights | maximize | caricature``.

With no arguments, ``jaxinv`` inverts the HOG of scikit-image's astronaut (the paper's
shallow schedule) and writes PNGs. Bad input prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
import warnings

__all__ = ["ArgumentParser", "main", "number", "positive", "seed_number", "count"]

DEFAULT_PICTURE = "astronaut"
#: The largest seed `jax.random.key` takes.
MAX_SEED = 2 ** 63 - 1
#: The most seeds one command runs (a run of that many already needs a memory budget).
MAX_SEEDS = 65536
#: The most iterations a command-line schedule may ask for (the paper's longest is 800).
MAX_ITERATIONS = 1_000_000
#: `jaxinv.core.priors.PRIOR_NAMES`, written out: parsing the command line imports no JAX.
PRIORS = ("paper", "ijcv", "lucid", "maco", "dip")


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line, ``PROG: error: MESSAGE; see PROG --help``, status 2.

    The usage block argparse prints before an error is left out: the message names the
    option, and ``--help`` has the rest. Subcommand parsers inherit it.
    """

    def error(self, message: str):
        program = self.prog.split()[0]
        self.exit(2, f"{program}: error: {message}; see {self.prog} --help\n")


def number(kind: type = float, *, minimum: float | None = None, maximum: float | None = None,
           above: float | None = None):
    """An argparse type: a finite number of ``kind`` in a range, refused in one line otherwise.

    ``minimum``/``maximum`` are inclusive bounds, ``above`` an exclusive lower bound. NaN,
    infinities, words and, for whole numbers, fractions are refused with the valid range.
    """
    noun = "whole number" if kind is int else "number"
    bounds = []
    if above is not None:
        bounds.append(f"above {above:g}")
    if minimum is not None:
        bounds.append(f">= {minimum:g}")
    if maximum is not None:
        bounds.append(f"<= {maximum:g}" if maximum < 1e6 else f"<= {maximum}")
    wanted = f"a {noun}" + (f" {' and '.join(bounds)}" if bounds else "")

    def parse(text: str):
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{text!r} is not a {noun}; use {wanted}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number; use {wanted}")
        if (above is not None and not value > above or minimum is not None and value < minimum
                or maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"{text} is out of range; use {wanted}")
        return value

    return parse


def positive(kind: type = int, *, maximum: float | None = None):
    """An argparse type: a finite number of ``kind`` above 0 (and at most ``maximum``).

    The benchmark and example scripts share it for their counts and scales.
    """
    return number(kind, above=0, maximum=maximum)


#: An argparse type: a seed of `jax.random.key`, 0 … 2⁶³ − 1.
seed_number = number(int, minimum=0, maximum=MAX_SEED)
#: An argparse type: a count of seeds, 1 … `MAX_SEEDS`.
count = number(int, minimum=1, maximum=MAX_SEEDS)


def _schedule_arg(text: str):
    from jaxinv.errors import JaxinvError
    from jaxinv.schedules import PRESETS, Schedule

    if text in PRESETS:
        return text
    try:
        stages = [tuple(part.split("x")) for part in text.split(",")]
        schedule = Schedule.of([(float(lr), int(n)) for lr, n in stages])
    except JaxinvError:
        raise
    except (ValueError, TypeError):
        raise JaxinvError(
            f"cannot read schedule {text!r}; use a preset ({', '.join(PRESETS)}) or stages as LRxITERS,..."
            " e.g. 0.004x100,0.0004x200"
        ) from None
    if schedule.total > MAX_ITERATIONS:
        raise JaxinvError(f"schedule {text!r} has {schedule.total} iterations; use at most {MAX_ITERATIONS}")
    return schedule


def _add_invert(sub) -> None:
    p = sub.add_parser("invert", help="invert the code of a picture and write PNGs")
    p.add_argument("image", nargs="?", help=f"picture file (default: scikit-image's {DEFAULT_PICTURE})")
    p.add_argument("--rep", default="hog", help="representation NAME[:LAYER] (default hog; see `jaxinv reps`)")
    p.add_argument("--weights", help="weight file for a network (.caffemodel, .mat, .pth, .safetensors)")
    p.add_argument("--seeds", type=count, default=1,
                   help=f"reconstructions from independent random starts (1 to {MAX_SEEDS})")
    p.add_argument("--coupled", action="store_true", help="optimise the seeds jointly (the paper's numRepeats)")
    p.add_argument("--schedule", help="preset name or LRxITERS,... (default: the representation's, or ijcv);"
                                      " with --method ijcv the rates multiply the IJCV base rate")
    p.add_argument("--prior", choices=PRIORS,
                   help="image prior (default paper): paper (CVPR 2015), ijcv (IJCV 2016), lucid (Fourier,"
                        " decorrelated colour, random views), maco (phase-only Fourier), dip (Deep Image Prior)")
    p.add_argument("--method", choices=["paper", "ijcv"], help="alias of --prior paper|ijcv")
    p.add_argument("--data-weight", type=number(float, above=0),
                   help="IJCV data weight C (with --method ijcv; default 1, the IJCV HOG/DSIFT code used 100)")
    p.add_argument("--lambda-tv", type=number(float, minimum=0),
                   help="λ_V in paper units (default: the representation's; 0 disables TV)")
    p.add_argument("--lambda-alpha", type=number(float, minimum=0),
                   help="λ_α in paper units (default 2.157e8; 0 disables the α-norm)")
    p.add_argument("--seed", type=seed_number, default=0, help=f"seed of jax.random.key (0 to {MAX_SEED})")
    p.add_argument("--chunk", type=number(int, minimum=1, maximum=10_000), default=25,
                   help="steps per compiled chunk (and snapshot period)")
    p.add_argument("--max-megapixels", type=positive(float), default=50.0,
                   help="refuse larger pictures (default 50; resize them, or raise this)")
    p.add_argument("--out", default="jaxinv-out", help="output folder, created if missing (default ./jaxinv-out)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _check_options(args) -> None:
    from jaxinv.errors import JaxinvError

    if args.method and args.prior and args.method != args.prior:
        raise JaxinvError(f"--method {args.method} and --prior {args.prior} conflict; --method is an alias of"
                          " --prior: pass one of them")
    args.prior = args.method = args.prior or args.method or "paper"
    if args.prior not in ("paper", "ijcv") and (args.coupled or args.data_weight is not None
                                                or args.lambda_tv is not None or args.lambda_alpha is not None):
        raise JaxinvError(f"--coupled/--data-weight/--lambda-tv/--lambda-alpha set the paper's and IJCV's"
                          f" objectives; --prior {args.prior} has its own (drop them)")
    if args.method == "ijcv" and (args.lambda_tv is not None or args.lambda_alpha is not None):
        raise JaxinvError("--lambda-tv/--lambda-alpha weigh the paper's objective; with --method ijcv set"
                          " --data-weight instead")
    if args.method == "paper" and args.data_weight is not None:
        raise JaxinvError("--data-weight is the IJCV objective's C; add --method ijcv or drop it")


def _check_out(folder: str) -> pathlib.Path:
    """Check now that the output folder can be made and written, so a bad ``--out`` fails
    before any work; nothing is created until there is something to write."""
    import os

    from jaxinv.errors import JaxinvError

    out = pathlib.Path(folder)
    if out.exists() and not out.is_dir():
        raise JaxinvError(f"--out {folder} is a file; pass a folder (it is created if missing)")
    existing = next(p for p in (out, *out.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise JaxinvError(f"--out {folder}: {existing} is a file, not a folder; pass another folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise JaxinvError(f"--out {folder}: {existing} is not writable; pass a folder you can write")
    return out


def _what_is_compared(rep, picture, source: str) -> str:
    """Say what the representation's preprocessing does to the picture, in words."""
    h, w = picture.shape[:2]
    x = rep.preprocess(picture)
    done = []
    if x.shape[:2] != (h, w):
        done.append(f"warped to {x.shape[1]}x{x.shape[0]}, the network's input size")
    if x.shape[-1] == 1 and picture.shape[-1] == 3:
        done.append("converted to gray")
    said = f"{source} ({w}x{h}"
    if done:
        said += ", " + " and ".join(done) + "; original.png is that picture, which the reconstruction is compared with"
    return said + ")"


def _run_invert(args) -> int:
    import jax

    from jaxinv import images, registry
    from jaxinv.inversion import invert
    from jaxinv.objective import IJCVObjective

    _check_options(args)
    schedule = _schedule_arg(args.schedule) if args.schedule else None
    out = _check_out(args.out)
    rep = registry.get(args.rep, weights=args.weights)
    if args.image:
        picture, source = images.load(args.image, max_pixels=int(args.max_megapixels * 1e6)), args.image
    else:
        picture, source = images.default_picture(DEFAULT_PICTURE), f"skimage.data.{DEFAULT_PICTURE}()"
    print(f"jaxinv: inverting {rep.name} of {_what_is_compared(rep, picture, source)}, {args.seeds} seed(s),"
          f" on {jax.devices()[0].platform}", file=sys.stderr)
    objective = None
    if args.method == "ijcv":
        objective = IJCVObjective() if args.data_weight is None else IJCVObjective(data_weight=args.data_weight)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.prior in ("paper", "ijcv"):
            result = invert(rep, picture, key=jax.random.key(args.seed), seeds=args.seeds, coupled=args.coupled,
                            objective=objective, schedule=schedule, method=args.method, lambda_tv=args.lambda_tv,
                            lambda_alpha=args.lambda_alpha, chunk=args.chunk, progress=not args.no_progress,
                            keep_snapshots=False)
        else:
            from jaxinv.priors import invert_with_prior

            result = invert_with_prior(rep, picture, prior=args.prior, key=jax.random.key(args.seed),
                                       seeds=args.seeds, schedule=schedule)
    for warning in caught:  # one line each, without Python's source-line echo
        print(f"jaxinv: warning: {warning.message}", file=sys.stderr)
    rows = _write_outputs(out, rep, picture, result)
    from jaxinv.files import write_json

    summary = {"representation": rep.name, "source": source, "method": args.method, "prior": args.prior,
               "input": _what_is_compared(rep, picture, source), "seed": args.seed,
               "iterations": int(result.energy.shape[-2]), "seconds": result.seconds, "seeds": rows}
    write_json(out / "summary.json", summary)
    for row in rows:
        extra = f", SSIM {row['ssim']:.3f}" if "ssim" in row else ""
        retried = (f", run at {row['learning_rate_scale']:g}x the learning rates"
                   if row["learning_rate_scale"] != 1 else "")
        print(f"seed {row['seed']}: ‖Φ(x)−Φ0‖²/‖Φ0‖² = {row['error']:.4f} "
              f"(IJCV {100 * row['ijcv_error']:.1f}%), PSNR {row['psnr']:.2f} dB{extra}{retried}")
    print(f"{result.energy.shape[-2]} iterations in {result.seconds:.1f} s; pictures in {out}/")
    return 0


def _write_outputs(out: pathlib.Path, rep, picture, result) -> list[dict]:
    """The PNGs of one inversion and a summary row per seed.

    The stretched copy is the paper's display: the unclipped input-space reconstruction,
    min-max stretched (`vl_imsc`), so it differs from the clipped picture wherever the
    reconstruction leaves [0, 255].
    """
    import numpy as np

    from jaxinv import images, metrics

    reference = np.clip(rep.deprocess(rep.preprocess(picture)), 0, 255)
    images.save_png(out / "original.png", reference)
    rows = []
    for s, rec in enumerate(result.images):
        images.save_png(out / f"reconstruction_{s}.png", rec)
        images.save_png(out / f"reconstruction_{s}_stretched.png", rep.deprocess(result.inputs[s]), stretch=True)
        psnr = metrics.psnr(rec, reference)
        row = {"seed": s, "error": float(result.errors[s]), "ijcv_error": float(np.sqrt(result.errors[s])),
               "psnr": psnr if np.isfinite(psnr) else None,  # identical pictures: no finite PSNR
               "learning_rate_scale": float(result.learning_rate_scale[s]),
               "diverged": bool(result.diverged[s])}
        if min(rec.shape[:2]) >= 7:
            row["ssim"] = metrics.ssim(rec, reference)
        rows.append(row)
    return rows


def _run_reps(args) -> int:
    from jaxinv import registry
    from jaxinv.errors import JaxinvError

    if args.network:
        if args.network not in registry.network_names():
            raise JaxinvError(f"unknown network {args.network!r}; use one of {', '.join(registry.network_names())}")
        for layer, text in registry.network_layer_descriptions(args.network).items():
            print(f"{args.network}:{layer:40s} {text}")
        return 0
    for name, (_, text) in registry.SHALLOW.items():
        print(f"{name:14s} {text}")
    for net in registry.network_names():
        print(f"{net + ':LAYER':14s} layers: {' '.join(registry.network_layers(net))}")
    print("jaxinv reps NETWORK says what each layer's output is")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from jaxinv import __version__

    parser = ArgumentParser(prog="jaxinv", description="Invert image representations (Mahendran & Vedaldi,"
                                                       " CVPR 2015) in JAX.")
    parser.add_argument("--version", action="version", version=f"jaxinv {__version__}")
    sub = parser.add_subparsers(dest="command")
    _add_invert(sub)
    reps = sub.add_parser("reps", help="list the representations and their layers")
    reps.add_argument("network", nargs="?", help="a network: each layer's output, shape and aliases")
    try:
        from jaxinv.weights.cli import register
    except ImportError:  # pragma: no cover - the weights CLI is part of the package
        register = None
    if register is not None:
        register(sub)
    from jaxinv.cli_visualize import register as register_visualize  # its helpers passed in: no import cycle
    register_visualize(sub, number=number, count=count, seed_number=seed_number, check_out=_check_out,
                       priors=PRIORS)
    return parser


def main(argv: list[str] | None = None) -> int:
    from jaxinv.errors import JaxinvError

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if not argv or argv[0] not in parser._subparsers._group_actions[0].choices and argv[0] not in ("-h", "--help", "--version"):
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
    except OSError as exc:  # a full disk, a folder removed under us: no traceback, and say which file
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"jaxinv: error: {exc.strerror or exc}{where}; nothing half-written was left", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("jaxinv: interrupted; nothing half-written was left", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
