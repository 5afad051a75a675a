"""Activation maximisation and caricatures on SqueezeNet v1.1 and GoogLeNet (issue #15, items 5–6).

Three experiments per network, all with `jaxinv.maximize` / `jaxinv.caricature` (the authors'
IJCV presets, ``jaxinv.core.visualization``; objectives of `jaxinv.core.objectives`), scored
with the network as trained:

- **Channels at four depths**: the centre neuron of channels 0 … ``--channels``−1 (the first
  ones, not picked after looking) of SqueezeNet fire3, fire5, fire7, fire9 ``expand3x3`` and
  GoogLeNet ``conv2/3x3``, ``inception_3a/3x3``, ``inception_4d/5x5``, ``inception_5b/3x3``,
  all before their ReLUs: early, two middle and the last block of each network, and the layers
  whose per-channel maxima over the 100 shared pictures are measured
  (``jaxinv/data/channel_extremes.json``), which the authors' weight 10000/(rf² m) needs. One
  compiled program per layer: the channels are the vmapped batch.
- **Ten classes** (`judges.CLASSES`), chosen before any result was seen: those of Simonyan,
  Vedaldi & Zisserman 2014 ("Deep inside convolutional networks", Fig. 1), the field's standard
  reference set —
  dumbbell 543, cup 968, dalmatian 251, bell pepper 945, lemon 951, Siberian husky 250,
  washing machine ("washer", 897), computer keyboard 508, kit fox 278, goose 99 (0-based line
  numbers of ``synset_words.txt``). Each visualisation is judged by its own network (top-1
  should be the class) and by the *other* one (GoogLeNet judges SqueezeNet's and the reverse:
  is the class in its top-5?), which no optimisation saw.
- **Caricatures** of the first three shared ImageNet-100 pictures (file-name order) at three
  depths per network (SqueezeNet fire3, fire5, fire9 ``concat``; GoogLeNet ``conv2/3x3``,
  ``inception_3b/output``, ``inception_4d/output``).

Numbers: a unit's value over its largest value on the 100 pictures (`Visualization.relative`;
> 1 beats every natural picture), a caricature's ⟨Φ(x), e⟩ over the picture's own. Settings
(``--settings``): ``authors`` (leaky ReLUs, slope 0.05), ``no-leak`` (slope 0), ``class-x10``
(classes only: m divided by 10, a ten times stronger data term). ``--iterations-scale`` and
``--image-size`` (an upper bound on the input's side of channels and caricatures; default the
authors' size rule) run it at reduced cost; ``--prior`` (default ``ijcv``, the authors') runs the
channels and classes under another prior, ``fast`` for one (its own schedule × the scale, its own
results file). Classes always run at the network's own input size (227, 224), where the judges
see them: a smaller visualisation warped up to it is another picture; each scale writes its own
resumable JSON-lines file under benchmarks/results/maximization/, the table ``maximization.md``
and PNG figures next to it::

    nice -n 10 python benchmarks/maximization.py --networks squeezenet1_1 --iterations-scale 0.34 --image-size 128
"""

from __future__ import annotations

import pathlib
import sys

import jax
import numpy as np

import common
import judges
import path_check
import jaxinv
from jaxinv import caricature, images, maximize
from jaxinv.cli import ArgumentParser, number, positive, seed_number
from jaxinv.core.objectives import class_logit, neuron
from jaxinv.core.priors import PRIOR_NAMES, default_schedule
from jaxinv.core.visualization import MAXIMIZATION_ITERATIONS
from jaxinv.files import atomic_write_bytes
from jaxinv.plan import input_size, logits_layer, unit_extremes
from jaxinv.results import ResultsFile

#: Simonyan, Vedaldi & Zisserman 2014, Fig. 1: class name → 0-based index in synset_words.txt.
CLASSES = judges.CLASSES
CHANNEL_LAYERS = {"squeezenet1_1": ("fire3/expand3x3", "fire5/expand3x3", "fire7/expand3x3", "fire9/expand3x3"),
                  "googlenet": ("conv2/3x3", "inception_3a/3x3", "inception_4d/5x5", "inception_5b/3x3")}
