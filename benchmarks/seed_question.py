"""The seed question in numbers: feature-space error against image-space agreement, layer by layer.

    python benchmarks/table_cnn.py --network squeezenet1_1 --table-only    # writes the per-layer numbers
    python benchmarks/seed_question.py                                       # the figure and the table

Readers of the paper ask why an average error of about 10% looks nothing like the original.
This reads the per-layer summaries that `table_cnn.py` writes beside its tables
(``cnn/table-<network>-paper.json``, the 100 ImageNet pictures by default) and the pixel
baselines of `pixel_baselines.py`, and puts side by side, at each block's output: the paper's
printed feature error (norms) and the authors' script's (squares); PSNR and SSIM against the
original, with what a flat picture of the original's mean colour scores; and whether each
network still gives the reconstruction the original's top-1 class. Writes
``seed_question.png`` and ``seed_question.md`` into the results folder.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import common
import judges

from jaxinv.errors import JaxinvError
from jaxinv.files import atomic_write_bytes
from jaxinv.networks import spec

NETWORKS = ("squeezenet1_1", "googlenet")


def load_tables(root: pathlib.Path, networks=NETWORKS) -> dict[str, dict]:
    """The per-layer summaries of each network whose table has been written, by network."""
    tables = {}
    for network in networks:
        path = root / "cnn" / f"table-{network}-paper.json"
        if path.exists():
            tables[network] = json.loads(path.read_text())
    if not tables:
        raise JaxinvError(f"no per-layer tables in {root / 'cnn'}; run benchmarks/table_cnn.py first"
                          " (--table-only rebuilds them from the JSON lines)")
    return tables


def complete_rows(table: dict) -> list[dict]:
    """The rows at the chosen λ_V on as many pictures as the best-covered layer: a layer still
    running would be normalised over fewer codes and is left out until it catches up."""
    chosen = [r for r in table["rows"] if r["chosen"]]
    most = max((r["n"] for r in chosen), default=0)
    return [r for r in chosen if r["n"] == most]


def baseline_of(network: str, table: dict, stored: dict[str, dict]) -> tuple[str, dict] | None:
    """The `pixel_baselines.py` entry (name, scores) that scores the table's own pictures: the
    folder's first n at the network's input size, with n the table's; None if none was run."""
    size = spec(network).input_size
    n = max((r["n"] for r in complete_rows(table)), default=0)
    return next(((name, b) for name, b in stored.items()
                 if b.get("source") == "folder" and b.get("size") == size and b["n"] == n), None)


def markdown(tables: dict[str, dict], baselines: dict[str, tuple[str, dict]]) -> str:
    """The layer-by-layer table of both feature errors and the image-space measures, each network's
    followed by what a flat picture scores on its pictures (``baselines``: name and scores, by network)."""
    lines = []
    for network, table in tables.items():
        lines += [f"{network}, {table['pictures']}, paper optimiser, each block's output at its chosen λ_V"
                  " (layers on fewer pictures than the others left out):", "",
                  "| layer | printed % (norms) | script's % (squares) | PSNR dB | SSIM | class kept, own % |"
                  " class kept, other % | n |", "|---|---|---|---|---|---|---|---|"]
        for row in complete_rows(table):
            lines.append(f"| {row['layer']} | {common.fmt(row['printed'])} | {common.fmt(row['script'])} |"
                         f" {common.fmt(row['psnr'], 2)} | {common.fmt(row['ssim'], 3)} | {common.percent(row.get('agree_own'))} |"
                         f" {common.percent(row.get('agree_other'))} | {row['n']} |")
        lines.append("")
        if network in baselines:
            name, baseline = baselines[network]
            lines += [f"A flat picture of the original's mean colour ({name}, n = {baseline['n']}):"
                      f" PSNR {common.fmt(baseline['flat_psnr'], 2)} dB, SSIM {common.fmt(baseline['flat_ssim'], 3)};"
                      f" another picture of the set: {common.fmt(baseline['next_psnr'], 2)} dB,"
                      f" {common.fmt(baseline['next_ssim'], 3)}.", ""]
    return "\n".join(lines) + "\n"


def figure(tables: dict[str, dict], baselines: dict[str, dict], path: pathlib.Path) -> None:
    """One row per network: feature errors, PSNR, SSIM and class kept against the layer."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(tables), 4, figsize=(17, 3.6 * len(tables)), squeeze=False)
    for ax_row, (network, table) in zip(axes, tables.items()):
        rows = complete_rows(table)
        baseline = baselines[network][1] if network in baselines else None
        x = range(len(rows))
        judged = [(network, "agree_own"), (f"{judges.OTHER[network]} (unseen)", "agree_other")]
        panels = [("feature error %", [("printed (norms)", "printed"), ("script's (squares)", "script")], None),
                  ("PSNR dB", [("reconstruction", "psnr")], "flat_psnr"),
                  ("SSIM", [("reconstruction", "ssim")], "flat_ssim"),
                  ("class kept %", judged, None)]
        for ax, (title, series, flat) in zip(ax_row, panels):
            for label, field in series:
                ax.plot(x, [_centre(r.get(field)) for r in rows], marker="o", label=label)
            if flat is not None and baseline is not None:
                ax.axhline(baseline[flat][0], color="gray", linestyle="--", label="flat mean colour")
            if series is judged:
                ax.set_ylim(0, 100)
            ax.set_title(f"{network}: {title}", fontsize=9)
            ax.set_xticks(list(x), [r["layer"] for r in rows], rotation=70, fontsize=6)
            ax.legend(fontsize=7)
    fig.tight_layout()
    common.save_figure(fig, path)
    plt.close(fig)


def _centre(value) -> float:
    """A mean ± std pair's mean, a share as it is; missing values as NaN (a gap in the line)."""
    if value is None:
        return float("nan")
    if isinstance(value, list):
        return float("nan") if value[0] is None else value[0]
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pictures", help="the folder the tables were run on (default: ../shared/data/imagenet100)")
    parser.add_argument("--out", help="results folder (default: benchmarks/results/<folder name>)")
    args = parser.parse_args(argv)
    root = common.results_root(args)
    tables = load_tables(root)
    stored = root / "pixel_baselines.json"
    stored = json.loads(stored.read_text()) if stored.exists() else {}
    baselines = {n: found for n, table in tables.items() if (found := baseline_of(n, table, stored)) is not None}
    text = markdown(tables, baselines)
    print(text, end="")
    atomic_write_bytes(root / "seed_question.md", text.encode())
    figure(tables, baselines, root / "seed_question.png")
    return 0


if __name__ == "__main__":
    common.run_script(main, "seed_question")
