"""``jaxinv atlas NETWORK --layers L1 L2 ...``: a network's layers as a static site (`jaxinv.atlas`).

    jaxinv atlas squeezenet1_1 --layers fire2 fire3 --out atlas
    jaxinv atlas squeezenet1_1 --layers fire2 --units 0-15 --iterations 100 --pictures my_pictures/
    jaxinv atlas squeezenet1_1 --layers fire2 fire3 fire4 --out atlas    # resumes, adds fire4

Per layer a grid of its units and a few pictures' inversions and caricatures at the layer, per
unit a page with its visualisation, its top-k and bottom-k pictures of ``--pictures`` (default
the shared 100 ImageNet pictures) and the numbers behind them (one JSON file per unit); open
``index.html`` from the folder, no server needed. The same ``--out`` again resumes an atlas
(only the missing units are made) or adds layers to it, with the same settings; other settings
are refused in one line (exit 2). Without ``--out`` a new folder
``jaxinv-out/atlas-YYYYmmdd-HHMMSS`` is made (and removed again, empty, when the atlas refuses
its options). Like the other CLI modules this one imports no JAX until it runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["parse_units", "register"]


def register(sub: Any, *, number: Callable[..., Callable[[str], Any]], seed_number: Callable[[str], int],
             count: Callable[[str], int], priors: Any) -> None:
    """Add ``atlas`` to ``sub`` (the `jaxinv.cli` parser's subparsers); its helpers are passed in."""
    p = sub.add_parser("atlas", help="a static site of a network's layers: every unit's visualisation and the"
                                     " pictures that excite it most and least")
    p.add_argument("network", help="a network (see `jaxinv reps`), e.g. squeezenet1_1")
    p.add_argument("--layers", nargs="+", required=True, metavar="LAYER",
                   help="the layers, e.g. fire2 fire3 (aliases as `jaxinv reps NETWORK` lists them)")
    p.add_argument("--units", metavar="LIST", help="the channels of each layer, e.g. 0-15 or 0,3,7 (default all)")
    p.add_argument("--pictures", metavar="FOLDER",
                   help="the pictures of the dataset examples (default: the shared 100 ImageNet pictures,"
                        " $JAXINV_IMAGENET100)")
    p.add_argument("--weights", help="the network's weight file; default: the cache's, else the shared folder's")
    p.add_argument("--prior", choices=priors, default="ijcv", help="the image prior of the visualisations")
    p.add_argument("--seeds", type=count, default=1, metavar="N", help="visualisations per unit (jointly optimised)")
    p.add_argument("--iterations", type=number(int, minimum=1, maximum=1_000_000), metavar="N",
                   help="steps of the ijcv prior (default 300, the authors'); other priors run their schedule")
    p.add_argument("--image-size", type=number(int, minimum=1, maximum=4096),
                   help="the visualisations' side (default: the authors' rule from each layer's receptive field)")
    p.add_argument("--relu-slope", type=number(float, minimum=0, maximum=0.99), default=0.0,
                   help="leaky ReLUs while optimising (default 0: as trained, dead starts redirected)")
    p.add_argument("-k", "--top", dest="k", type=number(int, minimum=1, maximum=1000), default=9, metavar="K",
                   help="the top-k and bottom-k pictures per unit (default 9)")
    p.add_argument("--group", type=number(int, minimum=1), metavar="N",
                   help="units per compiled program and per write (default: all of a layer's missing units)")
    p.add_argument("--batch", type=number(int, minimum=1, maximum=4096), default=16, metavar="N",
                   help="pictures per forward pass of the dataset examples (default 16)")
    p.add_argument("--inversions", type=number(int, minimum=0, maximum=1000), default=2, metavar="N",
                   help="per layer, the first N pictures inverted and caricatured at the layer (default 2; 0: none)")
    p.add_argument("--inversion-steps", type=number(int, minimum=1, maximum=1_000_000), default=100, metavar="N",
                   help="about the steps of each of those inversions and caricatures (default 100)")
    p.add_argument("--inversion-prior", choices=("paper", "fast"), default="paper",
                   help="the prior of those inversions: paper (default) or fast, the paper's objective"
                        " nearer its final error in few steps")
    p.add_argument("--seed", "--key", dest="seed", type=seed_number, default=0, help="seed of jax.random.key")
    p.add_argument("--out", metavar="DIR",
                   help="the site's folder: new, empty, or an atlas to resume or enlarge (default: a new folder"
                        " ./jaxinv-out/atlas-YYYYmmdd-HHMMSS)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no lines of units done")
    p.set_defaults(handler=_run_atlas)


def parse_units(text: str | None) -> list[int] | None:
    """``0-15`` or ``0,3,7`` (or both, ``0-3,9``) as channels; None for all; a `JaxinvError` otherwise."""
    from jaxinv.errors import JaxinvError

    if text is None:
        return None
    found: list[int] = []
    try:
        for part in text.split(","):
            first, dash, last = part.strip().partition("-")
            lo, hi = int(first), int(last) if dash else int(first)
            if lo < 0 or hi < lo:
                raise ValueError(part)
            found.extend(range(lo, hi + 1))
    except ValueError:
        raise JaxinvError(f"--units {text!r} is not a list of channels; use e.g. 0-15 or 0,3,7") from None
    return found


def _folder(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    """The site's folder: ``--out`` (the atlas checks what is there), or a new one of its own; and
    the folders made here (the new one, and ./jaxinv-out if it was missing), innermost first."""
    import pathlib

    from jaxinv.cli_runs import check_writable, claim, plan_output

    if args.out is not None:
        check_writable(pathlib.Path(args.out))
        return pathlib.Path(args.out), []
    args.overwrite = False
    output = plan_output(args, command="atlas")
    root_made = not output.root.exists()
    folder = claim(output)
    return folder, [folder, *([output.root] if root_made else [])]


def _run_atlas(args: argparse.Namespace) -> int:
    import jax

    from jaxinv.atlas import atlas
    from jaxinv.cli_runs import progress_option

    units = parse_units(args.units)
    started = time.perf_counter()
    out, made_here = _folder(args)
    try:
        site = atlas(args.network, args.layers, out=out, key=jax.random.key(args.seed), pictures=args.pictures,
                     weights=args.weights, units=units, prior=args.prior, seeds=args.seeds, k=args.k,
                     iterations=args.iterations, image_size=args.image_size, relu_slope=args.relu_slope,
                     group=args.group, batch=args.batch, inversions=args.inversions,
                     inversion_steps=args.inversion_steps, inversion_prior=args.inversion_prior,
                     progress=progress_option(args.quiet))
    except BaseException:
        for folder in made_here:  # refused before anything was written: leave no empty folder behind
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    made = sum(len(v) for v in site.made.values())
    kept = sum(len(v) for v in site.kept.values())
    print(f"atlas: {made} unit(s) made, {kept} already there, in {time.perf_counter() - started:.1f} s;"
          f" open {site.index}")
    if not args.quiet and made == 0:
        print("atlas: nothing was missing; the pages were written again", file=sys.stderr)
    return 0
