"""Whole layers of real atlases: per layer, how many units' visualisations beat every picture.

Reads the folders that `jaxinv atlas` made (each unit's JSON record, `jaxinv.atlas.units`) and
summarises each layer as the atlas's own index does (`jaxinv.atlas.site.layer_summary`: units
done, of the layer's channels, dead at the start, rescued by the redirected ReLU, flat, above their
natural maximum m, the largest value over the picture folder), adding how far above: the
smallest and the median over units of r = max over seeds ⟨Φ(x), u⟩ / m. Nothing is optimised
here; the atlases are made first, e.g.::

    jaxinv atlas squeezenet1_1 --layers fire5/expand3x3 fire9/expand3x3 --inversions 0 --out SITE
    python benchmarks/atlas_layers.py SITE [SITE ...]     # writes results/atlas/whole_layers.json
    python benchmarks/atlas_layers.py --table-only        # the table from that JSON
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import time

import common
from prior_seconds import machine

from jaxinv.atlas.site import layer_folder, layer_summary
from jaxinv.atlas.units import read_unit
from jaxinv.errors import JaxinvError
from jaxinv.files import write_json
from jaxinv.plan import layer_channels

OUT = pathlib.Path(__file__).resolve().parent / "results" / "atlas" / "whole_layers.json"


def site_rows(site: pathlib.Path) -> list[dict]:
    """One row per layer of the atlas in ``site``, from its units' records."""
    index_file, settings_file = site / "index.json", site / "atlas.json"
    if not index_file.is_file() or not settings_file.is_file():
        raise JaxinvError(f"{site} is not an atlas (no index.json or atlas.json); give a folder that"
                          " `jaxinv atlas --out` made")
    index, settings = json.loads(index_file.read_text()), json.loads(settings_file.read_text())["settings"]
    rows = []
    for layer in index["layers"]:
        records = sorted((site / layer_folder(layer["layer"])).glob("unit-*.json"))
        units = [unit for unit in map(read_unit, records) if unit is not None]  # a half-written one is not done
        ratios = [max(u["values"]) / u["largest_natural"] for u in units if u["largest_natural"] > 0]
        channels = layer_channels(index["network"], layer["layer"])
        rows.append({"network": index["network"], **layer_summary(layer["layer"], units, total=channels),
                     "prior": settings["prior"], "seeds": settings["seeds"],
                     "iterations": settings["iterations"], "pictures": settings["picture_count"],
                     "image_size": units[0]["image_size"] if units else None,
                     "smallest_ratio": min(ratios, default=None),
                     "median_ratio": statistics.median(ratios) if ratios else None})
    return rows


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def table(record: dict) -> str:
    """The markdown table of a record (generated, never pasted)."""
    lines = ["| layer | units done (of) | prior, seeds | image side | dead at start | rescued | flat |"
             " above natural max | r: smallest, median |", "|---|---|---|---|---|---|---|---|---|"]
    for row in record["rows"]:
        share = "–" if row["above_natural_fraction"] is None else f"{100 * row['above_natural_fraction']:.0f}%"
        lines.append(f"| {row['network']}:{row['layer']} | {row['done']} ({row['total']}) | {row['prior']},"
                     f" {row['seeds']} | {row['image_size']} | {row['dead_at_start']} | {row['rescued']} |"
                     f" {row['flat']} | {row['above_natural']} ({share}) |"
                     f" {_ratio(row['smallest_ratio'])}, {_ratio(row['median_ratio'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sites", nargs="*", type=pathlib.Path, help="folders `jaxinv atlas --out` made")
    parser.add_argument("--table-only", action="store_true", help="print the table from the JSON, read no atlas")
    args = parser.parse_args(argv)
    if not args.table_only:
        if not args.sites:
            parser.error("give the atlases' folders, or --table-only")
        rows = [row for site in args.sites for row in site_rows(site)]
        write_json(OUT, {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "rows": rows})
    if not OUT.is_file():
        raise SystemExit(f"atlas_layers: no {OUT}; run it on atlases' folders first")
    print(table(json.loads(OUT.read_text())))


if __name__ == "__main__":
    common.run_script(main, "atlas_layers.py")
