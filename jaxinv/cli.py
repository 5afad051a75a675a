"""The command line: ``jaxinv invert | reps | weights | maximize | caricature | score | atlas``.

With no arguments, ``jaxinv`` inverts the HOG of scikit-image's astronaut (the paper's
shallow schedule) and writes PNGs. Bad input prints one line and exits with status 2; a closed
output pipe ends quietly with status 0. What the commands print and write (each error by name,
the schedules `--help` lists, ``summary.json``) is `jaxinv.cli_output`; where they write it (a
new folder per run, ``--out``, ``--overwrite``) and ``--quiet`` are `jaxinv.cli_runs`.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:  # for the annotations only: parsing the command line imports no JAX
    import numpy as np

    from jaxinv.cli_runs import Output
    from jaxinv.core.schedules import Schedule
    from jaxinv.inversion import InversionResult
    from jaxinv.representation import Representation

__all__ = ["ArgumentParser", "main", "number", "positive", "seed_number", "count"]

DEFAULT_PICTURE = "astronaut"
#: The largest seed `jax.random.key` takes.
MAX_SEED = 2 ** 63 - 1
#: The most seeds one command runs (a run of that many already needs a memory budget).
MAX_SEEDS = 65536
#: The most iterations a command-line schedule may ask for (the paper's longest is 800).
MAX_ITERATIONS = 1_000_000
#: Steps per compiled chunk of the paper's and IJCV's runs unless ``--chunk`` says otherwise.
DEFAULT_CHUNK = 25
#: `jaxinv.core.priors.PRIOR_NAMES`, written out: parsing the command line imports no JAX.
PRIORS = ("paper", "ijcv", "lucid", "maco", "dip", "fast")


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line, ``PROG: error: MESSAGE; see PROG --help``, status 2.

    The usage block argparse prints before an error is left out: the message names the
    option, and ``--help`` has the rest. Subcommand parsers inherit it.
    """

    def error(self, message: str) -> NoReturn:
        """Exit with status 2 after one line: ``PROG: error: MESSAGE; see PROG --help``."""
        program = self.prog.split()[0]
        self.exit(2, f"{program}: error: {message}; see {self.prog} --help\n")


def number(kind: type, *, minimum: float | None = None, maximum: float | None = None,
           above: float | None = None) -> Callable[[str], Any]:
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

    def parse(text: str) -> Any:
        """``text`` as a ``kind`` in range, or an `argparse.ArgumentTypeError` naming the valid range."""
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


def positive(kind: type, *, maximum: float | None = None) -> Callable[[str], Any]:
    """An argparse type: a finite number of ``kind`` above 0 (and at most ``maximum``).

    The benchmark and example scripts share it for their counts and scales.
    """
    return number(kind, above=0, maximum=maximum)


#: An argparse type: a seed of `jax.random.key`, 0 … 2⁶³ − 1.
seed_number = number(int, minimum=0, maximum=MAX_SEED)
#: An argparse type: a count of seeds, 1 … `MAX_SEEDS`.
count = number(int, minimum=1, maximum=MAX_SEEDS)


def _schedule_arg(text: str) -> str | Schedule:
    from jaxinv.errors import JaxinvError
    from jaxinv.core.schedules import PRESETS, Schedule

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


