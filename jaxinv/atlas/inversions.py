"""What a layer keeps of a picture: its inversion and its caricature, for a few pictures of the folder.

For each of the first N pictures x0 of the folder, at the layer's code Φ0 = Φ(x0):

- the inversion x* = argmin_x ‖Φ(x) − Φ0‖²/‖Φ0‖² + R(x) (`jaxinv.invert_batch`, the paper's
  prior, Mahendran & Vedaldi 2015, "Understanding Deep Image Representations by Inverting
  Them", CVPR), its schedule, the ``cnn`` preset, shortened to about ``steps`` steps
  (`jaxinv.core.schedules.Schedule.shortened`); the page shows its error
  ‖Φ(x*) − Φ0‖²/‖Φ0‖²;
- the caricature, x raised along e = max(Φ0, 0)/‖max(Φ0, 0)‖² from x0 (`jaxinv.caricature`,
  IJCV 2016, Mahendran & Vedaldi, "Visualizing Deep Convolutional Neural Networks Using
  Natural Pre-Images", §3), ``steps`` steps; the page shows ⟨Φ(x), e⟩ over the picture's own.

Files, in ``<layer>/pictures/``: ``original-<i>.webp`` (x0 as the network sees it),
``inversion-<i>.webp``, ``caricature-<i>.webp`` (lossy WebP: shown, not measured), then
``<layer>/pictures.json`` last (atomically, `jaxinv.files`): a layer whose record exists with its
N pictures is done, and a resumed run skips it.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from jaxinv import images
from jaxinv.atlas.examples import network_picture
from jaxinv.core.priors import default_schedule
from jaxinv.files import undefined_as_null, write_json
from jaxinv.inversion import invert_batch
from jaxinv.representation import Representation
from jaxinv.runner import Progress
from jaxinv.visualize import caricature

__all__ = ["RECORD", "read_inversions", "write_inversions"]

#: A layer's record of its pictures' inversions and caricatures, in its folder.
RECORD = "pictures.json"

def read_inversions(where: pathlib.Path, *, count: int) -> list[dict[str, Any]] | None:
    """The rows of ``where/pictures.json`` when it holds ``count`` pictures; None otherwise (made again)."""
    try:
        rows = json.loads((where / RECORD).read_text(encoding="utf-8"))["pictures"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return rows if isinstance(rows, list) and len(rows) == count else None


def write_inversions(where: pathlib.Path, rep: Representation, files: Sequence[pathlib.Path], *, key: jax.Array,
                     steps: int, prior: str = "paper", progress: Progress = None) -> list[dict[str, Any]]:
    """Invert and caricature each of ``files`` at ``rep``'s layer; write the pictures, then the record.

    Args:
      where: the layer's folder.
      rep: the layer, as trained (``jaxinv.cnn(NETWORK, layer=...)``).
      files: the pictures (a few: each is one inversion and one caricature).
      key: a `jax.random` key: picture i's inversion and caricature use ``fold_in(key, i)``.
      steps: about the steps of each inversion (its schedule shortened to them) and exactly
        those of each caricature.
      prior: the inversions' prior, ``paper`` (the layer's schedule) or ``fast`` (its own, the
        paper's objective: nearer the paper's final error in few steps).
      progress: as `jaxinv.invert_batch`'s.
    """
    pictures = [network_picture(rep, images.load(f)) for f in files]  # one size: the network's
    schedule = default_schedule(prior, rep)
    inverted = invert_batch(rep, pictures, key=key, prior=prior, keep_snapshots=False, progress=progress,
                            schedule=schedule.shortened(steps / schedule.total))
    rows = []
    for i, (path, picture) in enumerate(zip(files, pictures)):
        drawn = caricature(rep, picture, key=jax.random.fold_in(key, i), iterations=int(steps), progress=progress)
        names = {kind: f"pictures/{kind}-{i}.webp" for kind in ("original", "inversion", "caricature")}
        images.save_webp(where / names["original"], picture)
        images.save_webp(where / names["inversion"], np.asarray(inverted.images[i, 0]))
        images.save_webp(where / names["caricature"], np.asarray(drawn.images[0, 0]))
        rows.append({"picture": path.name, **names, "error": float(inverted.errors[i, 0]),
                     "caricature_relative": float(drawn.relative[0, 0])})
    write_json(where / RECORD, undefined_as_null({"steps": int(steps), "pictures": rows}))
    return rows
