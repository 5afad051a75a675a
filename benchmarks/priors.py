"""The image priors side by side on one protocol (issue #16): inversion quality and cost per prior.

For each layer (SqueezeNet v1.1 fire3, fire7, pool10; GoogLeNet conv2/3x3, inception_4a,
loss3/classifier) and each prior of `jaxinv.core.priors` (paper, ijcv, lucid, maco, dip), the
first ``--limit`` shared ImageNet-100 pictures in file-name order (DIP on the first
``--dip-limit``) are inverted with seed ``--seed`` (`jaxinv.invert_batch` with ``prior=NAME``: every
prior through the one runner, so their seconds compare; each prior's own schedule; ``--shorten``
scales every stage's iterations for a quick look). Per inversion:

- the feature error as the CVPR 2015 tables print it, ‖Φ(x*) − Φ0‖ / N₁ with N₁ the mean
  pairwise distance of the layer's codes over the pictures scored (`jaxinv.metrics`);
- PSNR and SSIM of the reconstruction against the picture the network saw;
- top-1 agreement (reconstruction vs original) of the inverted network and of the other one
  (GoogLeNet judges SqueezeNet and the reverse: a network no optimisation has seen);
- seconds (compilation included, as a user waits for it).

And per network and prior, the ten classes of ``benchmarks/maximization.py`` (`judges.CLASSES`,
Simonyan et al. 2014, Fig. 1) maximised in one program (`jaxinv.maximize` of
`jaxinv.core.objectives.class_logit` objectives with ``prior=``: the prior's
parametrisation, optimiser and schedule on −⟨Φ(x), e⟩ + its regularisers, leaky ReLUs of
slope 0.05 as the authors'; ``ijcv`` is the authors' preset, 300 steps), judged by the network
itself (top-1) and by the other network (is the class in its top-5?).

Rows are JSON lines, resumable (`jaxinv.results.ResultsFile`), under
benchmarks/results/priors/; the reconstructions are PNGs next to them (not in git); the tables
go to ``priors.md`` (with DIP: every prior again on DIP's pictures only; each layer's N₁ of the
error measures' normalisers to ``normalisers.json``) and the figure (one picture, every prior, three depths)
to ``priors.png``, each with every prior recorded, whichever ``--priors`` a run adds (the
Results pages show the tables: ``python scripts/results_pages.py``). ``--table-only`` adds
no results (it reads while a run may append) and makes the figure's missing PNGs again::

    nice -n 10 python benchmarks/priors.py --limit 2 --layers squeezenet1_1:fire3,squeezenet1_1:fire7 --shorten 0.25
    python benchmarks/priors.py --table-only
"""

from __future__ import annotations

import pathlib
import sys
import time
from collections.abc import Mapping

import jax
import numpy as np

import common
import judges
import path_check
import jaxinv
from judges import CLASSES
from jaxinv import images, maximize, metrics, scores
from jaxinv.cli import ArgumentParser, number, positive, seed_number
from jaxinv.core import default_schedule
from jaxinv.core.objectives import class_logit
from jaxinv.core.visualization import MAXIMIZATION_ITERATIONS
from jaxinv.errors import JaxinvError
from jaxinv.files import atomic_write_bytes, write_json
from jaxinv.plan import logits_layer
from jaxinv.results import ResultsFile

LAYERS = ("squeezenet1_1:fire3", "squeezenet1_1:fire7", "squeezenet1_1:pool10",
          "googlenet:conv2/3x3", "googlenet:inception_4a", "googlenet:loss3/classifier")
OUT = common.REPO / "benchmarks" / "results" / "priors"
#: The priors compared: each a different image model. ``fast`` is left out: it is the paper's
#: objective on a quicker path, compared with the paper's by benchmarks/time_to_quality.py.
COMPARED = ("paper", "ijcv", "lucid", "maco", "dip")
COLUMNS = ("error", "psnr", "ssim", "own_top1", "other_top1", "seconds")