CARICATURE_LAYERS = {"squeezenet1_1": ("fire3/concat", "fire5/concat", "fire9/concat"),
                     "googlenet": ("conv2/3x3", "inception_3b/output", "inception_4d/output")}
#: Setting → (relu_slope, divisor of the class maxima m: a stronger class term).
SETTINGS = {"authors": (0.05, 1.0), "no-leak": (0.0, 1.0), "class-x10": (0.05, 10.0)}
OUT = common.REPO / "benchmarks" / "results" / "maximization"
#: The experiments, as ``--parts`` names them.
PARTS = ("channels", "classes", "caricatures")
AUTHORS_ITERATIONS = MAXIMIZATION_ITERATIONS  # 300


def parse(argv):
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default=",".join(CHANNEL_LAYERS), help="comma-separated networks")
    parser.add_argument("--settings", default="authors,no-leak,class-x10",
                        help=f"comma-separated of {', '.join(SETTINGS)} (class-x10: classes only)")
    parser.add_argument("--channels", type=positive(int, maximum=64), default=6, help="channels 0..N-1 per layer")
    parser.add_argument("--pictures", type=number(int, minimum=0, maximum=100), default=3,
                        help="caricatures of the first N shared pictures")
    parser.add_argument("--iterations-scale", type=positive(float, maximum=10), default=1.0,
                        help="× the authors' 300 iterations")
    parser.add_argument("--image-size", type=positive(int, maximum=4096),
                        help="largest input side of channels and caricatures (default: the authors' size rule; classes: never capped)")
    parser.add_argument("--parts", help=f"comma-separated experiments to run, of {', '.join(PARTS)} (default all;"
                        " channels,classes with another --prior; the tables show every row recorded)")
    parser.add_argument("--prior", choices=PRIOR_NAMES, default="ijcv",
                        help="image prior of channels and classes (default ijcv, the authors'; fast: the paper's"
                             " regularisers, Adam on the spectrum; caricatures stay the authors')")
    parser.add_argument("--seed", type=seed_number, default=0, help="jax.random.key seed")
    parser.add_argument("--out", default=str(OUT), help="results folder")
    args = parser.parse_args(argv)
    args.networks, args.settings = args.networks.split(","), args.settings.split(",")
    for name in args.networks:
        if name not in CHANNEL_LAYERS:
            parser.error(f"--networks: unknown {name!r}; use {','.join(CHANNEL_LAYERS)}")
    for name in args.settings:
        if name not in SETTINGS:
            parser.error(f"--settings: unknown {name!r}; use {','.join(SETTINGS)}")
    args.parts = args.parts.split(",") if args.parts else [p for p in PARTS if args.prior == "ijcv" or p != "caricatures"]
    for name in args.parts:
        if name not in PARTS:
            parser.error(f"--parts: unknown {name!r}; use {','.join(PARTS)}")
    if args.prior != "ijcv" and "caricatures" in args.parts:
        parser.error(f"--parts caricatures: a caricature runs the authors' preset whatever the prior; drop it with"
                     f" --prior {args.prior} (--prior ijcv's run makes them)")
    return args


def scale_name(args) -> str:
    """The results file's stem: one file per scale and prior, so that runs at two scales never mix."""
    stem = f"maximization_x{args.iterations_scale:g}_" + (f"s{args.image_size}" if args.image_size else "authors")
    return stem if args.prior == "ijcv" else f"{stem}_prior-{args.prior}"


def authors_iterations(args) -> int:
    """The authors' 300 steps × the scale: the ijcv prior's and every caricature's."""
    return max(1, round(AUTHORS_ITERATIONS * args.iterations_scale))


