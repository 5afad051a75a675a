"""The atlas as a static site: plain HTML, one CSS file and WebP pictures, read from file:// as they are.

Layout of the folder (every link relative, no script, no server, nothing from the network)::

    index.html, index.json        the layers: units done, dead at the start, rescued, flat, above m
    style.css
    atlas.json                    the settings the site was built with (`jaxinv.atlas.build`)
    <layer>/index.html            a grid of the layer's units, each its first visualisation
    <layer>/unit-0012.html        a unit: its visualisations, its top-k and bottom-k pictures
    <layer>/unit-0012.json        the numbers that page shows (written before the page)
    <layer>/unit-0012/vis-0.webp  the visualisation of seed 0; top-0.webp, bottom-0.webp the crops
    <layer>/examples.json         every unit's dataset examples (`jaxinv.atlas.examples`), kept for a resume
    <layer>/pictures.json         a few pictures' inversions and caricatures (`jaxinv.atlas.inversions`),
    <layer>/pictures/             their pictures, shown on the layer's page

``<layer>`` is the layer's name made safe for a file name (`layer_folder`). Each unit page links
up (its layer, the atlas) and sideways (the previous and next unit done); the pages are written
from the units' JSON files, so writing them again after more units are done is all a resumed
or enlarged atlas needs.
"""

from __future__ import annotations

import html
import json
import pathlib
import re
from collections.abc import Sequence
from typing import Any

from jaxinv.files import atomic_write_bytes

__all__ = ["STYLE", "layer_folder", "layer_summary", "unit_name", "write_index", "write_layer", "write_unit_page"]

#: The site's one style sheet: small thumbnails, pixels kept sharp when a small picture is enlarged.
STYLE = """body { font-family: sans-serif; margin: 1.5em; color: #222; }
nav { margin-bottom: 1em; }
nav a { margin-right: 1em; }
.grid { display: flex; flex-wrap: wrap; gap: 6px; }
.grid a { display: block; width: 80px; text-align: center; font-size: 11px; color: #333; text-decoration: none; }
.grid img, .pictures img { width: 80px; height: 80px; image-rendering: pixelated; display: block; }
.visualisations img { width: 192px; height: 192px; image-rendering: pixelated; }
.pictures { display: flex; flex-wrap: wrap; gap: 6px; }
.pictures figure { margin: 0; font-size: 11px; width: 80px; overflow-wrap: anywhere; }
.empty { width: 80px; height: 80px; display: flex; align-items: center; justify-content: center;
         background: #eee; font-size: 10px; text-align: center; }
.note { background: #fff4d6; padding: 0.4em 0.6em; border-left: 3px solid #e0a800; }
.inversions img { width: 160px; height: 160px; image-rendering: pixelated; }
.inversions td { vertical-align: top; font-size: 12px; }
table { border-collapse: collapse; } td, th { padding: 2px 8px; text-align: left; }
"""


def layer_folder(layer: str) -> str:
    """The folder of ``layer``'s pages: its name with every character but letters, digits,
    ``.``, ``_`` and ``-`` made ``_`` (``fire2/concat`` → ``fire2_concat``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", layer)


def unit_name(channel: int) -> str:
    """The file stem of a unit's page, JSON and pictures: ``unit-0012``."""
    return f"unit-{int(channel):04d}"


def _write(path: pathlib.Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, text.encode("utf-8"))