def parse(argv):
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=positive(int, maximum=100), default=10, help="pictures scored (first N)")
    parser.add_argument("--dip-limit", type=number(int, minimum=0, maximum=100), default=5,
                        help="pictures DIP inverts (first N; it costs minutes each on a CPU)")
    parser.add_argument("--layers", default=",".join(LAYERS), help="comma-separated NETWORK:LAYER")
    parser.add_argument("--classes", default=",".join(judges.OTHER),
                        help="comma-separated networks whose ten classes each prior maximises ('' for none)")
    parser.add_argument("--class-batch", type=positive(int, maximum=10), default=10,
                        help="classes maximised per compiled program (a smaller batch writes its rows sooner)")
    parser.add_argument("--priors", default=",".join(COMPARED),
                        help="comma-separated prior names to run (the tables and figures show every prior recorded)")
    parser.add_argument("--shorten", type=positive(float, maximum=1.0), default=1.0,
                        help="scale every stage's iterations (1: each prior's own schedule)")
    parser.add_argument("--seed", type=seed_number, default=0, help="jax.random.key seed")
    parser.add_argument("--out", default=str(OUT), help="results folder")
    parser.add_argument("--no-redraw", action="store_true",
                        help="do not make the figure's missing reconstructions again (DIP's take minutes each)")
    parser.add_argument("--table-only", action="store_true",
                        help="add no results: rebuild the tables and figures from the JSON lines already written"
                             " (the figure's reconstructions missing from a fresh checkout are made again)")
    args = parser.parse_args(argv)
    args.layers = [v for v in args.layers.split(",") if v]
    args.priors = args.priors.split(",")
    args.classes = [v for v in args.classes.split(",") if v]
    for network in args.classes:
        if network not in judges.OTHER:
            parser.error(f"--classes: unknown network {network!r}; use {' or '.join(judges.OTHER)}")
    for name in args.priors:
        if name not in COMPARED:
            parser.error(f"--priors: unknown prior {name!r}; use {','.join(COMPARED)}")
    for layer in args.layers:
        if layer.partition(":")[0] not in judges.OTHER or not layer.partition(":")[2]:
            parser.error(f"--layers: {layer!r} is not NETWORK:LAYER of {' or '.join(judges.OTHER)}")
    return args


def schedule_of(rep, name: str, shorten: float):
    """The prior's own schedule, its stages' iterations × ``shorten``."""
    return default_schedule(name, rep).shortened(shorten)


def invert_one(rep, picture, name: str, *, seed: int, shorten: float) -> tuple[np.ndarray, float, float]:
    """(reconstruction picture, ‖Φ(x*) − Φ0‖, seconds) of one inversion under prior ``name``."""
    started = time.perf_counter()
    result = jaxinv.invert_batch(rep, [picture], prior=name, key=[jax.random.key(seed)],
                                 schedule=schedule_of(rep, name, shorten))
    seconds = time.perf_counter() - started
    distance = float(np.linalg.norm(np.ravel(result.codes[0, 0]) - np.ravel(result.targets[0])))
    return result.images[0, 0], distance, seconds


def picture_path(out: pathlib.Path, layer: str, name: str, picture: str) -> pathlib.Path:
    return out / "pictures" / layer.replace(":", "-").replace("/", "_") / name / f"{picture}.png"