def iterations(args) -> int:
    """The steps of a channel or class run: the authors' under ijcv, else the prior's own schedule's × the scale."""
    chosen = length(args)
    return chosen["iterations"] if "iterations" in chosen else chosen["schedule"].total


def length(args) -> dict:
    """`jaxinv.maximize`'s options for the run's length under ``--prior``."""
    if args.prior == "ijcv":
        return {"iterations": authors_iterations(args)}
    return {"schedule": default_schedule(args.prior, "cnn").shortened(args.iterations_scale)}


def capped(size: int, args) -> int:
    return size if args.image_size is None else min(size, args.image_size)


def rep_of(network: str, layer: str):
    return jaxinv.cnn(network, layer=layer, weights=judges.weight_file(network))


def picture_path(folder: pathlib.Path, key: str) -> pathlib.Path:
    """A picture's file in ``folder`` (``pictures/<scale>`` of the results folder: one per scale)."""
    return folder / (key.replace("|", "-").replace("/", "_").replace(" ", "_") + ".png")


def missing(keys: list[str], results, out: pathlib.Path) -> bool:
    """Whether a result of ``keys`` is not recorded or its picture is gone (a fresh checkout: made again, for
    its scores; a recorded row is never written twice)."""
    return not set(keys) <= results.done() or not all(picture_path(out, key).is_file() for key in keys)


def record(results, rows: list[dict]) -> None:
    """Append the rows not recorded yet; a picture made again whose value differs from the record is said."""
    known = {r["key"]: r for r in results.rows if "key" in r}
    for row in rows:
        if row["key"] in known and not np.isclose(known[row["key"]]["value"], row["value"], rtol=1e-3):
            print(f"{row['key']}: made again, value {row['value']:.4g} against {known[row['key']]['value']:.4g}"
                  " recorded", flush=True)
    fresh = [row for row in rows if row["key"] not in known]
    if fresh:
        results.append(fresh)


def run_channels(network: str, layer: str, setting: str, args, results, out: pathlib.Path) -> None:
    """Channels 0..N-1 of one layer, one element each, one compiled program."""
    keys = [f"{network}|channel|{layer}|{setting}|{c}" for c in range(args.channels)]
    if not missing(keys, results, out):
        return
    slope, _ = SETTINGS[setting]
    size = capped(input_size(network, layer), args)
    found = maximize(rep_of(network, layer), [neuron(c) for c in range(args.channels)], key=jax.random.key(args.seed),
                     relu_slope=slope, prior=args.prior, image_size=size, **length(args))
    rows = []
    for c, key in enumerate(keys):
        images.save_png(picture_path(out, key), found.images[c, 0])
        rows.append({"key": key, "network": network, "what": "channel", "layer": layer, "setting": setting,
                     "unit": c, "value": float(found.values[c, 0]), "reference": float(found.reference[c]),
                     "relative": float(found.relative[c, 0]), "image_size": found.image_size,
                     "iterations": iterations(args), "seconds": found.seconds / len(keys)})
    record(results, rows)
    print(f"{network}:{layer} {setting}: relative {np.round(found.relative[:, 0], 2)} ({found.seconds:.0f} s)", flush=True)