def _page(title: str, body: str, *, style: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<link rel=\"stylesheet\" href=\"{style}\">\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def _number(value: Any, digits: str = ".3g") -> str:
    return "–" if value is None else f"{value:{digits}}"


def layer_summary(layer: str, units: Sequence[dict[str, Any]], *, total: int) -> dict[str, Any]:
    """What the index says of a layer, from its units' JSON records (`jaxinv.atlas.units`).

    ``dead_at_start``: units whose gradient at the start was 0; ``rescued``: those of them that
    the redirected ReLU started again (value > 0 for some seed afterwards: not flat); ``flat``:
    units no seed's picture excites; ``above_natural``: units whose best visualisation value
    exceeds m, their largest value over the folder's pictures (max_r ⟨Φ(x_r), u⟩ > m > 0), and
    ``above_natural_fraction`` that count over the units done (null when none is done).
    """
    above = sum(1 for u in units if u["largest_natural"] > 0 and max(u["values"]) > u["largest_natural"])
    return {"layer": layer, "done": len(units), "total": int(total),
            "dead_at_start": sum(1 for u in units if u["redirected"]),
            "rescued": sum(1 for u in units if u["redirected"] and not u["flat"]),
            "flat": sum(1 for u in units if u["flat"]), "above_natural": above,
            "above_natural_fraction": above / len(units) if units else None}


def write_index(folder: pathlib.Path, *, network: str, layers: Sequence[dict[str, Any]],
                settings: dict[str, Any]) -> None:
    """``index.html``, ``index.json`` and ``style.css``: the layers, each a `layer_summary`."""
    _write(folder / "style.css", STYLE)
    rows = "\n".join(f"<tr><td><a href=\"{layer_folder(s['layer'])}/index.html\">{html.escape(s['layer'])}</a></td>"
                     f"<td>{s['done']} of {s['total']}</td><td>{s['dead_at_start']}</td><td>{s['rescued']}</td>"
                     f"<td>{s['flat']}</td><td>{_percent(s['above_natural_fraction'])}</td></tr>" for s in layers)
    shown = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                    for k, v in settings.items())
    head = ("<tr><th>layer</th><th>units done</th><th>dead at the start</th><th>rescued by redirected ReLUs</th>"
            "<th>flat</th><th>above their natural maximum</th></tr>")
    body = (f"<h1>Atlas of {html.escape(network)}</h1>\n<table>\n{head}\n{rows}\n</table>\n"
            "<p>Dead at the start: the unit's gradient was zero at the start; rescued: it was started again"
            " through redirected ReLUs and some picture now excites it; flat: no picture excites it from these"
            " starts; above their natural maximum: the share of units whose visualisation beats every picture"
            " of the folder (<a href=\"index.json\">the numbers, JSON</a>).</p>\n"
            f"<h2>Settings</h2>\n<table>{shown}</table>")
    _write(folder / "index.html", _page(f"Atlas of {network}", body, style="style.css"))
    _write(folder / "index.json", json.dumps({"network": network, "layers": list(layers)}, indent=1) + "\n")


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _inversions(rows: Sequence[dict[str, Any]]) -> str:
    """The layer's pictures, each beside its inversion and its caricature (`jaxinv.atlas.inversions`)."""
    if not rows:
        return ""
    cells = "".join(f"<tr><td><img src=\"{r['original']}\" alt=\"{html.escape(r['picture'])}\"><br>"
                    f"{html.escape(r['picture'])}</td>"
                    f"<td><img src=\"{r['inversion']}\" alt=\"inversion\"><br>error {_number(r['error'])}</td>"
                    f"<td><img src=\"{r['caricature']}\" alt=\"caricature\"><br>"
                    f"× {_number(r['caricature_relative'])}</td></tr>" for r in rows)
    return ("<h2>What the layer keeps of a picture</h2>\n<p>Each picture, the picture rebuilt from the layer's code"
            " alone (its inversion; error ‖Φ(x) − Φ0‖²/‖Φ0‖²) and its caricature (what the layer sees in"
            " it, exaggerated; ⟨Φ(x), e⟩ over the picture's own).</p>\n"
            "<table class=\"inversions\"><tr><th>picture</th>"
            f"<th>inversion</th><th>caricature</th></tr>{cells}</table>\n")