def run_layer(layer: str, pictures, args, results: ResultsFile, judges_: dict) -> None:
    """Every prior's inversions of one layer not yet in ``results``."""
    rep = common.representation(layer)
    network = layer.partition(":")[0]
    own, other = judges_[network], judges_[judges.OTHER[network]]
    out = pathlib.Path(args.out)
    for name in args.priors:
        count = min(args.limit, args.dip_limit) if name == "dip" else args.limit
        for picture_name, picture in pictures[:count]:
            key = f"{layer}|{name}|{picture_name}"
            if key in results.done():
                continue
            reconstruction, distance, seconds = invert_one(rep, picture, name, seed=args.seed, shorten=args.shorten)
            reference = np.clip(rep.deprocess(rep.preprocess(picture)), 0, 255)
            images.save_png(picture_path(out, layer, name, picture_name), reconstruction)
            tops = {j: judge.top1([reference, reconstruction]) for j, judge in (("own", own), ("other", other))}
            results.append([{"key": key, "layer": layer, "prior": name, "picture": picture_name,
                             "distance": distance, "psnr": scores.psnr(reconstruction, reference),
                             "ssim": scores.ssim(reconstruction, reference),
                             "own_top1": bool(tops["own"][0] == tops["own"][1]),
                             "other_top1": bool(tops["other"][0] == tops["other"][1]), "seconds": seconds}])
            print(f"{key}: distance {distance:.4g}, {seconds:.0f} s", flush=True)


def class_key(network: str, name: str, class_name: str) -> str:
    """The results key of one class picture of ``network`` under prior ``name``."""
    return f"{network}|class|{name}|{class_name}"


def run_classes(network: str, name: str, args, results: ResultsFile, judges_: dict) -> None:
    """The ten classes maximised under prior ``name``, ``--class-batch`` of them per program, judged
    by both networks; each batch's rows are written when it ends (a class's result does not depend
    on its batch: every element starts from the same draws of the key)."""
    folder = pathlib.Path(args.out) / "pictures" / "classes" / network / name
    # a class recorded but whose PNG is gone (a fresh checkout) is made again, for its scores, and its row replaced
    todo = [(class_name, unit) for class_name, unit in CLASSES.items()
            if class_key(network, name, class_name) not in results.done() or not (folder / f"{unit}.png").is_file()]
    if not todo:
        return
    rep = common.representation(f"{network}:{logits_layer(network)}")
    if name == "ijcv":
        length = {"iterations": max(1, round(MAXIMIZATION_ITERATIONS * args.shorten))}
    else:
        length = {"schedule": schedule_of(rep, name, args.shorten)}
    for start in range(0, len(todo), args.class_batch):
        batch = todo[start:start + args.class_batch]
        objectives = [class_logit(unit) for _, unit in batch]
        found = maximize(rep, objectives, key=jax.random.key(args.seed), prior=name, **length)
        shown = [found.images[b, 0] for b in range(len(batch))]
        own, other = judges.judge_classes(judges_, network, shown)
        recorded = {r["key"]: r for r in results.rows if r.get("what") == "class"}
        rows, remade = [], []
        for b, (class_name, unit) in enumerate(batch):
            images.save_png(folder / f"{unit}.png", shown[b])
            row = {"key": class_key(network, name, class_name), "what": "class", "network": network,
                   "prior": name, "unit": unit, "class_name": class_name, "relative": float(found.relative[b, 0]),
                   "own_top1": int(own[b]), "other_top5": [int(v) for v in other[b]],
                   "seconds": found.seconds / len(batch)}
            if row["key"] not in recorded:
                rows.append(row)
            else:  # its picture was gone: the row follows the picture made again
                remade.append(row)
                if verdicts(recorded[row["key"]]) != verdicts(row):
                    print(f"{row['key']}: made again, judged otherwise than recorded", flush=True)
        if rows:
            results.append(rows)
        if remade:
            results.replace(remade)
        hits = sum(int(own[b]) == unit for b, (_, unit) in enumerate(batch)), sum(
            unit in other[b] for b, (_, unit) in enumerate(batch))
        print(f"{network} classes, {name}: {', '.join(c for c, _ in batch)}: own top-1 {hits[0]}/{len(batch)},"
              f" other top-5 {hits[1]}/{len(batch)} ({found.seconds:.0f} s)", flush=True)


def verdicts(row: dict) -> tuple[bool, bool]:
    """(own top-1 is the class, the other's top-5 has it) of a class row."""
    return row.get("own_top1") == row.get("unit"), row.get("unit") in row.get("other_top5", ())