def run_classes(network: str, setting: str, args, results, judges_: dict, out: pathlib.Path) -> None:
    """The ten classes in one program; judged by the network itself (top-1) and the other (top-5)."""
    keys = [f"{network}|class|{setting}|{name}" for name in CLASSES]
    if not missing(keys, results, out):
        return
    slope, divisor = SETTINGS[setting]
    logits = logits_layer(network)
    classes = list(CLASSES.values())
    unit_max = unit_extremes(network, logits)["max"][classes] / divisor
    size = input_size(network, logits)  # never capped: the judges see the network's own size
    found = maximize(rep_of(network, logits), [class_logit(c) for c in classes], key=jax.random.key(args.seed),
                     relu_slope=slope, prior=args.prior, image_size=size, unit_max=unit_max, **length(args))
    shown = [found.images[b, 0] for b in range(len(classes))]
    own, other = judges.judge_classes(judges_, network, shown)
    rows = []
    for b, (key, name) in enumerate(zip(keys, CLASSES)):
        images.save_png(picture_path(out, key), shown[b])
        # found.reference is m / divisor; relative is against the class's largest score over the 100 pictures
        largest = float(found.reference[b] * divisor)
        rows.append({"key": key, "network": network, "what": "class", "setting": setting, "unit": classes[b],
                     "class_name": name, "value": float(found.values[b, 0]), "reference": largest,
                     "relative": float(found.values[b, 0]) / largest,
                     "own_top1": int(own[b]), "other_top5": [int(v) for v in other[b]],
                     "image_size": found.image_size, "iterations": iterations(args),
                     "seconds": found.seconds / len(keys)})
    record(results, rows)
    print(f"{network} classes {setting}: own top-1 {sum(r['own_top1'] == r['unit'] for r in rows)}/10,"
          f" other top-5 {sum(r['unit'] in r['other_top5'] for r in rows)}/10 ({found.seconds:.0f} s)", flush=True)


def run_caricatures(network: str, layer: str, pictures, args, results, out: pathlib.Path) -> None:
    rep = rep_of(network, layer)
    for name, picture in pictures:
        key = f"{network}|caricature|{layer}|{name}"
        if not missing([key], results, out) and picture_path(out, f"{network}|original|{name}").is_file():
            continue
        size = capped(rep.preprocess(picture).shape[0], args)
        found = caricature(rep, picture, key=jax.random.key(args.seed), iterations=authors_iterations(args), image_size=size)
        images.save_png(picture_path(out, key), found.images[0, 0])
        shown = rep.deprocess(rep.preprocess(picture))  # the picture as the network saw it
        images.save_png(picture_path(out, f"{network}|original|{name}"), np.clip(images.resize(shown, (size, size)), 0, 255))
        record(results, [{"key": key, "network": network, "what": "caricature", "layer": layer, "picture": name,
                         "setting": "authors", "value": float(found.values[0, 0]),
                         "reference": float(found.reference[0]), "relative": float(found.relative[0, 0]),
                         "image_size": found.image_size, "iterations": authors_iterations(args), "seconds": found.seconds}])
        print(f"{key}: {found.relative[0, 0]:.2f}x the picture's own ({found.seconds:.0f} s)", flush=True)


def score_sets(network: str, rows: list[dict], scores, folder: pathlib.Path, seed: int) -> None:
    """The other network's scores (`judges.score_set`) of each set of ``network``'s pictures not scored
    yet: the ten classes of each setting (transferability, plausibility, KID; and their own network's path
    check, `path_check.class_paths`), the caricatures of each layer (against their pictures: class kept,
    similarity to the original)."""
    sets: dict[str, dict] = {}
    for row in rows:
        if row["network"] == network and row["what"] in ("class", "caricature"):
            key = f"{network}|{row['what']}|{row['setting'] if row['what'] == 'class' else row['layer']}"
            sets.setdefault(key, {"rows": [], "what": row["what"]})["rows"].append(row)
    for key, found in sets.items():
        paths = [picture_path(folder, r["key"]) for r in found["rows"]]
        originals = [picture_path(folder, f"{network}|original|{r['picture']}") for r in found["rows"]
                     if found["what"] == "caricature"]
        if key in scores.done() or not all(path.is_file() for path in paths + originals):
            continue
        pictures = [images.load(path) for path in paths]
        classes = [r["unit"] for r in found["rows"]] if found["what"] == "class" else None
        scored = judges.score_set(pictures, network, seed=seed, labels=classes,
                                  originals=[images.load(path) for path in originals] or None)
        if classes is not None:
            scored["path"] = path_check.class_paths(network, pictures, classes)
        scores.append([{"key": key, "network": network, "what": found["what"],
                        "units": [r["key"] for r in found["rows"]], **scored}])


