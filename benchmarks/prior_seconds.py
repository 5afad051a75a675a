"""Seconds per inversion under each prior, every prior through the one runner, side by side.

Since 0.2 every prior (paper, ijcv, lucid, maco, dip) runs through `jaxinv.runner.run`, with the
same compiled-program options, so their seconds compare. This script inverts the same N shared
ImageNet pictures at one layer under each prior, one `jaxinv.invert_batch` call per prior
(compilation included, as in the priors comparison's table), one prior after the other in one
process, and writes one JSON row per prior; the table is generated from that JSON::

    python benchmarks/prior_seconds.py                       # SqueezeNet fire3, 2 pictures, all five
    python benchmarks/prior_seconds.py --table-only          # the table (prior_seconds.md) from the JSON
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time

import common
import jax
import numpy as np

import jaxinv
from jaxinv.cli import positive
from jaxinv.files import atomic_write_bytes, write_json

HERE = pathlib.Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
OUT = HERE / "results" / "prior_seconds.json"
TABLE = OUT.with_suffix(".md")
PRIORS = ("paper", "ijcv", "lucid", "maco", "dip")


def pictures(count: int) -> list[np.ndarray]:
    """The first ``count`` shared ImageNet pictures, file-name order."""
    files = sorted((SHARED / "data" / "imagenet100").glob("*.JPEG"))[:count]
    if len(files) < count:
        raise SystemExit(f"prior_seconds: {SHARED / 'data' / 'imagenet100'} has {len(files)} pictures, not {count}")
    return [jaxinv.images.load(f) for f in files]


def measure(layer: str, count: int, priors: list[str]) -> dict:
    """One row per prior: steps, seconds for the N pictures, seconds per inversion, final errors."""
    network, name = layer.split(":")
    rep = jaxinv.cnn(network, layer=name,
                     weights=SHARED / "weights" / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel")
    chosen = pictures(count)
    rows = []
    for prior in priors:
        started = time.perf_counter()
        result = jaxinv.invert_batch(rep, chosen, key=jax.random.key(0), prior=prior, keep_snapshots=False)
        seconds = time.perf_counter() - started
        rows.append({"prior": prior, "steps": int(result.energy.shape[-2]), "pictures": count,
                     "seconds": seconds, "seconds_per_inversion": seconds / count,
                     "errors": [float(e) for e in result.errors[:, 0]]})
        print(f"{prior}: {seconds / count:.1f} s an inversion ({rows[-1]['steps']} steps)", flush=True)
    return {"layer": layer, "machine": machine(), "date": time.strftime("%Y-%m-%d"),
            "command": " ".join(["python benchmarks/prior_seconds.py", *sys.argv[1:]]), "rows": rows}


def machine() -> str:
    """The CPU's model name and core count, and JAX's backend: what the seconds were taken on."""
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")] if cpuinfo.is_file() else []
    cpu = names[0] if names else platform.processor() or platform.machine()
    return f"{cpu}, {len(os.sched_getaffinity(0))} cores, JAX on {jax.default_backend()}"


def merged(record: dict) -> dict:
    """``record`` with the rows of the other priors kept from the JSON of the same layer (one prior
    can be measured again, or added, without running the rest; each row keeps its picture count)."""
    if not OUT.is_file():
        return record
    old = json.loads(OUT.read_text())
    same = old.get("layer") == record["layer"]
    new = {row["prior"] for row in record["rows"]}
    kept = [row for row in old["rows"] if same and row["prior"] not in new]
    rows = sorted(kept + record["rows"], key=lambda row: PRIORS.index(row["prior"]))
    commands = ([old["command"]] if same and kept else []) + [record["command"]]
    return {**record, "rows": rows, "command": "; ".join(dict.fromkeys(commands))}


def table(record: dict) -> str:
    """The markdown table of a record (generated, never pasted)."""
    lines = [f"Seconds per inversion at {record['layer']}, the pictures of a row in one call per prior,"
             f" compilation included ({record['machine']}, {record['date']}; `{record['command']}`):", "",
             "| prior | pictures | steps | s / inversion | s / 100 steps | squared normalised error (mean) |",
             "|---|---|---|---|---|---|"]
    for row in record["rows"]:
        lines.append(f"| {row['prior']} | {row['pictures']} | {row['steps']} | {row['seconds_per_inversion']:.1f} |"
                     f" {100 * row['seconds_per_inversion'] / row['steps']:.2f} | {np.mean(row['errors']):.4f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", default="squeezenet1_1:fire3", help="NETWORK:LAYER (SqueezeNet's weights)")
    parser.add_argument("--pictures", type=positive(int, maximum=100), default=2, help="shared pictures (default 2)")
    parser.add_argument("--priors", default=",".join(PRIORS), help="comma-separated priors (default all five)")
    parser.add_argument("--table-only", action="store_true", help="print the table from the JSON, run nothing")
    args = parser.parse_args()
    if not args.table_only:
        priors = [p for p in args.priors.split(",") if p]
        unknown = sorted(set(priors) - set(PRIORS))
        if unknown or not priors:
            parser.error(f"--priors {args.priors}: use some of {', '.join(PRIORS)}")
        write_json(OUT, merged(measure(args.layer, args.pictures, priors)))
    if not OUT.is_file():
        raise SystemExit(f"prior_seconds: no {OUT}; run it without --table-only first")
    text = table(json.loads(OUT.read_text()))
    atomic_write_bytes(TABLE, (text + "\n").encode())
    print(text)


if __name__ == "__main__":
    common.run_script(main, "prior_seconds.py")
