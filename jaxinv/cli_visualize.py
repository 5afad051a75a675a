"""``jaxinv maximize`` and ``jaxinv caricature``: IJCV 2016's other two uses on the command line.

    jaxinv maximize squeezenet1_1:fire9/expand3x3 --channel 3 --channel 7 --seeds 2 --out max
    jaxinv maximize googlenet:loss3/classifier --class 145
    jaxinv caricature picture.jpg --rep googlenet:inception_4d --out car

Several ``--channel`` (or ``--class``) make a grid, one cell each, optimised together in one
compiled program. Options, progress, outputs (PNGs and ``summary.json``, in a new folder per run
or ``--out``: `jaxinv.cli_runs`) and errors (one line, exit 2) follow ``jaxinv invert``. The
argparse helpers come from `jaxinv.cli` as arguments of `register`, so that the two modules do
not import each other.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["register"]


def register(sub: Any, *, number: Callable[..., Callable[[str], Any]], count: Callable[[str], int],
             seed_number: Callable[[str], int], priors: Any) -> None:
    """Add the two subcommands to ``sub`` (the `jaxinv.cli` parser's subparsers)."""
    from jaxinv.cli_output import prior_help

    p = sub.add_parser("maximize", help="images that excite a channel, neuron or class (IJCV 2016)")
    p.add_argument("rep", help="a network layer NETWORK:LAYER (see `jaxinv reps`)")
    p.add_argument("image", nargs="?", help=argparse.SUPPRESS)
    p.add_argument("--channel", type=number(int, minimum=0), action="append", metavar="K",
                   help="a channel of the layer (repeat for a grid, one cell each)")
    p.add_argument("--class", dest="class_", type=number(int, minimum=0), action="append", metavar="C",
                   help="a class: its score before the softmax (repeat for a grid)")
    p.add_argument("--neuron", metavar="ROW,COLUMN", help="ROW,COLUMN of the neuron in the code (default: the centre)")
    p.add_argument("--average", action="store_true", help="the channel's spatial mean instead of one neuron")
    p.add_argument("--minimize", action="store_true", help="lower the unit instead of raising it")
    p.add_argument("--seeds", type=count, default=1, metavar="N", help="starts per cell, optimised jointly")
    p.add_argument("--diversity", type=number(float, minimum=0), help="weight of the diversity term across seeds")
    p.add_argument("--relu-slope", type=number(float, minimum=0, maximum=0.99), default=0.05,
                   help="leaky ReLUs while optimising (default 0.05, the authors'; 0 = as trained)")
    p.add_argument("--image-size", type=number(int, minimum=1, maximum=4096),
                   help="input side (default: the authors' rule from the receptive field)")
    p.add_argument("--prior", choices=priors, default="ijcv", help=prior_help("maximize"))
    _common(p, "maximize", number=number, seed_number=seed_number,
            iterations="steps in all: ijcv runs N at the IJCV rate (default 300, the authors'); paper, lucid, maco"
                       " and dip run their schedule (see --prior) with every stage's length scaled by N / its"
                       " total, rounded so that the stages add up to N (each at least 1)")
    p.set_defaults(handler=_run_maximize)
    c = sub.add_parser("caricature", help="exaggerate what a layer sees in a picture (IJCV 2016)")
    c.add_argument("image", nargs="?", help="picture file")
    c.add_argument("--rep", required=True, help="a network layer NETWORK:LAYER")
    c.add_argument("--tether", type=number(float, minimum=0), default=0.0,
                   help="weight of mean (x - x0)^2 keeping it close to the picture (default 0, the authors')")
    c.add_argument("--image-size", type=number(int, minimum=1, maximum=4096),
                   help="input side (default: the network's)")
    c.add_argument("--max-megapixels", type=number(float, above=0), default=50.0, help="refuse larger pictures")
    _common(c, "caricature", number=number, seed_number=seed_number,
            iterations="steps at the IJCV rate (default 300, the authors')")
    c.set_defaults(handler=_run_caricature)


def _common(p: argparse.ArgumentParser, command: str, *, number: Callable[..., Callable[[str], Any]],
            seed_number: Callable[[str], int], iterations: str) -> None:
    from jaxinv.cli_runs import add_output_options

    p.add_argument("--weights", help="weight file of the network (.caffemodel, .mat, .pth, .safetensors); default:"
                                     " the cache's, else the shared folder's ($JAXINV_SHARED_WEIGHTS)")
    p.add_argument("--iterations", type=number(int, minimum=1, maximum=1_000_000), metavar="N", help=iterations)
    p.add_argument("--seed", type=seed_number, default=0, help="seed of jax.random.key")
    add_output_options(p, command=command)


def _neuron(text: str | None) -> tuple[int, int] | None:
    from jaxinv.errors import JaxinvError

    if text is None:
        return None
    try:
        row, column = (int(v) for v in text.split(","))
    except ValueError:
        raise JaxinvError(f"--neuron {text!r}: give ROW,COLUMN as two whole numbers, e.g. --neuron 7,7") from None
    return row, column


def _run_maximize(args: argparse.Namespace) -> int:
    import jax

    from jaxinv import registry
    from jaxinv.cli_output import schedule_record
    from jaxinv.cli_runs import claim, plan_output, progress_option
    from jaxinv.errors import JaxinvError
    from jaxinv.plan import plan_maximization
    from jaxinv.visualize import maximize

    if args.image is not None:
        raise JaxinvError(f"maximize starts from noise and takes no picture ({args.image}); to exaggerate a"
                          f" picture use `jaxinv caricature {args.image} --rep {args.rep}`")
    if (args.channel is None) == (args.class_ is None):
        raise JaxinvError("name what to maximise: --channel K (repeatable) or --class C (repeatable), not both")
    output = plan_output(args, command="maximize")
    rep = registry.get(args.rep, weights=args.weights)
    ran, schedule = _schedule(args.prior, rep, args.iterations)
    objectives = _objectives(args)
    plan_maximization(rep, objectives, image_size=args.image_size)  # every refusal before any output
    if not args.quiet:
        print(f"jaxinv: maximizing {len(objectives)} unit(s) of {rep.name}, {args.seeds} seed(s), prior {args.prior},"
              f" {ran.total} iterations, on {jax.devices()[0].platform}", file=sys.stderr)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = maximize(rep, objectives, key=jax.random.key(args.seed), seeds=args.seeds,
                          relu_slope=args.relu_slope, prior=args.prior, image_size=args.image_size,
                          iterations=ran.total if args.prior == "ijcv" else None, schedule=schedule,
                          progress=progress_option(args.quiet))
    _say(caught)
    steps = int(result.energy.shape[1])
    out = claim(output)
    _write(out, result, {"command": "maximize", "seed": args.seed, "prior": args.prior,
                         "schedule": schedule_record(ran, args.prior), "iterations": steps,
                         "relu_slope": args.relu_slope, "diversity": args.diversity})
    for label, values, ref in zip(result.labels, result.values, result.reference):
        said = ", ".join(f"{v:.4g}" for v in values)
        print(f"{label}: {said} ({', '.join(f'{v / ref:.2f}' for v in values)}x its extreme over the"
              f" 100 ImageNet pictures)" if ref == ref else f"{label}: {said}")
    print(f"{steps} iterations ({args.prior}) at {result.image_size}x{result.image_size} in {result.seconds:.1f} s;"
          f" pictures in {out}/")
    return 0


def _run_caricature(args: argparse.Namespace) -> int:
    import jax

    from jaxinv import images, registry
    from jaxinv.cli_output import schedule_record
    from jaxinv.cli_runs import claim, plan_output, progress_option
    from jaxinv.errors import JaxinvError
    from jaxinv.visualize import caricature

    if args.image is None:
        raise JaxinvError(f"caricature needs a picture: jaxinv caricature IMAGE --rep {args.rep}")
    output = plan_output(args, command="caricature")
    rep = registry.get(args.rep, weights=args.weights)
    picture = images.load(args.image, max_pixels=int(args.max_megapixels * 1e6))
    if not args.quiet:
        print(f"jaxinv: caricature of {args.image} at {rep.name} on {jax.devices()[0].platform}", file=sys.stderr)
    args.iterations = 300 if args.iterations is None else args.iterations
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = caricature(rep, picture, key=jax.random.key(args.seed), tether=args.tether,
                            iterations=args.iterations, image_size=args.image_size,
                            progress=progress_option(args.quiet))
    _say(caught)
    import numpy as np

    out = claim(output)
    size = (result.image_size, result.image_size)
    images.save_png(out / "original.png", np.clip(images.resize(images.as_picture(picture)[..., :3], size), 0, 255))
    _write(out, result, {"command": "caricature", "source": args.image, "seed": args.seed, "prior": "ijcv",
                         "schedule": schedule_record(_ijcv_schedule(args.iterations), "ijcv"),
                         "iterations": int(result.energy.shape[1]), "tether": args.tether})
    value, own = float(result.values[0, 0]), float(result.reference[0])
    print(f"⟨Φ(x), e⟩ = {value:.3f}, the picture's own {own:.3f} ({value / own:.2f}x);"
          f" {args.iterations} iterations in {result.seconds:.1f} s; pictures in {out}/")
    return 0


def _objectives(args: argparse.Namespace) -> list[Any]:
    """One objective per ``--channel`` (a neuron, or the channel's mean with ``--average``) or
    ``--class``, negated with ``--minimize``, plus ``--diversity`` × `diversity` across the seeds."""
    from jaxinv.core import objectives as O

    position = _neuron(args.neuron)
    pieces: list[O.Linear]
    if args.class_ is not None:
        pieces = [O.class_logit(c) for c in args.class_]
    else:
        pieces = [O.channel(c) if args.average else O.neuron(c, position=position) for c in args.channel]
    sign = -1.0 if args.minimize else 1.0
    if args.diversity is None:
        return [sign * piece for piece in pieces]
    return [sign * piece + float(args.diversity) * O.diversity() for piece in pieces]


def _ijcv_schedule(iterations: int) -> Any:
    """The IJCV maximisation's schedule: ``iterations`` steps at the IJCV rate, with jitter."""
    from jaxinv.core.schedules import Schedule, Stage

    return Schedule((Stage(1.0, int(iterations), jitter=True),))


def _schedule(prior: str, rep: Any, iterations: int | None) -> tuple[Any, Any]:
    """(the schedule that runs, the one to pass to `maximize`: None for the prior's default).

    ijcv runs ``iterations`` (default 300) at the IJCV rate; another prior runs its own
    schedule, or with ``iterations`` that schedule stretched to that total (`stretched`).
    """
    from jaxinv.cli_output import stretched
    from jaxinv.core.priors import default_schedule

    if prior == "ijcv":
        return _ijcv_schedule(300 if iterations is None else iterations), None
    own = default_schedule(prior, rep)
    if iterations is None:
        return own, None
    chosen = stretched(own, iterations, name=prior)
    return chosen, chosen


def _say(caught: list[warnings.WarningMessage]) -> None:
    for warning in caught:  # one line each, without Python's source-line echo
        print(f"jaxinv: warning: {warning.message}", file=sys.stderr)


def _write(out: Any, result: Any, settings: dict[str, Any]) -> None:
    """One PNG per cell and seed (and its contrast-stretched copy), the grid, summary.json."""
    import math

    import numpy as np

    from jaxinv import images
    from jaxinv.cli_output import VISUALIZATION_DEFINITIONS
    from jaxinv.files import undefined_as_null, write_json

    cells, seeds = result.images.shape[:2]
    names = []
    for b in range(cells):
        for r in range(seeds):
            name = f"{result.labels[b].replace(' ', '_')}_seed{r}"
            images.save_png(out / f"{name}.png", result.images[b, r])
            images.save_png(out / f"{name}_stretched.png", result.images[b, r], stretch=True)
            names.append(name)
    per_row = math.ceil(math.sqrt(cells))
    side = result.images.shape[-2]
    grid = np.full((per_row * side, per_row * side * seeds, 3), 255.0, np.float32)
    for b in range(cells):
        row, column = divmod(b, per_row)
        for r in range(seeds):
            x = (column * seeds + r) * side
            grid[row * side:(row + 1) * side, x:x + side] = images.contrast_stretch(result.images[b, r])
    images.save_png(out / "grid.png", grid)
    rows = [{"label": label, "values": [float(v) for v in values], "reference": float(ref),
             "relative": [float(v / ref) for v in values]}
            for label, values, ref in zip(result.labels, result.values, result.reference)]
    write_json(out / "summary.json", undefined_as_null({"representation": result.representation,
                                                        "image_size": result.image_size, **settings,
                                                        "seconds": result.seconds, "cells": rows,
                                                        "pictures": names,
                                                        "definitions": VISUALIZATION_DEFINITIONS}))
