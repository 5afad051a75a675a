"""One unit's files in the atlas: its visualisations, its dataset examples' crops, its JSON record.

`write_units` writes, per unit, the pictures first (lossy WebP, `jaxinv.images.save_webp`: shown,
not measured) and the JSON record last (each atomically, `jaxinv.files`), so a unit whose
``unit-NNNN.json`` exists is whole: a resumed run skips it.
The record holds every number its page shows (`jaxinv.atlas.site`):

- ``values``: ⟨Φ(x_r), u⟩ of each seed's visualisation x_r, the network as trained;
- ``largest_natural``: m, the unit's largest response over the folder's pictures (its
  dataset examples' top-1, `jaxinv.atlas.examples`); ``relative``: values / m (null when no
  picture excites the unit, m ≤ 0);
- ``start_gradient``: ‖∇ₓ⟨Φ(x₀), u⟩‖ at the start; ``redirected``: dead at the start and run
  through redirected ReLUs first; ``flat``: every seed's value ≤ 0 (no picture excites it from
  these starts);
- ``top``/``bottom``: the pictures (file name, response s, position p*, crop box, crop file).
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxinv import images
from jaxinv.atlas.examples import UnitExtremes, crop_box, network_picture
from jaxinv.atlas.layers import LayerPictures
from jaxinv.atlas.site import layer_folder, unit_name
from jaxinv.files import undefined_as_null, write_json
from jaxinv.representation import Representation

__all__ = ["THUMBNAIL", "read_unit", "unit_label", "write_units"]

#: The largest side of a dataset example's crop as saved, in pixels.
THUMBNAIL = 96


def unit_label(channel: int, class_names: Sequence[str] | None) -> str:
    """``channel 12``, or ``class 145`` in a class-score layer."""
    return f"class {channel}" if class_names is not None else f"channel {channel}"


def read_unit(path: pathlib.Path) -> dict[str, Any] | None:
    """A unit's JSON record, or None where it is missing or unreadable (then it is made again)."""
    import json

    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) and "channel" in record else None


class _Pictures:
    """The folder's pictures as the network sees them, loaded once each while a group is written."""

    def __init__(self, rep: Representation, files: Sequence[pathlib.Path]):
        self.rep = rep
        self.files = files
        self.loaded: dict[int, np.ndarray] = {}

    def __getitem__(self, index: int) -> np.ndarray:
        if index not in self.loaded:
            self.loaded[index] = network_picture(self.rep, images.load(self.files[index]))
        return self.loaded[index]


def _examples(pictures: _Pictures, extremes: UnitExtremes, channel: int, *, side: str, field: int,
              where: pathlib.Path, stem: str) -> list[dict[str, Any]]:
    """The crops of one side (``top``/``bottom``) of a unit's dataset examples, saved; their rows."""
    values = getattr(extremes, f"{side}_values")[channel]
    indices = getattr(extremes, f"{side}_pictures")[channel]
    positions = getattr(extremes, f"{side}_positions")[channel]
    rows = []
    for rank, (value, index, position) in enumerate(zip(values, indices, positions)):
        picture = pictures[int(index)]
        top, left, size = crop_box(position, extremes.code_shape, field=field, size=picture.shape[0])
        crop = picture[top:top + size, left:left + size]
        if size > THUMBNAIL:
            crop = images.resize(crop, (THUMBNAIL, THUMBNAIL))
        images.save_webp(where / stem / f"{side}-{rank}.webp", crop)
        rows.append({"picture": pictures.files[int(index)].name, "value": float(value),
                     "position": [int(p) for p in position], "crop": [top, left, size],
                     "image": f"{stem}/{side}-{rank}.webp"})
    return rows


def write_units(folder: pathlib.Path, made: LayerPictures, extremes: UnitExtremes, *, rep: Representation,
                files: Sequence[pathlib.Path], field: int, class_names: Sequence[str] | None,
                settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Write every unit of ``made`` (pictures, then its JSON record); the records, in its order."""
    where = folder / layer_folder(extremes.layer)
    pictures = _Pictures(rep, files)
    vis = made.visualization
    records = []
    for b, channel in enumerate(made.channels):
        stem = unit_name(channel)
        for r in range(vis.images.shape[1]):
            images.save_webp(where / stem / f"vis-{r}.webp", vis.images[b, r], stretch=True)
        largest = float(extremes.top_values[channel, 0])
        values = [float(v) for v in vis.values[b]]
        record = {
            "network": settings["network"], "layer": extremes.layer, "channel": int(channel),
            "label": unit_label(channel, class_names),
            "class_name": class_names[channel] if class_names is not None else None,
            "prior": settings["prior"], "image_size": int(vis.image_size), "values": values,
            "largest_natural": largest,
            "relative": [v / largest for v in values] if largest > 0 else None,
            "start_gradient": float(made.start_gradient[b]), "redirected": bool(made.redirected[b]),
            "redirect_steps": settings["redirect_steps"], "flat": bool(made.flat[b]),
            "visualisations": [f"{stem}/vis-{r}.webp" for r in range(vis.images.shape[1])],
            "top": _examples(pictures, extremes, channel, side="top", field=field, where=where, stem=stem),
            "bottom": _examples(pictures, extremes, channel, side="bottom", field=field, where=where, stem=stem),
            "pictures": extremes.pictures,
        }
        record = undefined_as_null(record)
        write_json(where / f"{stem}.json", record)
        records.append(record)
    return records
