"""Build the small atlas the documentation shows, docs/figures/atlas-sample/ (issue #34).

Three SqueezeNet layers (fire2, fire5, and the class scores pool10), six units each, four
dataset examples a side from the shared 100 ImageNet pictures, one picture inverted and
caricatured per layer: under 1 MB that readers open before running an atlas of their own
(docs/how-to/atlas.md links its index). The folder is removed and built again, and each
layer's ``examples.json`` (every channel's dataset examples, a cache for resuming, 0.7 MB for
pool10's 1,000 classes; no page links it) is removed after. The full atlas of a network is an
output, never committed::

    python scripts/atlas_sample.py            # about 3 minutes on two CPU cores
"""

from __future__ import annotations

import argparse
import pathlib
import shutil

REPO = pathlib.Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "figures" / "atlas-sample"
#: What the sample shows: the layers, the units of each, and the atlas's options.
LAYERS = ["fire2", "fire5", "pool10"]
OPTIONS = {"units": range(6), "k": 4, "iterations": 200, "inversions": 1, "inversion_steps": 200}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT, help=f"the folder (default {OUT.relative_to(REPO)})")
    args = parser.parse_args(argv)

    import jax

    import jaxinv

    if args.out.exists():
        shutil.rmtree(args.out)
    site = jaxinv.atlas("squeezenet1_1", LAYERS, out=args.out, key=jax.random.key(0), **OPTIONS)
    for cache in args.out.glob("*/examples.json"):
        cache.unlink()
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"atlas_sample: {size // 1024} KB in {site.folder}; open {site.index}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