def _spread(values) -> str:
    values = np.asarray(values, np.float64)
    return f"{values.mean():.2f} ({values.min():.2f}–{values.max():.2f})"


def _groups(rows: list[dict], kind: str, fields: tuple[str, ...]) -> dict[tuple, list[dict]]:
    """Rows of ``kind`` grouped by ``fields``, in the order first met."""
    out: dict[tuple, list[dict]] = {}
    for row in rows:
        if row.get("what") == kind:
            out.setdefault(tuple(row[f] for f in fields), []).append(row)
    return out


def table(rows: list[dict], scores: list[dict] = ()) -> str:
    """Markdown: channels, classes and caricatures, one line per (network, layer, setting); the classes'
    and caricatures' set scores (`score_sets`) from ``scores``."""
    scored = {r["key"]: r for r in scores}
    lines = ["| network | layer | setting | input | iterations | n | value / max over the 100 pictures,"
             " mean (min–max) | s / unit |", "|---|---|---|---|---|---|---|---|"]
    for (network, layer, setting), group in _groups(rows, "channel", ("network", "layer", "setting")).items():
        lines.append(f"| {network} | {layer} | {setting} | {group[0]['image_size']} | {group[0]['iterations']}"
                     f" | {len(group)} | {_spread([r['relative'] for r in group])}"
                     f" | {np.mean([r['seconds'] for r in group]):.0f} |")
    lines += ["", "| network | classes | setting | input | iterations | n | score / max over the 100 pictures,"
              " mean (min–max) | own top-1 is the class | other network's top-5 has it | other's plausibility"
              " | other's KID ± s.e. | path summary (median) | path flags |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (network, setting), group in _groups(rows, "class", ("network", "setting")).items():
        own = sum(r["own_top1"] == r["unit"] for r in group)
        other = sum(r["unit"] in r["other_top5"] for r in group)
        lines.append(f"| {network} | logits | {setting} | {group[0]['image_size']} | {group[0]['iterations']}"
                     f" | {len(group)} | {_spread([r['relative'] for r in group])} | {own}/{len(group)}"
                     f" | {other}/{len(group)} (judge: {judges.OTHER[network]})"
                     f" | {judges.score_columns(scored.get(f'{network}|class|{setting}'), 'plausibility', 'kid')}"
                     f" | {judges.path_columns(scored.get(f'{network}|class|{setting}'))} |")
    lines += ["", "| network | caricature layer | input | iterations | n | ⟨Φ(x), e⟩ / ⟨Φ0, e⟩, mean (min–max)"
              " | other's top-1 kept | other's similarity to the picture | other's plausibility |",
              "|---|---|---|---|---|---|---|---|---|"]
    for (network, layer), group in _groups(rows, "caricature", ("network", "layer")).items():
        lines.append(f"| {network} | {layer} | {group[0]['image_size']} | {group[0]['iterations']} | {len(group)}"
                     f" | {_spread([r['relative'] for r in group])}"
                     f" | {judges.score_columns(scored.get(f'{network}|caricature|{layer}'), 'class_kept', 'original_similarity', 'plausibility')} |")
    return "\n".join(lines) + "\n"


def draw(out: pathlib.Path, rows: list[dict], network: str, stem: str) -> list[pathlib.Path]:
    """The channel grid (rows: layers), the class grid and the caricatures of ``network``, as PNGs."""
    drawn = []
    by_kind = {
        "channels": ([r for r in rows if r["what"] == "channel" and r["setting"] == "authors"],
                     lambda r: f"{r['layer']} ch {r['unit']}\n{r['relative']:.2f}x max", None),
        "classes": ([r for r in rows if r["what"] == "class" and r["setting"] == "authors"],
                    lambda r: f"{r['class_name']}\nown top-1 {'yes' if r['own_top1'] == r['unit'] else 'no'},"
                              f" other top-5 {'yes' if r['unit'] in r['other_top5'] else 'no'}", 5),
        "caricatures": ([r for r in rows if r["what"] == "caricature"],
                        lambda r: f"{r['layer']}\n{r['relative']:.2f}x own", None),
    }
    folder = out / "pictures" / stem
    for kind, (picked, title, cols) in by_kind.items():
        picked = [r for r in picked if r["network"] == network and picture_path(folder, r["key"]).is_file()]
        if not picked:
            continue
        width = cols or max(len([r for r in picked if r.get("layer") == picked[0].get("layer")]), 1)
        path = out / f"{stem}_{network}_{kind}.png"
        tiles = [images.resize(images.load(picture_path(folder, r["key"])), (96, 96)) for r in picked]
        titles = [title(r) for r in picked]
        if kind == "caricatures":  # a first row of the pictures themselves
            originals = [picture_path(folder, f"{network}|original|{r['picture']}") for r in picked[:width]]
            if all(p.is_file() for p in originals):
                tiles = [images.resize(images.load(p), (96, 96)) for p in originals] + tiles
                titles = [f"picture\n{r['picture'][:18]}" for r in picked[:width]] + titles
        common.save_grid(path, tiles, titles, cols=width,
                         suptitle=f"{network}: {kind} ({picked[0]['iterations']} iterations, contrast-stretched)")
        drawn.append(path)
    return drawn


def main(argv=None) -> int:
    args = parse(argv)
    out = pathlib.Path(args.out)
    stem = scale_name(args)
    settings = {"iterations_scale": args.iterations_scale, "image_size": args.image_size, "seed": args.seed,
                "channels": args.channels}
    results = ResultsFile(out / f"{stem}.jsonl", settings if args.prior == "ijcv" else {**settings, "prior": args.prior})
    pictures = common.load_image_set(common.default_pictures(), size=None, limit=args.pictures) if args.pictures else []
    wanted = set(args.networks) | {judges.OTHER[n] for n in args.networks}
    classifiers = {n: judges.Classifier(n) for n in wanted}
    folder = out / "pictures" / stem  # one folder of pictures per scale
    scores = ResultsFile(out / f"{stem}_scores.jsonl", {"seed": args.seed})
    for network in args.networks:  # the authors' preset of all three first, then the variants
        first, rest = [s for s in args.settings if s == "authors"], [s for s in args.settings if s != "authors"]
        for setting in first:
            for layer in CHANNEL_LAYERS[network] if "channels" in args.parts else ():
                run_channels(network, layer, setting, args, results, folder)
            if "classes" in args.parts:
                run_classes(network, setting, args, results, classifiers, folder)
        for layer in CARICATURE_LAYERS[network] if "caricatures" in args.parts else ():
            run_caricatures(network, layer, pictures, args, results, folder)
        score_sets(network, results.rows, scores, folder, args.seed)
        write_outputs(out, stem, results.rows, scores.rows, argv)
        for setting in rest:
            if "classes" in args.parts:
                run_classes(network, setting, args, results, classifiers, folder)
            for layer in CHANNEL_LAYERS[network] if setting == "no-leak" and "channels" in args.parts else ():
                run_channels(network, layer, setting, args, results, folder)
            score_sets(network, results.rows, scores, folder, args.seed)
            write_outputs(out, stem, results.rows, scores.rows, argv)
    return 0


def write_outputs(out: pathlib.Path, stem: str, rows: list[dict], scores: list[dict], argv) -> None:
    text = table(rows, scores)
    command = "python benchmarks/maximization.py " + " ".join(sys.argv[1:] if argv is None else argv)
    atomic_write_bytes(out / f"{stem}.md", f"`{command}`\n\n{common.environment_line()}\n\n{text}".encode())
    print(text)
    for network in dict.fromkeys(r["network"] for r in rows):
        for path in draw(out, rows, network, stem):
            print(f"figure: {path}")


if __name__ == "__main__":
    common.run_script(main, "maximization")
