"""The results pages (docs/results/*.md), generated from the results they summarise (issue #33).

    python scripts/results_pages.py           # write every page
    python scripts/results_pages.py --check   # write nothing; exit 1 naming each page that differs
    python scripts/results_pages.py --digests # each block's files' digest, for provenance.json after a rerun

A page is hand-written prose (scripts/results_prose/PAGE.md) in which each line ``{{ NAME }}``
becomes a block: the table that a benchmark script's own table function makes from the results
under benchmarks/results (never pasted), then the command that made those results and the date
and machine they were measured on. Those come from the results file itself where it records
them (prior_seconds.json does), else from benchmarks/results/provenance.json, written once from
the README's statements and git history; a result file changed since that note was written makes
the block say that its date and machine are unknown, rather than keep a stale claim.
tests/test_results_pages.py fails when a committed page differs from what this script writes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

REPO = pathlib.Path(__file__).resolve().parents[1]
# The benchmark scripts' own table functions render the tables (one formatting, theirs). A script
# run as `python scripts/...` has only scripts/ on its path; pytest's pythonpath has benchmarks/.
if str(REPO / "benchmarks") not in sys.path:
    sys.path.insert(0, str(REPO / "benchmarks"))

import atlas
import atlas_layers
import class_kept_saved
import common
import dip_energy
import figures
import hog_dsift_forward
import maximization
import modern_networks
import path_check
import pixel_baselines
import prior_seconds
import priors
import table_cnn
import table_shallow
import throughput
import throughput_commits
import time_to_quality
import traced_weights
import tune_fast

from jaxinv.files import atomic_write_bytes
from jaxinv.networks.registry import resolve_layer
from jaxinv.results import read_results

RESULTS = REPO / "benchmarks" / "results"
PROSE = REPO / "scripts" / "results_prose"
PAGES = REPO / "docs" / "results"
#: Command, date and machine of the results that do not record them (see the module docstring).
PROVENANCE = "provenance.json"
#: A line of prose that a block replaces: ``{{ name }}``.
PLACEHOLDER = re.compile(r"^\{\{ ([\w-]+) \}\}$")
README = REPO / "README.md"
#: The README's generated blocks: <!-- results:NAME --> ... <!-- /results:NAME -->.
README_BLOCK = re.compile(r"(<!-- results:([\w-]+) -->\n).*?(<!-- /results:\2 -->)", re.DOTALL)

Render = Callable[[pathlib.Path], str]


class Block(NamedTuple):
    """One generated table: how to render it from a results folder, and what it reads there.

    ``measured``: glob patterns of the files holding the measurements (their digest ties
    provenance.json's note to them); ``derived``: summaries computed from those (a set
    normaliser, a table's rows), read but not measured.
    """

    render: Render
    measured: tuple[str, ...]
    derived: tuple[str, ...] = ()


def _json(root: pathlib.Path, name: str) -> Any:
    return json.loads((root / name).read_text(encoding="utf-8"))


def _rows(root: pathlib.Path, name: str) -> list[dict]:
    return read_results(root / name)[1]


def _lines(lines: Iterable[str]) -> str:
    return "\n".join(lines)


def _shallow(summary: str) -> Render:
    """table_shallow.py's table from the rows it wrote beside its Markdown (``table-*.json``)."""
    return lambda root: _lines(table_shallow.table_lines(_json(root, summary)["rows"]))


def _with_saved_class_kept(rows: list[dict], kept: list[dict]) -> list[dict]:
    """The rows with their class-kept shares from class_kept_saved.py's verdicts on the saved PNGs
    (the scikit-image runs recorded no classes of their own)."""
    by_layer = {(k["layer"], k["lambda_tv"]): k for k in kept}
    merged = []
    for row in rows:
        verdict = by_layer.get((row["layer"], row["lambda_tv"]), {})
        merged.append({**row, **{f: verdict[f] for f in ("agree_own", "agree_other") if f in verdict}})
    return merged


def _cnn(summary: str, *, kept: str | None = None, recommended: bool = False,
         blocks_of: str | None = None) -> Render:
    """table_cnn.py's table from its ``table-*.json`` rows: all of them, or those at the recommended
    λ_V, or (``blocks_of`` a network) its block outputs only, with the saved-PNG class-kept columns."""
    def render(root: pathlib.Path) -> str:
        rows = _json(root, summary)["rows"]
        if recommended:
            rows = [r for r in rows if r["chosen"]]
        if blocks_of is not None:
            outputs = {resolve_layer(blocks_of, layer) for layer in common.MAIN_LAYERS[blocks_of]}
            rows = [r for r in rows if r["layer"] in outputs]
        if kept is not None:
            rows = _with_saved_class_kept(rows, _json(root, kept))
        return _lines(table_cnn.table_lines(rows))
    return render


def _priors(on: str | None) -> Render:
    """priors.py's inversion table (``on="dip"``: every prior on DIP's pictures), its N₁ from JSON."""
    def render(root: pathlib.Path) -> str:
        stored = _json(root, "priors/normalisers.json")
        pictures = [(name, None) for name in stored["pictures"]]  # only the names are read
        return priors.table(_rows(root, "priors/priors.jsonl"), priors.LAYERS, priors.COMPARED, pictures, on=on,
                            normalisers=stored["normalisers"]).rstrip("\n")
    return render


def _markdown_table(name: str) -> Render:
    """The table of a Markdown file a benchmark wrote where it keeps no JSON (its table lines only)."""
    return lambda root: _lines(line for line in (root / name).read_text(encoding="utf-8").splitlines()
                               if line.startswith("|"))


def _commits_table(record: dict) -> str:
    """throughput_commits.py's table from its JSON (every round of both commits)."""
    text, _ = throughput_commits.table(record["runs"], {"old": record["old"], "new": record["new"]})
    return text


def _of_rows(table: Callable[[list[dict]], str], path: str) -> Block:
    """A block of ``table`` over the rows of the JSON-lines file ``path``."""
    return Block(lambda root: table(_rows(root, path)).rstrip("\n"), (path,))


def _of_json(table: Callable[[Any], str], path: str) -> Block:
    """A block of ``table`` over the JSON file ``path``."""
    return Block(lambda root: table(_json(root, path)).rstrip("\n"), (path,))


_SHALLOW = (("paper", "paper"), ("ijcv", "ijcv"), ("long", "paper-shallow_long"))  # (block tag, file stem)
_SQUEEZENET = ("cnn/squeezenet1_1/*.jsonl", "cnn/class-kept-saved-squeezenet1_1.json")
_GOOGLENET = ("cnn/googlenet/*.jsonl", "cnn/class-kept-saved-googlenet.json")
_SWEEP = "cnn/table-squeezenet1_1-paper-sweep-all.json"
_GOOGLENET_ALL = "cnn/table-googlenet-paper-all.json"
_CHECKS = {net: f"imagenet100/cnn/class-kept-saved-check-{net}.json" for net in ("squeezenet1_1", "googlenet")}
_PRIORS = "priors/priors.jsonl"
_DIP = "priors/dip_energy.jsonl"
_CLASS_SCORES = "priors/class_scores.jsonl"
#: The maximisation runs shown: block prefix → results file stem (the authors' prior; the fast prior).
_MAXIMIZATION = {"maximization": "maximization/maximization_x1_authors",
                 "maximization-fast": "maximization/maximization_x1_authors_prior-fast"}

#: Every block a page can name, by name.
BLOCKS: dict[str, Block] = {
    # The paper's tables on the 100 shared ImageNet pictures.
    **{f"table1-{tag}": Block(_shallow(f"imagenet100/shallow/table-{stem}.json"),
                              (f"imagenet100/shallow/*-{stem}.jsonl",), (f"imagenet100/shallow/table-{stem}.json",))
       for tag, stem in _SHALLOW},
    **{f"cnn-imagenet-{net}": Block(_cnn(f"imagenet100/cnn/table-{net}-paper.json"),
                                    (f"imagenet100/cnn/{net}/*.jsonl",), (f"imagenet100/cnn/table-{net}-paper.json",))
       for net in ("squeezenet1_1", "googlenet")},
    "pixel-baselines": _of_json(pixel_baselines.table, "imagenet100/pixel_baselines.json"),
    "class-kept-check": Block(
        lambda root: class_kept_saved.check_table({net: _json(root, path) for net, path in _CHECKS.items()}),
        tuple(_CHECKS.values())),
    # Quick checks on scikit-image's photographs.
    **{f"shallow-skimage-{tag}": Block(_shallow(f"shallow/table-{stem}.json"), (f"shallow/*-{stem}.jsonl",),
                                       (f"shallow/table-{stem}.json",))
       for tag, stem in _SHALLOW},
    "cnn-skimage-squeezenet1_1": Block(_cnn(_SWEEP, kept=_SQUEEZENET[1], recommended=True, blocks_of="squeezenet1_1"),
                                       _SQUEEZENET, (_SWEEP,)),
    "cnn-skimage-squeezenet1_1-all": Block(_cnn(_SWEEP, kept=_SQUEEZENET[1], recommended=True), _SQUEEZENET, (_SWEEP,)),
    "cnn-skimage-squeezenet1_1-sweep": Block(_cnn(_SWEEP, kept=_SQUEEZENET[1]), _SQUEEZENET, (_SWEEP,)),
    "cnn-skimage-googlenet": Block(_cnn(_GOOGLENET_ALL, kept=_GOOGLENET[1], blocks_of="googlenet"), _GOOGLENET,
                                   (_GOOGLENET_ALL,)),
    "cnn-skimage-googlenet-all": Block(_cnn(_GOOGLENET_ALL, kept=_GOOGLENET[1]), _GOOGLENET, (_GOOGLENET_ALL,)),
    "modern-networks": _of_rows(modern_networks.table, "modern_networks.jsonl"),
    "modern-networks-own-lambda": _of_rows(modern_networks.table, "modern_networks_own_lambda.jsonl"),
    # Priors, DIP and maximisation.
    "priors-inversions": Block(_priors(None), (_PRIORS,), ("priors/normalisers.json",)),
    "priors-dip-pictures": Block(_priors("dip"), (_PRIORS,), ("priors/normalisers.json",)),
    "priors-classes": Block(lambda root: priors.class_table(_rows(root, _PRIORS), ["squeezenet1_1", "googlenet"],
                                                            priors.COMPARED, _rows(root, _CLASS_SCORES)).rstrip("\n"),
                            (_PRIORS, _CLASS_SCORES)),
    "conv-gradient": Block(_markdown_table("priors/conv_gradient.md"), ("priors/conv_gradient.md",)),
    "dip-energy": _of_rows(dip_energy.table, _DIP),
    "path-check": _of_rows(path_check.table, "path_check/path_check.jsonl"),
    "dip-energy-readings": _of_rows(dip_energy.readings_table, _DIP),
    **{f"{prefix}-{kind}": Block(lambda root, part=part, stem=stem: maximization.table(
        _rows(root, f"{stem}.jsonl"), _rows(root, f"{stem}_scores.jsonl")).strip().split("\n\n")[part],
        (f"{stem}.jsonl", f"{stem}_scores.jsonl"))
       for prefix, stem in _MAXIMIZATION.items()
       for part, kind in enumerate(("channels", "classes", "caricatures")[:3 if prefix == "maximization" else 2])},
    # Speed.
    "hog-dsift-forward": _of_json(lambda record: hog_dsift_forward.markdown(record["rows"]), "hog_dsift.json"),
    "throughput": _of_json(lambda record: throughput.markdown(record["rows"]), "throughput.json"),
    "runner-cost": _of_json(_commits_table, "throughput_runner/throughput_commits.json"),
    "runner-cost-dsift8": _of_json(_commits_table, "throughput_runner_dsift8/throughput_commits.json"),
    "core-cost": _of_json(_commits_table, "throughput_commits/throughput_commits.json"),
    "traced-weights": Block(lambda root: traced_weights.table([_json(root, "traced_weights.json"),
                                                               _json(root, "traced_weights_run2.json")]),
                            ("traced_weights.json", "traced_weights_run2.json")),
    "time-to-quality": _of_rows(time_to_quality.table, "time_to_quality/time_to_quality.jsonl"),
    "fast-preset": _of_rows(time_to_quality.fast_table, "time_to_quality/time_to_quality.jsonl"),
    "fast-preset-fast-only": _of_rows(time_to_quality.fast_table, "time_to_quality/fast/time_to_quality.jsonl"),
    "fast-tuning": _of_rows(tune_fast.table, "time_to_quality/fast/tuning.jsonl"),
    "prior-seconds": _of_json(prior_seconds.table, "prior_seconds.json"),
    "atlas-scale": _of_json(atlas.table, "atlas/atlas_scale.json"),
    "atlas-widths": _of_json(atlas.widths_table, "atlas/atlas_widths.json"),
    "atlas-layers": _of_json(atlas_layers.table, "atlas/whole_layers.json"),
    # Figures.
    "invariance": _of_json(lambda record: figures.invariance_table(figures.invariance_rows(record)),
                           "figures/squeezenet1_1/figures.json"),
}

#: What a block says where provenance.json's note was written for other versions of its files.
CHANGED = "unknown: these results changed after benchmarks/results/provenance.json was written (record it there)"
#: A results file's environment fields, as the block names them (after "jax X on BACKEND").
_ENVIRONMENT = (("torch", "torch {}"), ("cpu_count", "{} CPU cores"), ("machine", "{}"))


def matched(root: pathlib.Path, patterns: Iterable[str]) -> list[pathlib.Path]:
    """Every file the glob ``patterns`` match under ``root``, in a fixed order."""
    return [path for pattern in patterns for path in sorted(root.glob(pattern))]


def digest(root: pathlib.Path, patterns: Iterable[str]) -> str:
    """SHA-256 of the matched files' names (relative to ``root``) and bytes."""
    sha = hashlib.sha256()
    for path in matched(root, patterns):
        sha.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()


def recorded_environment(path: pathlib.Path) -> str | None:
    """What a results file records of where it ran (jax, backend, cores, architecture), if anything:
    a JSON-lines file's header, a JSON file's ``environment`` or its own ``jax`` field."""
    try:
        if path.suffix == ".jsonl":
            record = json.loads(path.read_text(encoding="utf-8").split("\n", 1)[0]).get("environment")
        elif path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            record = data.get("environment", data if "jax" in data else None) if isinstance(data, dict) else None
        else:
            return None
    except (json.JSONDecodeError, AttributeError):
        return None
    if not isinstance(record, dict) or "jax" not in record:
        return None
    head = f"jax {record['jax']}" + (f" on {record['backend']}" if "backend" in record else "")
    return ", ".join([head, *(form.format(record[key]) for key, form in _ENVIRONMENT if key in record)])


def _own_record(files: list[pathlib.Path]) -> dict:
    """The command, date and machine a results file records itself (the first that does), else {}."""
    for path in files:
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and {"command", "date", "machine"} <= data.keys():
                return {key: data[key] for key in ("command", "date", "machine")}
    return {}


def provenance(name: str, root: pathlib.Path, notes: dict[str, dict]) -> str:
    """The lines under block ``name``: its command, results files, date and machine."""
    block, note = BLOCKS[name], notes.get(name, {})
    files = matched(root, block.measured)
    own = _own_record(files)
    current = note.get("sha256") == digest(root, block.measured)
    facts = own or {key: note[key] if current else CHANGED for key in ("date", "machine") if key in note}
    commands = own.get("command", note.get("command", []))
    commands = [commands] if isinstance(commands, str) else commands
    recorded = sorted({env for path in files if (env := recorded_environment(path))})
    where = [f"`benchmarks/results/{pattern}`" + (f" ({n} files)" if (n := len(list(root.glob(pattern)))) > 1 else "")
             for pattern in block.measured]
    derived = ", ".join(f"`benchmarks/results/{pattern}`" for pattern in block.derived)
    return _lines([
        f"- **Command:** {'; '.join(f'`{c}`' for c in commands) or 'not recorded'}",
        f"- **Results:** {', '.join(where)}" + (f"; the table reads {derived}, made from them" if derived else ""),
        f"- **Measured:** {facts.get('date', 'not recorded')}",
        f"- **Machine:** {facts.get('machine', 'not recorded')}"
        + (f"; the results record {'; '.join(recorded)}" if recorded else ""),
        *([f"- **Note:** {note['note']}"] if "note" in note and current else []),
    ])


def render_block(name: str, root: pathlib.Path = RESULTS, notes: dict[str, dict] | None = None) -> str:
    """Block ``name``: its table, generated from the results under ``root``, and its provenance."""
    if name not in BLOCKS:
        raise ValueError(f"no results block named {name!r}; use one of {', '.join(sorted(BLOCKS))}")
    notes = read_notes(root) if notes is None else notes
    table = BLOCKS[name].render(root).strip("\n")
    # The blank line after the comment ends Markdown's HTML block: the table after it is a table.
    return f"<!-- block {name}: generated, do not edit -->\n\n{table}\n\n{provenance(name, root, notes)}"


def read_notes(root: pathlib.Path) -> dict[str, dict]:
    """provenance.json's notes by block name (its ``_about`` key describes the file)."""
    return {k: v for k, v in _json(root, PROVENANCE).items() if not k.startswith("_")}


def page_names() -> list[str]:
    """The pages there is prose for (scripts/results_prose/NAME.md makes docs/results/NAME.md)."""
    return sorted(path.stem for path in PROSE.glob("*.md"))


def blocks_of(page: str) -> list[str]:
    """The names of the blocks page ``page`` shows, in order."""
    lines = (PROSE / f"{page}.md").read_text(encoding="utf-8").splitlines()
    return [m.group(1) for line in lines if (m := PLACEHOLDER.match(line))]


def sources_of(page: str) -> list[str]:
    """The glob patterns, relative to benchmarks/results, of every file page ``page`` reads."""
    return [PROVENANCE, *dict.fromkeys(p for name in blocks_of(page) for p in (*BLOCKS[name].measured,
                                                                                  *BLOCKS[name].derived))]


def build_page(page: str, root: pathlib.Path = RESULTS) -> str:
    """docs/results/PAGE.md as generated from its prose and the results under ``root``."""
    notes = read_notes(root)
    header = (f"<!-- Generated by scripts/results_pages.py from scripts/results_prose/{page}.md and the results"
              " under benchmarks/results: edit those, then run `python scripts/results_pages.py`. -->")
    lines = [header, ""]  # the blank line ends the comment's HTML block before the page's title
    for line in (PROSE / f"{page}.md").read_text(encoding="utf-8").splitlines():
        match = PLACEHOLDER.match(line)
        if not match and "{{" in line:  # a misspelt placeholder would reach the page as text
            raise ValueError(f"scripts/results_prose/{page}.md: {line!r} is no block line; write {{{{ name }}}} alone")
        lines.append(render_block(match.group(1), root, notes) if match else line)
    return "\n".join(lines).rstrip("\n") + "\n"


def build_pages(root: pathlib.Path | None = None) -> dict[str, str]:
    """{file name: text} of every results page, from the results under ``root`` (default RESULTS)."""
    return {f"{page}.md": build_page(page, RESULTS if root is None else root) for page in page_names()}


def build_readme(text: str, root: pathlib.Path = RESULTS) -> str:
    """The README ``text`` with each ``<!-- results:NAME -->`` block generated from the results."""
    notes = read_notes(root)
    return README_BLOCK.sub(lambda m: m.group(1) + render_block(m.group(2), root, notes).strip("\n") + "\n"
                            + m.group(3), text)


def stale_pages(root: pathlib.Path | None = None, folder: pathlib.Path | None = None) -> list[str]:
    """The pages under ``folder`` (default PAGES) that differ from what the results under ``root``
    (default RESULTS) give, or are missing; and any page there that no prose makes (it would never
    be regenerated)."""
    wanted, folder = build_pages(root), PAGES if folder is None else folder
    differ = [name for name, text in wanted.items()
              if not (folder / name).is_file() or (folder / name).read_text(encoding="utf-8") != text]
    readme = README.read_text(encoding="utf-8")
    if folder == PAGES and build_readme(readme, RESULTS if root is None else root) != readme:
        differ.append("../../README.md")
    return differ + sorted(p.name for p in folder.glob("*.md") if p.name not in wanted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 naming each page that differs from what would be generated")
    parser.add_argument("--digests", action="store_true",
                        help="write nothing; print each block's current sha256 and whether provenance.json's note"
                             " is for those files (after a rerun: record its date and machine there with this digest)")
    args = parser.parse_args(argv)
    if args.digests:
        notes = read_notes(RESULTS)
        for name, block in BLOCKS.items():
            current = digest(RESULTS, block.measured)
            state = ("own record" if _own_record(matched(RESULTS, block.measured)) else
                     "noted" if notes.get(name, {}).get("sha256") == current else "changed since noted")
            print(f"{name}\t{current}\t{state}")
        return 0
    if args.check:
        stale = stale_pages()
        for name in stale:
            shown = (PAGES / name).resolve().relative_to(REPO)
            print(f"{shown} is not what its prose and results give (or no prose makes it):"
                  " run python scripts/results_pages.py", file=sys.stderr)
        return 1 if stale else 0
    for name, text in build_pages().items():
        atomic_write_bytes(PAGES / name, text.encode())
        print(f"wrote docs/results/{name}")
    atomic_write_bytes(README, build_readme(README.read_text(encoding="utf-8")).encode())
    print("wrote README.md's results blocks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
