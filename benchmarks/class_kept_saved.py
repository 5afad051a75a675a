"""Class kept, judged from the reconstructions a per-layer table saved (no rerun).

    python benchmarks/class_kept_saved.py --network squeezenet1_1 --pictures skimage
    python benchmarks/class_kept_saved.py --network googlenet --pictures skimage
    python benchmarks/class_kept_saved.py --network squeezenet1_1 --check     # how far a PNG's verdict is from the run's

The scikit-image tables of `table_cnn.py` ran before the class-kept columns existed. Their
runs kept each reconstruction only as the PNG that `table_cnn.py` saves: contrast-stretched
(the paper's display, `vl_imsc`) and rounded to 8 bits. This script gives those PNGs and the
originals (warped as the table warps them) to both networks and tabulates, per layer and λ_V,
the share of pictures whose top-1 class the reconstruction keeps, by the inverted network
("own") and by the other one. A stretched PNG is not the reconstruction itself, so
``--check`` measures the difference where both exist: the ImageNet runs recorded each
reconstruction's own top-1 and saved the PNGs of their first pictures; it reports how often
the PNG's top-1 equals the recorded one.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

import common
import judges

from jaxinv import images
from jaxinv.errors import JaxinvError
from jaxinv.files import atomic_write_bytes, write_json
from jaxinv.networks.registry import spec
from jaxinv.results import read_results


def saved_runs(root: pathlib.Path, network: str) -> list[tuple[dict, list[dict], pathlib.Path]]:
    """(config, result rows, folder of saved PNGs) of every per-layer run of ``network``."""
    folder = root / "cnn" / network
    runs = []
    for path in sorted(folder.glob(f"{network}-*.jsonl")):
        pngs = path.with_suffix("")
        if pngs.is_dir():
            runs.append((*read_results(path), pngs))
    if not runs:
        raise JaxinvError(f"no per-layer runs with saved pictures in {folder}; run benchmarks/table_cnn.py"
                          f" --network {network} first")
    return runs


class Judges:
    """Both networks' top-1 classes, the originals' computed once."""

    def __init__(self, network: str, originals: dict[str, np.ndarray]):
        self.classifiers = {"own": judges.Classifier(network), "other": judges.Classifier(judges.OTHER[network])}
        names = sorted(originals)
        self.original = {who: dict(zip(names, c.top1([np.clip(originals[n], 0, 255) for n in names]).tolist()))
                         for who, c in self.classifiers.items()}

    def saved(self, pngs: list[pathlib.Path]) -> dict[str, dict[str, int]]:
        """{who: {picture name: top-1 of its saved reconstruction}}."""
        pictures = [images.load(p) for p in pngs]
        return {who: dict(zip([p.stem for p in pngs], c.top1(pictures).tolist())) for who, c in self.classifiers.items()}


def kept_rows(runs, judge: Judges) -> list[dict]:
    """Per run: the share of its saved pictures whose class each network keeps."""
    rows = []
    for config, _, folder in runs:
        pngs = sorted(p for p in folder.glob("*.png") if p.stem in judge.original["own"])
        if not pngs:
            continue
        verdict = judge.saved(pngs)
        row = {"layer": config["layer"].split(":", 1)[1], "lambda_tv": config["lambda_tv"], "n": len(pngs)}
        for who in ("own", "other"):
            row[f"agree_{who}"] = 100 * float(np.mean([verdict[who][p.stem] == judge.original[who][p.stem] for p in pngs]))
        rows.append(row)
    return rows


def check_rows(runs, judge: Judges) -> dict[str, list[int]]:
    """{who: [PNG top-1 = recorded top-1, pictures compared]} over every run that recorded both."""
    counts = {"own": [0, 0], "other": [0, 0]}
    for _, results, folder in runs:
        recorded = {r["key"]: r for r in results if "top1_own_reconstruction" in r}
        pngs = sorted(p for p in folder.glob("*.png") if p.stem in recorded)
        if not pngs:
            continue
        verdict = judge.saved(pngs)
        for who in counts:
            counts[who][0] += sum(verdict[who][p.stem] == recorded[p.stem][f"top1_{who}_reconstruction"] for p in pngs)
            counts[who][1] += len(pngs)
    return counts


def check_table(counts: dict[str, dict[str, list[int]]]) -> str:
    """Markdown of ``--check``'s records, one per network ({network: {who: [same, compared]}}):
    how often a saved PNG's top-1 equals the top-1 the run recorded."""
    lines = ["| inverted network | judged by | PNG top-1 = recorded top-1 |", "|---|---|---|"]
    for network, record in counts.items():
        for who, (same, n) in record.items():
            judge = network if who == "own" else judges.OTHER[network]
            lines.append(f"| {network} | {judge} ({who}) | {same} of {n} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="squeezenet1_1", choices=sorted(judges.OTHER))
    parser.add_argument("--pictures", help="the pictures the table ran on: a folder or 'skimage'"
                                           " (default: ../shared/data/imagenet100)")
    parser.add_argument("--out", help="results folder of that table (default: as table_cnn.py's)")
    parser.add_argument("--check", action="store_true",
                        help="compare the PNGs' top-1 with the one the run recorded (runs on a folder only)")
    args = parser.parse_args(argv)
    root = common.results_root(args)
    runs = saved_runs(root, args.network)
    size = spec(args.network).input_size
    originals = dict(common.load_image_set(common.picture_folder(args), size=(size, size)))
    judge = Judges(args.network, originals)
    if args.check:
        counts = check_rows(runs, judge)
        for who, (same, n) in counts.items():
            print(f"{args.network}, judged by {who} network: PNG top-1 = recorded top-1 for {same} of {n}")
        write_json(root / "cnn" / f"class-kept-saved-check-{args.network}.json", counts)
        return 0
    order = {name: i for i, name in enumerate(spec(args.network).layers)}
    rows = sorted(kept_rows(runs, judge), key=lambda r: (order.get(r["layer"], len(order)), r["lambda_tv"]))
    lines = ["| layer | λ_V | class kept, own % | class kept, other % | n |", "|---|---|---|---|---|",
             *(f"| {r['layer']} | {r['lambda_tv']:g} | {r['agree_own']:.0f} | {r['agree_other']:.0f} | {r['n']} |"
               for r in rows)]
    print("\n".join(lines))
    atomic_write_bytes(root / "cnn" / f"class-kept-saved-{args.network}.md", ("\n".join(lines) + "\n").encode())
    write_json(root / "cnn" / f"class-kept-saved-{args.network}.json", rows)
    return 0


if __name__ == "__main__":
    common.run_script(main, "class_kept_saved")