def _add_invert(sub: Any) -> None:
    from jaxinv.cli_output import PRESET_NAMES, prior_help
    from jaxinv.cli_runs import add_output_options

    p = sub.add_parser("invert", help="invert the code of a picture and write PNGs")
    p.add_argument("image", nargs="?", help=f"picture file (default: scikit-image's {DEFAULT_PICTURE})")
    p.add_argument("--rep", default="hog", help="representation NAME[:LAYER] (default hog; see `jaxinv reps`)")
    p.add_argument("--weights", help="weight file for a network (.caffemodel, .mat, .pth, .safetensors); default:"
                                     " the cache's, else the shared folder's ($JAXINV_SHARED_WEIGHTS)")
    p.add_argument("--seeds", type=count, default=1,
                   help=f"reconstructions from independent random starts (1 to {MAX_SEEDS})")
    p.add_argument("--coupled", action="store_true",
                   help="optimise the seeds jointly (the paper's numRepeats)")
    p.add_argument("--schedule", help=f"a preset ({', '.join(PRESET_NAMES)}) or stages LRxITERS,..., e.g."
                                      " 0.004x100,0.0004x200; default: the prior's own (see --prior: lucid, maco"
                                      " and dip have their own Adam schedules). With ijcv the rates multiply the"
                                      " IJCV base rate; with lucid, maco and dip they are Adam's, and lucid's"
                                      " random views stay on in every stage given")
    p.add_argument("--prior", choices=PRIORS, help=prior_help("invert"))
    p.add_argument("--method", choices=["paper", "ijcv"], help="alias of --prior paper|ijcv")
    p.add_argument("--data-weight", type=number(float, above=0),
                   help="IJCV data weight C (ijcv only; default 1, the IJCV HOG/DSIFT code used 100)")
    p.add_argument("--lambda-tv", type=number(float, minimum=0),
                   help="λ_V in paper units (paper only; default: the representation's; 0 disables TV)")
    p.add_argument("--lambda-alpha", type=number(float, minimum=0),
                   help="λ_α in paper units (paper only; default 2.157e8; 0 disables the α-norm)")
    p.add_argument("--set-normaliser", type=number(float, above=0), metavar="N1",
                   help="N₁ of the paper's printed metric ‖Φ(x)−Φ0‖/N₁: the mean distance ‖Φ0_i−Φ0_j‖ between"
                        " this representation's codes of your picture set (jaxinv.metrics.mean_pairwise_distance);"
                        " one picture has no set, so without it that metric is not computed")
    p.add_argument("--seed", type=seed_number, default=0, help=f"seed of jax.random.key (0 to {MAX_SEED})")
    p.add_argument("--chunk", type=number(int, minimum=1, maximum=10_000),
                   help="steps per compiled chunk (default 25; dip steps one at a time whatever this is)")
    p.add_argument("--max-megapixels", type=positive(float), default=50.0,
                   help="refuse larger pictures (default 50; resize them, or raise this)")
    add_output_options(p, command="invert")


#: The options each prior takes beyond the common ones; any other is refused by name.
_OWN_OPTIONS = {"--data-weight": ("ijcv",), "--lambda-tv": ("paper", "fast"), "--lambda-alpha": ("paper", "fast")}


def _check_options(args: argparse.Namespace) -> None:
    """Settle ``args.prior`` (``--method`` is its alias) and refuse, by name, options it cannot take."""
    from jaxinv.errors import JaxinvError

    if args.method and args.prior and args.method != args.prior:
        raise JaxinvError(f"--method {args.method} and --prior {args.prior} conflict; --method is an alias of"
                          " --prior: pass one of them")
    args.prior = args.method = args.prior or args.method or "paper"
    given = {"--data-weight": args.data_weight is not None, "--lambda-tv": args.lambda_tv is not None,
             "--lambda-alpha": args.lambda_alpha is not None}
    refused = [name for name, on in given.items() if on and args.prior not in _OWN_OPTIONS[name]]
    if refused:
        takers = "; ".join(f"{name} is for --prior {' or '.join(_OWN_OPTIONS[name])}" for name in refused)
        raise JaxinvError(f"--prior {args.prior} takes no {', '.join(refused)} ({takers}); drop"
                          f" {'it' if len(refused) == 1 else 'them'} or change --prior")


def _what_is_compared(rep: Representation, picture: np.ndarray, source: str) -> str:
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


def _run_invert(args: argparse.Namespace) -> int:
    import jax

    from jaxinv import images, registry
    from jaxinv.core.priors import default_schedule
    from jaxinv.cli_runs import plan_output

    _check_options(args)
    schedule = _schedule_arg(args.schedule) if args.schedule else None
    output = plan_output(args, command="invert")
    rep = registry.get(args.rep, weights=args.weights)
    if args.image:
        picture, source = images.load(args.image, max_pixels=int(args.max_megapixels * 1e6)), args.image
    else:
        picture, source = images.default_picture(DEFAULT_PICTURE), f"skimage.data.{DEFAULT_PICTURE}()"
    ran = default_schedule(args.prior, rep, given=schedule)
    if not args.quiet:
        print(f"jaxinv: inverting {rep.name} of {_what_is_compared(rep, picture, source)}, {args.seeds} seed(s),"
              f" prior {args.prior}, {ran.total} iterations, on {jax.devices()[0].platform}", file=sys.stderr)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _invert(args, rep, picture, schedule)
    for warning in caught:  # one line each, without Python's source-line echo
        print(f"jaxinv: warning: {warning.message}", file=sys.stderr)
    _report(args, output, rep, picture, source, result, ran)
    return 0