def score_classes(network: str, name: str, args, score_file: ResultsFile) -> None:
    """The other network's scores of the ten class pictures of one prior (`judges.score_set`: transferability,
    plausibility, KID against the shared 100) and their own network's path check (`path_check.class_paths`),
    one row per set, once its ten pictures are all on disk."""
    key = f"{network}|{name}"
    paths = [pathlib.Path(args.out) / "pictures" / "classes" / network / name / f"{unit}.png" for unit in CLASSES.values()]
    if key in score_file.done() or not all(path.is_file() for path in paths):
        return
    pictures = [images.load(path) for path in paths]
    found = judges.score_set(pictures, network, labels=list(CLASSES.values()), seed=args.seed)
    found["path"] = path_check.class_paths(network, pictures, list(CLASSES.values()))
    score_file.append([{"key": key, "network": network, "prior": name, **found}])
    print(f"{network} classes, {name}: transferability {found['transferability']:.2f}, plausibility"
          f" {found['plausibility']:.3f}, KID {found['kid']:.3g} ± {found['kid_standard_error']:.2g}", flush=True)


def class_table(rows: list[dict], networks, priors, set_scores: list[dict] = ()) -> str:
    """Markdown: per network and prior, the ten classes' recognition counts, value and seconds, and the set's
    scores (`score_classes`' rows in ``set_scores``; dashes where a set was not scored)."""
    lines = ["| network | prior | n | own top-1 | other's top-5 | value / best picture (median) | s / class"
             " | other's plausibility | other's KID ± s.e. | path summary (median) | path flags |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    scored = {r["key"]: r for r in set_scores}
    for network in networks:
        for name in priors:
            mine = [r for r in rows if r.get("what") == "class" and r["network"] == network and r["prior"] == name]
            if mine:
                lines.append(f"| {network} | {name} | {len(mine)} | {sum(r['own_top1'] == r['unit'] for r in mine)}"
                             f" | {sum(r['unit'] in r['other_top5'] for r in mine)}"
                             f" | {np.median([r['relative'] for r in mine]):.1f} |"
                             f" {np.mean([r['seconds'] for r in mine]):.0f}"
                             f" | {judges.score_columns(scored.get(f'{network}|{name}'), 'plausibility', 'kid')}"
                             f" | {judges.path_columns(scored.get(f'{network}|{name}'))} |")
    return "\n".join(lines) + "\n" if len(lines) > 2 else ""


def set_normalisers(layer: str, pictures) -> dict:
    """What the set's error measures divide by, from the layer's codes Φ0_i of the scored pictures:
    N₁ (``n1``, the printed metric's), N₂ (``n2``, the authors' script's squared one; both
    `jaxinv.metrics`) and each picture's ‖Φ0_i‖ (``norms``, the IJCV error's)."""
    rep = common.representation(layer)
    codes = [np.asarray(rep.features(rep.params, rep.preprocess(p))) for _, p in pictures]
    return {"n1": metrics.mean_pairwise_distance(codes), "n2": metrics.mean_pairwise_sq_distance(codes),
            "norms": {name: float(np.linalg.norm(code)) for (name, _), code in zip(pictures, codes)}}


def write_normalisers(out: pathlib.Path, layers, pictures) -> dict[str, dict]:
    """`set_normalisers` of each layer over ``pictures``, written to ``normalisers.json`` beside the rows
    (with the pictures' names), so that the tables can be built again from JSON alone, without the
    networks (the results pages do: scripts/results_pages.py)."""
    found = {layer: set_normalisers(layer, pictures) for layer in layers}
    write_json(out / "normalisers.json", {"pictures": [name for name, _ in pictures], "normalisers": found})
    return found


def _error_columns(mine: list[dict], found: dict) -> str:
    """The three feature errors of rows, means over the pictures: the CVPR tables' printed ‖d‖/N₁ (%),
    the authors' script's ‖d‖²/N₂ (%) and IJCV's ‖d‖²/‖Φ0‖², d = Φ(x*) − Φ0 (`jaxinv.scores`' definitions:
    paper_printed_errors, paper_script_errors, ijcv_error)."""
    distances = np.array([r["distance"] for r in mine], np.float64)
    norms = np.array([found["norms"][r["picture"]] for r in mine], np.float64)
    return (f"{100 * np.mean(distances) / found['n1']:.1f} % | {100 * np.mean(distances ** 2) / found['n2']:.2f} %"
            f" | {np.mean(distances ** 2 / norms ** 2):.3g}")


def table(rows: list[dict], layers, priors, pictures, *, on: str | None = None,
          normalisers: Mapping[str, dict] | None = None) -> str:
    """Markdown: one line per layer and prior, the means over its pictures (n says how many).

    ``on``: at each layer only the pictures that prior inverted (DIP's first few), so that
    every prior is averaged over the same ones; the normalisers are over all ``pictures`` either
    way, taken from ``normalisers`` (layer → `set_normalisers`' dict, `write_normalisers`) where
    given, else computed."""
    names = [n for n, _ in pictures]
    lines = ["| layer | prior | n | printed error ‖d‖/N₁ | squared ‖d‖²/N₂ | IJCV ‖d‖²/‖Φ0‖² | PSNR (dB) | SSIM"
             " | own top-1 | other top-1 | s / inversion |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for layer in layers:
        picked = [r for r in rows if r.get("layer") == layer and r["picture"] in names]
        if on is not None:
            theirs = {r["picture"] for r in picked if r["prior"] == on}
            picked = [r for r in picked if r["picture"] in theirs]
        if not picked:
            continue
        found = normalisers[layer] if normalisers is not None else set_normalisers(layer, pictures)
        for name in priors:
            mine = [r for r in picked if r["prior"] == name]
            if not mine:
                continue
            mean = lambda f: float(np.mean([f(r) for r in mine]))  # noqa: E731
            lines.append(f"| {layer} | {name} | {len(mine)} | {_error_columns(mine, found)}"
                         f" | {mean(lambda r: r['psnr']):.2f} | {mean(lambda r: r['ssim']):.3f}"
                         f" | {sum(r['own_top1'] for r in mine)}/{len(mine)}"
                         f" | {sum(r['other_top1'] for r in mine)}/{len(mine)} | {mean(lambda r: r['seconds']):.0f} |")
    return "\n".join(lines) + "\n" if len(lines) > 2 else ""


def _grid(tiles: list[list[pathlib.Path]], side: int, path: pathlib.Path) -> pathlib.Path | None:
    """Rows of PNG tiles, each resized to side × side in a 2-pixel white frame, as one PNG at ``path``;
    nothing is written (None) when there are none or one is missing (the pictures are not in git)."""
    if not tiles or not all(t.is_file() for row in tiles for t in row):
        return None
    framed = [[np.pad(images.resize(images.load(t), (side, side)), ((2, 2), (2, 2), (0, 0)), constant_values=255)
               for t in row] for row in tiles]
    images.save_png(path, np.concatenate([np.concatenate(row, 1) for row in framed], 0))
    return path


def figure(out: pathlib.Path, layers, priors, picture_name: str, done: set[str]) -> pathlib.Path | None:
    """One picture under every prior done at the first three layers (rows), those layers (columns);
    nothing is written while one of its PNGs is missing (`redraw` makes them again)."""
    shown = list(layers[:3])
    drawn = [name for name in priors if shown and all(f"{layer}|{name}|{picture_name}" in done for layer in shown)]
    return _grid([[picture_path(out, layer, name, picture_name) for layer in shown] for name in drawn], 160,
                 out / "priors.png")


def redraw(out: pathlib.Path, layers, priors, picture, args, done: set[str]) -> None:
    """Invert the figure's picture again wherever a result is recorded but its PNG is missing."""
    picture_name, pixels = picture
    for layer in layers[:3]:
        missing = [name for name in priors if f"{layer}|{name}|{picture_name}" in done
                   and not picture_path(out, layer, name, picture_name).is_file()]
        rep = common.representation(layer) if missing else None
        for name in missing:
            reconstruction, _, _ = invert_one(rep, pixels, name, seed=args.seed, shorten=args.shorten)
            images.save_png(picture_path(out, layer, name, picture_name), reconstruction)


def class_figure(out: pathlib.Path, network: str, priors, done: set[str]) -> pathlib.Path | None:
    """The ten class pictures of ``network`` (columns) under each prior that made them all (rows)."""
    drawn = [name for name in priors if all(class_key(network, name, c) in done for c in CLASSES)]
    return _grid([[out / "pictures" / "classes" / network / name / f"{unit}.png" for unit in CLASSES.values()]
                  for name in drawn], 112, out / f"classes_{network}.png")


def run_all(args, pictures, results: ResultsFile, score_file: ResultsFile) -> None:
    """The inversions of every layer, then the class pictures and their scores, that ``results`` and
    ``score_file`` lack."""
    networks = {layer.partition(":")[0] for layer in args.layers} | set(args.classes)
    classifiers = {n: judges.Classifier(n) for n in networks | {judges.OTHER[n] for n in networks}}
    for layer in args.layers:
        run_layer(layer, pictures, args, results, classifiers)
    for network in args.classes:
        for name in args.priors:
            run_classes(network, name, args, results, classifiers)
            score_classes(network, name, args, score_file)


def main(argv=None) -> None:
    args = parse(argv)
    pictures = common.load_image_set(common.default_pictures(), size=None, limit=args.limit)
    out = pathlib.Path(args.out)
    path = out / "priors.jsonl"
    if args.table_only and not path.is_file():
        raise JaxinvError(f"--table-only: no results at {path}; run without --table-only first")
    # read-only: a table may be built while a run appends
    results = ResultsFile(path, {"seed": args.seed, "shorten": args.shorten}, read_only=args.table_only)
    scores_path, config = out / "class_scores.jsonl", {"seed": args.seed, "shorten": args.shorten}
    if args.table_only:
        score_rows = ResultsFile(scores_path, config, read_only=True).rows if scores_path.is_file() else []
    else:
        score_file = ResultsFile(scores_path, config)
        run_all(args, pictures, results, score_file)
        score_rows = score_file.rows
    shown = COMPARED  # every prior recorded, whichever this run was asked to add
    recorded = [layer for layer in args.layers if any(r.get("layer") == layer for r in results.rows)]
    found = write_normalisers(out, recorded, pictures) if recorded else {}
    tables = {"inversions": table(results.rows, args.layers, shown, pictures, normalisers=found),
              "dip-pictures": table(results.rows, args.layers, shown, pictures, on="dip", normalisers=found),
              "classes": class_table(results.rows, args.classes, shown, score_rows)}
    text = "\n".join(t for t in (tables["inversions"],
                                  tables["dip-pictures"] and f"Every prior on the pictures DIP inverted:\n\n"
                                                             f"{tables['dip-pictures']}",
                                  tables["classes"]) if t)
    command = "python benchmarks/priors.py " + " ".join(sys.argv[1:] if argv is None else argv)
    atomic_write_bytes(out / "priors.md", (f"`{command}`\n\n{common.environment_line()}\n\n{text}").encode())
    print(text)
    if not args.no_redraw:
        redraw(out, args.layers, shown, pictures[0], args, results.done())
    drawn = figure(out, args.layers, shown, pictures[0][0], results.done())
    if drawn:
        print(f"figure: {drawn} (columns {', '.join(args.layers[:3])})")
    for network in args.classes:
        drawn = class_figure(out, network, shown, results.done())
        if drawn:
            print(f"figure: {drawn} (columns {', '.join(CLASSES)})")


if __name__ == "__main__":
    common.run_script(main, "priors")
