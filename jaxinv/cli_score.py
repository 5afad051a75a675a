"""``jaxinv score RUN_FOLDER --judge NETWORK:LAYER``: a judge network's scores of a run's pictures.

    jaxinv invert photo.jpg --rep hog --out run1
    jaxinv score run1 --judge squeezenet1_1:pool10 --limit 20
    jaxinv score max1 --judge googlenet:pool5/7x7_s1 --reference my_pictures/

The folder is one that ``jaxinv invert``, ``maximize`` or ``caricature`` wrote: its
``summary.json`` says which pictures are results (``reconstruction_S.png``; a visualisation's
``pictures``; never the stretched copies or the grid) and whether there is an ``original.png``.
`jaxinv.scores.score_pictures` scores them against the reference pictures (default the shared
100 ImageNet pictures, the first ``--limit``); the scores go into ``summary.json`` under
``scores`` → the judge's name (scoring again with a judge replaces its entry; other judges'
stay), written atomically, and a table is printed. A folder it cannot score is refused with one
line saying why (exit 2). Like the other CLI modules this one imports no JAX until it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
from collections.abc import Callable
from typing import Any

__all__ = ["DEFAULT_LIMIT", "RunPictures", "read_run", "register"]

#: Reference pictures scored against unless ``--limit`` says otherwise (all of the shared 100).
DEFAULT_LIMIT = 100


@dataclasses.dataclass(frozen=True)
class RunPictures:
    """What a run folder holds to score: its kind, its result pictures, their labels and the original.

    Attributes:
      kind: ``invert``, ``maximize`` or ``caricature``.
      files: the result pictures (``reconstruction_S.png``, ``NAME.png`` of a visualisation's ``pictures``).
      labels: the class each picture was made for (``maximize --class C``), else None.
      original: ``original.png`` for an inversion or a caricature, else None.
      summary: the run's ``summary.json``, as read.
    """

    kind: str
    files: tuple[pathlib.Path, ...]
    labels: tuple[int, ...] | None
    original: pathlib.Path | None
    summary: dict[str, Any]


def register(sub: Any, *, positive: Callable[..., Callable[[str], Any]], seed_number: Callable[[str], int]) -> None:
    """Add ``score`` to ``sub`` (the `jaxinv.cli` parser's subparsers); its helpers are passed in."""
    p = sub.add_parser("score", help="score a run's pictures with a judge network; the scores go into its"
                                     " summary.json")
    p.add_argument("run", metavar="RUN_FOLDER", help="a folder jaxinv invert, maximize or caricature wrote")
    p.add_argument("--judge", required=True, metavar="NETWORK:LAYER",
                   help="the network layer that judges, e.g. squeezenet1_1:pool10 or googlenet:pool5/7x7_s1 (its"
                        " class scores give transferability; `jaxinv reps` lists the layers)")
    p.add_argument("--weights", help="the judge's weight file; default: the cache's, else the shared folder's"
                                     " ($JAXINV_SHARED_WEIGHTS)")
    p.add_argument("--reference", metavar="FOLDER",
                   help="natural pictures to compare with (default: the shared 100 ImageNet pictures,"
                        " $JAXINV_IMAGENET100)")
    p.add_argument("--limit", type=positive(int), default=DEFAULT_LIMIT, metavar="N",
                   help=f"the first N reference pictures, in name order (default {DEFAULT_LIMIT})")
    p.add_argument("--seed", "--key", dest="seed", type=seed_number, default=0,
                   help="seed of jax.random.key for KID's subsets (0 to 2^63 - 1; --key is its alias)")
    p.set_defaults(handler=_run_score)


def _summary(folder: pathlib.Path) -> dict[str, Any]:
    """The folder's summary.json, refused in one line when there is none or it is not a JSON object."""
    from jaxinv.errors import JaxinvError

    if not folder.is_dir():
        raise JaxinvError(f"{folder} is not a folder; pass the folder a jaxinv invert/maximize run wrote (the last"
                          " line it printed names it)")
    path = folder / "summary.json"
    if not path.is_file():
        raise JaxinvError(f"{folder} is not a jaxinv run folder: no summary.json; run jaxinv invert/maximize first")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JaxinvError(f"{path} is not JSON ({exc}); run the command again to rewrite it") from None
    if not isinstance(summary, dict):
        raise JaxinvError(f"{path} holds no JSON object; it is not a jaxinv run's summary: run the command again")
    return summary


def _kind(summary: dict[str, Any], path: pathlib.Path) -> tuple[str, list[str]]:
    """(the run's kind, the file names of its result pictures) from its summary."""
    from jaxinv.errors import JaxinvError

    command = summary.get("command")
    seeds = summary.get("seeds")
    if command is None and isinstance(seeds, list) and all(isinstance(r, dict) and "seed" in r for r in seeds):
        return "invert", [f"reconstruction_{row['seed']}.png" for row in seeds]
    names = summary.get("pictures")
    if command in ("maximize", "caricature") and isinstance(names, list) and all(isinstance(n, str) for n in names):
        return str(command), [f"{name}.png" for name in names]
    raise JaxinvError(f"{path} is of a kind jaxinv score does not know (not written by jaxinv invert, maximize or"
                      " caricature); score a folder one of them wrote")


def read_run(folder: str | pathlib.Path) -> RunPictures:
    """The pictures of the run in ``folder`` to score, refused in one line when there are none to score."""
    from jaxinv.errors import JaxinvError
    from jaxinv.scores.run import class_of_label

    root = pathlib.Path(folder)
    summary = _summary(root)
    kind, names = _kind(summary, root / "summary.json")
    if not names:
        raise JaxinvError(f"{root}/summary.json names no pictures; nothing to score: run the command again")
    missing = [name for name in names if not (root / name).is_file()]
    if missing:
        raise JaxinvError(f"{root} has no picture {missing[0]}, which its summary.json names"
                          f"{f' ({len(missing)} missing)' if len(missing) > 1 else ''}; run the command again")
    original = root / "original.png" if kind != "maximize" else None
    if original is not None and not original.is_file():
        raise JaxinvError(f"{root} has no original.png, which a {kind} run writes; run the command again")
    classes = [class_of_label(name.removesuffix(".png")) for name in names]
    labels = tuple(c for c in classes if c is not None) if all(c is not None for c in classes) else None
    return RunPictures(kind, tuple(root / name for name in names), labels, original, summary)


def _judge(spec: str, weights: str | None) -> Any:
    """The judge: a network layer, refused in one line when ``spec`` names a hand-crafted representation."""
    from jaxinv import registry
    from jaxinv.errors import JaxinvError

    name = spec.partition(":")[0]
    if name in registry.SHALLOW:
        raise JaxinvError(f"--judge {spec} is not a network layer; a judge's features and class scores come from a"
                          " network: pass --judge NETWORK:LAYER, e.g. squeezenet1_1:pool10 (`jaxinv reps` lists them)")
    return registry.get(spec, weights=weights)


def _run_score(args: argparse.Namespace) -> int:
    import jax

    from jaxinv import images
    from jaxinv.files import undefined_as_null, write_json
    from jaxinv.scores import reference_folder, reference_pictures, score_pictures

    run = read_run(args.run)
    judge = _judge(args.judge, args.weights)
    folder = pathlib.Path(args.reference) if args.reference else None
    references = reference_pictures(folder=folder, limit=args.limit)
    pictures = [images.load(path) for path in run.files]
    originals = None if run.original is None else [images.load(run.original)]
    entry = score_pictures(pictures, judge=judge, key=jax.random.key(args.seed), reference=references,
                           labels=run.labels, originals=originals)
    entry["reference"] = str((folder or reference_folder()).resolve())
    entry["seed"] = args.seed
    entry["pictures"] = [{"file": path.name, **row} for path, row in zip(run.files, entry["pictures"])]
    entry["definitions"] = {**entry["definitions"], **_DEFINITIONS}
    path = pathlib.Path(args.run) / "summary.json"
    summary = _summary(path.parent)  # read again: another judge's scores written meanwhile stay
    earlier = summary.get("scores")
    summary["scores"] = {**(earlier if isinstance(earlier, dict) else {}), judge.name: undefined_as_null(entry)}
    write_json(path, undefined_as_null(summary))
    for line in _table(entry, run.kind):
        print(line)
    print(f"scores in {path} under scores[{judge.name!r}]")
    return 0


#: The keys `jaxinv score` adds to `jaxinv.scores.SCORE_DEFINITIONS`.
_DEFINITIONS = {
    "reference": "the folder of the reference pictures (the first reference_pictures of it, in name order)",
    "seed": "the seed of jax.random.key that drew KID's subsets (--seed)",
    "file": "per picture: the run's PNG scored",
}


def _number(value: Any, digits: str = ".3f") -> str:
    return "null" if value is None else f"{value:{digits}}"


def _table(entry: dict[str, Any], kind: str) -> list[str]:
    """The printed table: a row per picture, then each measure of the set (null with its reason)."""
    notes, k = entry["notes"], entry["k"]
    head = (f"judge {entry['judge']} (classes: {entry['class_layer'] or 'none'}), {entry['reference_pictures']}"
            f" reference pictures from {entry['reference']}, {kind} run")
    lines = [head]
    width = max(len("picture"), *(len(row["file"]) for row in entry["pictures"]))
    lines.append(f"{'picture':{width}s}  plausibility  top-1  label  top-{k} hit  original cos")
    for row in entry["pictures"]:
        top = "-" if row["top_classes"] is None else str(row["top_classes"][0])
        hit = "-" if row["top_k_hit"] is None else "yes" if row["top_k_hit"] else "no"
        label = "-" if row["label"] is None else str(row["label"])
        cos = "-" if row["original_similarity"] is None else f"{row['original_similarity']:.3f}"
        lines.append(f"{row['file']:{width}s}  {row['plausibility']:12.3f}  {top:>5s}  {label:>5s}"
                     f"  {hit:>9s}  {cos:>12s}")
    kid = (f"{_number(entry['kid'], '.4g')} ± {_number(entry['kid_standard_error'], '.2g')}"
           f" ({entry['kid_subsets']} subsets of {entry['kid_subset_size']})" if entry["kid"] is not None else "null")
    measures = [("plausibility (mean cosine to the references)", _number(entry["plausibility"]), "plausibility"),
                ("KID ± standard error", kid, "kid"),
                (f"transferability (label in top-{k})", _number(entry["transferability"]), "transferability"),
                ("class kept (top-1 = the original's)", _number(entry["class_kept"]), "class_kept"),
                ("similarity to the original (cosine)", _number(entry["original_similarity"]), "original_similarity")]
    for name, value, key in measures if kind != "maximize" else measures[:3]:  # a visualisation has no original
        lines.append(f"{name:46s} {value}" if value != "null" else f"{name:46s} null: {notes.get(key, 'undefined')}")
    return lines