def _invert(args: argparse.Namespace, rep: Representation, picture: np.ndarray,
            schedule: str | Schedule | None) -> InversionResult:
    """Run the inversion ``args`` ask for: every prior through `jaxinv.invert`, the one runner."""
    import jax

    from jaxinv.cli_runs import progress_option
    from jaxinv.inversion import invert

    own = {"lambda_tv": args.lambda_tv, "lambda_alpha": args.lambda_alpha, "data_weight": args.data_weight}
    return invert(rep, picture, key=jax.random.key(args.seed), prior=args.prior, seeds=args.seeds,
                  coupled=args.coupled, schedule=schedule, chunk=DEFAULT_CHUNK if args.chunk is None else args.chunk,
                  progress=progress_option(args.quiet), keep_snapshots=False,
                  **{name: value for name, value in own.items() if value is not None})


def _report(args: argparse.Namespace, output: Output, rep: Representation, picture: np.ndarray, source: str,
            result: InversionResult, ran: Schedule) -> None:
    """Write the PNGs and summary.json (each number under its own name, with definitions) into the
    run's folder (`jaxinv.cli_runs.claim`); print the errors and the folder."""
    from jaxinv.cli_output import DEFINITIONS, error_line, schedule_record, write_inversion
    from jaxinv.cli_runs import claim
    from jaxinv.files import undefined_as_null, write_json

    out = claim(output)
    rows = write_inversion(out, rep, picture, result, set_normaliser=args.set_normaliser)
    iterations = int(result.energy.shape[-2])
    options = {"coupled": args.coupled, "data_weight": args.data_weight, "lambda_tv": args.lambda_tv,
               "lambda_alpha": args.lambda_alpha}
    summary = {"representation": rep.name, "source": source, "input": _what_is_compared(rep, picture, source),
               "prior": args.prior, "schedule": schedule_record(ran, args.prior), "iterations": iterations,
               "options": {k: v for k, v in options.items() if v not in (None, False)},
               "set_normaliser": args.set_normaliser, "seed": args.seed, "seconds": result.seconds,
               "seeds": rows, "definitions": DEFINITIONS}
    write_json(out / "summary.json", undefined_as_null(summary))
    for row in rows:
        print(error_line(row))
    print(f"{iterations} iterations ({args.prior}) in {result.seconds:.1f} s; pictures in {out}/")


def _run_reps(args: argparse.Namespace) -> int:
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
    """The ``jaxinv`` parser with every subcommand (building it imports no JAX)."""
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
        pass
    else:
        register(sub)
    from jaxinv.cli_visualize import register as register_visualize  # its helpers passed in: no import cycle
    register_visualize(sub, number=number, count=count, seed_number=seed_number, priors=PRIORS)
    from jaxinv.cli_score import register as register_score
    register_score(sub, positive=positive, seed_number=seed_number)
    from jaxinv.cli_atlas import register as register_atlas
    register_atlas(sub, number=number, seed_number=seed_number, count=count, priors=PRIORS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command: 0 when done, 2 (one line on stderr) for bad input, 1 for a failed write.

    A closed output pipe (``jaxinv reps vit_b_16 | head -1``) ends quietly with status 0, as
    other Unix tools do: stdout is pointed at /dev/null so that nothing more fails at exit.
    """
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except BrokenPipeError:
        _quiet_stdout()
        return 0


def _quiet_stdout() -> None:
    """Send what is left for stdout to /dev/null (the recipe of Python's `signal` documentation)."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is no file (a test's capture): nothing to redirect
        pass
    finally:
        os.close(devnull)


def _main(argv: list[str]) -> int:
    from jaxinv.errors import JaxinvError

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices if parser._subparsers is not None else None
    if not argv or argv[0] not in (commands or {}) and argv[0] not in ("-h", "--help", "--version"):
        argv = ["invert", *argv]
    try:
        args = parser.parse_args(argv)
    except SystemExit:  # --help, --version, or a one-line refusal: what was printed must reach the pipe now
        sys.stdout.flush()
        raise
    try:
        status = _dispatch(args)
        sys.stdout.flush()  # a closed pipe shows here, inside this try, not at interpreter exit
        return status
    except BrokenPipeError:
        raise
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


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "invert":
        return _run_invert(args)
    if args.command == "reps":
        return _run_reps(args)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