def write_layer(folder: pathlib.Path, layer: str, units: Sequence[dict[str, Any]], *, network: str,
                total: int, inversions: Sequence[dict[str, Any]] = ()) -> None:
    """The layer's grid page and every done unit's page, from the units' JSON records (in order);
    ``inversions``: the rows of its pictures' record (`jaxinv.atlas.inversions`), shown above the grid."""
    where = folder / layer_folder(layer)
    cells = []
    for unit in units:
        name = unit_name(unit["channel"])
        picture = (f"<img src=\"{unit['visualisations'][0]}\" alt=\"{html.escape(unit['label'])}\">"
                   if unit["visualisations"] and not unit["flat"] else
                   "<span class=\"empty\">no picture excites it</span>")
        cells.append(f"<a href=\"{name}.html\">{picture}{html.escape(unit['label'])}</a>")
    body = (f"<nav><a href=\"../index.html\">↑ atlas of {html.escape(network)}</a></nav>\n"
            f"<h1>{html.escape(network)} {html.escape(layer)}</h1>\n{_inversions(inversions)}"
            f"<h2>Units</h2>\n<p>{len(units)} of {total} units done.</p>\n"
            f"<div class=\"grid\">\n" + "\n".join(cells) + "\n</div>")
    _write(where / "index.html", _page(f"{network} {layer}", body, style="../style.css"))
    for i, unit in enumerate(units):
        write_unit_page(where, unit, previous=units[i - 1] if i else None,
                        following=units[i + 1] if i + 1 < len(units) else None, network=network)


def _pictures(rows: Sequence[dict[str, Any]]) -> str:
    figures = [f"<figure><img src=\"{row['image']}\" alt=\"{html.escape(row['picture'])}\">"
               f"<figcaption>{_number(row['value'])}<br>{html.escape(row['picture'])}</figcaption></figure>"
               for row in rows]
    return "<div class=\"pictures\">" + "".join(figures) + "</div>"


def _notes(unit: dict[str, Any]) -> str:
    notes = []
    if unit["redirected"]:
        notes.append("Dead at the start (its gradient was zero): started again through redirected ReLUs for the"
                     f" first {unit['redirect_steps']} steps.")
    if unit["flat"]:
        notes.append("No picture excites it from these starts: its value stayed at or below 0 for every seed.")
    return "".join(f"<p class=\"note\">{html.escape(n)}</p>\n" for n in notes)


def write_unit_page(where: pathlib.Path, unit: dict[str, Any], *, previous: dict[str, Any] | None,
                    following: dict[str, Any] | None, network: str) -> None:
    """One unit's page, from its JSON record, linking up and to its neighbours."""
    links = ["<a href=\"index.html\">↑ layer</a>", "<a href=\"../index.html\">↑↑ atlas</a>"]
    if previous is not None:
        links.append(f"<a href=\"{unit_name(previous['channel'])}.html\">← {html.escape(previous['label'])}</a>")
    if following is not None:
        links.append(f"<a href=\"{unit_name(following['channel'])}.html\">{html.escape(following['label'])} →</a>")
    seeds = "".join(f"<img src=\"{src}\" alt=\"seed {r}\"> " for r, src in enumerate(unit["visualisations"]))
    relative = ", ".join(_number(v) for v in unit["relative"]) if unit["relative"] is not None else "–"
    numbers = (f"<table><tr><th>value (per seed)</th><td>{', '.join(_number(v) for v in unit['values'])}</td></tr>"
               f"<tr><th>largest over the pictures</th><td>{_number(unit['largest_natural'])}</td></tr>"
               f"<tr><th>value / largest</th><td>{relative}</td></tr>"
               f"<tr><th>gradient at the start</th><td>{_number(unit['start_gradient'])}</td></tr></table>")
    title = f"{network} {unit['layer']} {unit['label']}"
    body = (f"<nav>{' '.join(links)}</nav>\n<h1>{html.escape(title)}</h1>\n"
            + (f"<p>Class: {html.escape(unit['class_name'])}</p>\n" if unit["class_name"] else "")
            + _notes(unit)
            + f"<h2>Visualisation ({html.escape(unit['prior'])} prior)</h2>\n<div class=\"visualisations\">{seeds}"
            f"</div>\n{numbers}\n<h2>Top {len(unit['top'])} pictures</h2>\n{_pictures(unit['top'])}\n"
            f"<h2>Bottom {len(unit['bottom'])} pictures</h2>\n{_pictures(unit['bottom'])}\n"
            f"<p><a href=\"{unit_name(unit['channel'])}.json\">the numbers (JSON)</a></p>")
    _write(where / f"{unit_name(unit['channel'])}.html", _page(title, body, style="../style.css"))
