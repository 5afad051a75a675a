"""`atlas`: a network's layers as a static site, built unit by unit and resumed where it stopped.

For each layer: the dataset examples of every unit from one batched pass over a picture folder
(`jaxinv.atlas.examples`, cached in ``<layer>/examples.json``), then the units' visualisations,
as many units per compiled program as ``group`` allows (all of the layer's missing units by
default; the runner splits a group that exceeds ``memory_budget``), dead starts found and
started again (`jaxinv.atlas.layers`), then each unit's files (`jaxinv.atlas.units`), a few
pictures' inversions and caricatures (`jaxinv.atlas.inversions`) and the pages
(`jaxinv.atlas.site`). A unit whose JSON record exists is done: a killed run started again
makes only the missing units, and a run with more layers adds them to the same site. The site's
settings (network, pictures, prior, seeds, key, ...) are kept in ``atlas.json``; a run with
other settings into the same folder is refused rather than mixed in.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import sys
import time
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from jaxinv.atlas.examples import UnitExtremes, dataset_examples
from jaxinv.atlas.inversions import read_inversions, write_inversions
from jaxinv.atlas.layers import REDIRECT_STEPS, maximize_units
from jaxinv.atlas.site import (
    layer_folder,
    layer_summary,
    unit_name,
    write_index,
    write_layer,
)
from jaxinv.atlas.units import read_unit, write_units
from jaxinv.core import PRIOR_NAMES
from jaxinv.errors import JaxinvError
from jaxinv.files import write_json
from jaxinv.networks import receptive_field
from jaxinv.networks.registry import resolve_layer
from jaxinv.plan import layer_channels, logits_layer
from jaxinv.representation import Representation
from jaxinv.representations.cnn import CNNFeatures, cnn, lambda_tv
from jaxinv.runner import Progress, check_whole
from jaxinv.scores import host, reference_folder
from jaxinv.targets import check_key
from jaxinv.weights.shared import shared_folder

__all__ = ["SETTINGS_FILE", "AtlasSite", "atlas", "class_names", "picture_files", "unit_maxima"]

#: The file in the site's folder that records what it was built with.
SETTINGS_FILE = "atlas.json"


@dataclasses.dataclass(frozen=True)
class AtlasSite:
    """What `atlas` did.

    Attributes:
      folder: the site's folder; index: its ``index.html`` (open it in a browser, file://).
      made: per layer, the channels made by this run; kept: per layer, those already there.
      seconds: the run's wall time.
    """

    folder: pathlib.Path
    index: pathlib.Path
    made: dict[str, tuple[int, ...]]
    kept: dict[str, tuple[int, ...]]
    seconds: float


def picture_files(pictures: str | os.PathLike | None) -> list[pathlib.Path]:
    """The picture files of ``pictures`` (default `jaxinv.scores.reference_folder`), in name order."""
    if pictures is None:
        try:
            folder = reference_folder()
        except JaxinvError as exc:
            raise JaxinvError(f"{str(exc).partition(';')[0]}; pass a folder of pictures as pictures= (--pictures), or"
                              " set JAXINV_IMAGENET100") from None
    else:
        folder = pathlib.Path(pictures)
    if not folder.is_dir():
        raise JaxinvError(f"{str(folder)!r} is not a folder; pass a folder of pictures (--pictures)")
    return host.picture_files(folder)


def class_names(network: str, layer: str) -> list[str] | None:
    """The class names of a class-score layer (the ImageNet synsets' words, from the shared
    folder's ``synset_words.txt``, or ``class N``), None for any other layer."""
    if layer != logits_layer(network):
        return None
    count = layer_channels(network, layer)
    folder = shared_folder()
    words = folder / "synset_words.txt" if folder is not None else None
    if words is not None and words.is_file():
        lines = [line.partition(" ")[2].strip() for line in words.read_text(encoding="utf-8").splitlines()]
        if len(lines) == count:
            return lines
    return [f"class {c}" for c in range(count)]


def _network(network: str | Representation, weights: Any, layer: str) -> Representation:
    if isinstance(network, str):
        return cnn(network, layer=resolve_layer(network, layer), weights=weights)
    if not isinstance(network, Representation) or not isinstance(network.features, CNNFeatures):
        raise JaxinvError(f"{getattr(network, 'name', network)!r} is not a network; pass a network's name"
                          " (squeezenet1_1) or jaxinv.cnn(NETWORK, layer=...)")
    if weights is not None:
        raise JaxinvError("weights= is for a network given by name; this representation has its weights already")
    return network


def _at_layer(rep: Representation, layer: str) -> Representation:
    """``rep``'s network, as trained, at ``layer``."""
    assert isinstance(rep.features, CNNFeatures)  # checked by _network
    network = rep.features.network
    return dataclasses.replace(rep, name=f"{network}:{layer}", features=CNNFeatures(network, layer),
                               stride=int(receptive_field(network)[layer][1]), lambda_tv=lambda_tv(network, layer))


def _claim(folder: pathlib.Path, settings: dict[str, Any], layers: dict[str, list[int]]) -> dict[str, list[int]]:
    """Check ``folder`` against the settings it was built with (an atlas with no unit made yet takes
    the new ones) and record the layers; all its layers."""
    path = folder / SETTINGS_FILE
    known: dict[str, list[int]] = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            before, known = old["settings"], {k: list(v) for k, v in old["layers"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise JaxinvError(f"{path} is not an atlas's settings; pass another folder, or delete it to start"
                              " again") from None
        differs = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
        if differs and not any(folder.glob("*/unit-*.json")):  # no unit made yet: the new settings replace them
            for cache in folder.glob("*/examples.json"):
                cache.unlink()
            differs, known = [], {}
        if differs:
            raise JaxinvError(f"the atlas in {folder} was built with other settings ({', '.join(differs)});"
                              " run with its settings to resume or add layers, or pass another folder")
    elif folder.is_dir() and any(folder.iterdir()):
        raise JaxinvError(f"{folder} holds files but no atlas ({SETTINGS_FILE}); pass a new or empty folder, or an"
                          " atlas's folder to resume it")
    for layer, channels in layers.items():
        known[layer] = sorted(set(known.get(layer, [])) | set(channels))
    folder.mkdir(parents=True, exist_ok=True)
    write_json(path, {"settings": settings, "layers": known})
    return known


def _extremes(folder: pathlib.Path, rep: Representation, files: list[pathlib.Path], layers: list[str], *, k: int,
              batch: int) -> dict[str, UnitExtremes]:
    """Each layer's dataset examples: read from its ``examples.json``, the missing ones from one pass
    over the pictures (and written there)."""
    found: dict[str, UnitExtremes] = {}
    for layer in layers:
        cache = folder / layer_folder(layer) / "examples.json"
        try:
            found[layer] = UnitExtremes.from_json(json.loads(cache.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):  # missing or damaged: computed again
            pass
    missing = [layer for layer in layers if layer not in found]
    if missing:
        for layer, extremes in dataset_examples(rep, files, layers=missing, k=k, batch=batch).items():
            (folder / layer_folder(layer)).mkdir(parents=True, exist_ok=True)
            write_json(folder / layer_folder(layer) / "examples.json", extremes.to_json())
            found[layer] = extremes
    return found


def unit_maxima(extremes: UnitExtremes, channels: Sequence[int]) -> list[float]:
    """m per unit for the objective's weight: its top-1 response, or, where no picture excites it
    (m ≤ 0), the median of the layer's positive ones (1 if none)."""
    top = extremes.top_values[:, 0]
    positive = top[top > 0]
    fallback = float(np.median(positive)) if positive.size else 1.0
    return [float(top[c]) if top[c] > 0 else fallback for c in channels]


def _records(folder: pathlib.Path, layer: str, channels: Sequence[int]) -> list[dict[str, Any]]:
    where = folder / layer_folder(layer)
    found = (read_unit(where / f"{unit_name(c)}.json") for c in channels)
    return [record for record in found if record is not None]


def _say(progress: Progress, text: str) -> None:
    if progress is not False:
        print(f"atlas: {text}", file=sys.stderr, flush=True)


def _key_data(key: jax.Array) -> list[int]:
    """The key's bits, as recorded in the settings (a typed key's data, or a raw key itself)."""
    raw = jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    return [int(v) for v in np.asarray(raw).ravel()]


def _channels(network: str, layer: str, units: Sequence[int] | None) -> list[int]:
    count = layer_channels(network, layer)
    if units is None:
        return list(range(count))
    chosen = sorted({int(c) for c in units})
    if not chosen or chosen[0] < 0 or chosen[-1] >= count:
        raise JaxinvError(f"units {list(units)} are not channels of {layer} (0 to {count - 1}); pass channels in"
                          " that range, or none for all")
    return chosen


def _pages(folder: pathlib.Path, network: str, known: dict[str, list[int]], settings: dict[str, Any], *,
           layers: Sequence[str]) -> None:
    """The pages of ``layers`` and the index, from the units' records present now."""
    summaries = []
    shown = min(settings["inversions"], settings["picture_count"])
    for layer, channels in known.items():
        records = _records(folder, layer, channels)
        if layer in layers:
            inverted = read_inversions(folder / layer_folder(layer), count=shown) if shown else None
            write_layer(folder, layer, records, network=network, total=len(channels), inversions=inverted or ())
        summaries.append(layer_summary(layer, records, total=len(channels)))
    write_index(folder, network=network, layers=summaries, settings=settings)


def _make_layer(folder: pathlib.Path, rep: Representation, layer: str, todo: list[int], extremes: UnitExtremes,
                files: list[pathlib.Path], settings: dict[str, Any], *, known: dict[str, list[int]],
                group: int | None, maximise: dict[str, Any]) -> None:
    """The missing units of one layer, ``group`` (default all) per program; after each group its
    units' files, the layer's pages and the index are written, and a line says how many are done."""
    at = _at_layer(rep, layer)
    network, total = settings["network"], len(known[layer])
    names, field = class_names(network, layer), int(receptive_field(network)[layer][0])
    size = len(todo) if group is None else int(group)
    for start in range(0, len(todo), size):
        part = todo[start:start + size]
        made = maximize_units(at, part, unit_max=unit_maxima(extremes, part), **maximise)
        write_units(folder, made, extremes, rep=at, files=files, field=field, class_names=names, settings=settings)
        _pages(folder, network, known, settings, layers=[layer])
        done = len(_records(folder, layer, known[layer]))
        _say(maximise["progress"], f"{layer}: {done}/{total} units done ({int(made.redirected.sum())} of these"
                                   f" {len(part)} dead at the start, {int(made.flat.sum())} flat)")


def _invert_layer(folder: pathlib.Path, rep: Representation, layer: str, files: list[pathlib.Path], *,
                  key: jax.Array, steps: int, prior: str, progress: Progress) -> None:
    """The layer's inversions and caricatures of ``files``, unless its record holds them already."""
    where = folder / layer_folder(layer)
    if files and read_inversions(where, count=len(files)) is None:
        write_inversions(where, _at_layer(rep, layer), files, key=key, steps=steps, prior=prior, progress=progress)
        _say(progress, f"{layer}: {len(files)} picture(s) inverted and caricatured")


def _check_options(*, prior: str, seeds: int, k: int, batch: int, group: int | None, iterations: int | None,
                   relu_slope: float, redirect_steps: int, inversions: int, inversion_steps: int,
                   inversion_prior: str) -> None:
    """Refuse bad options before anything is written (the settings are recorded first)."""
    if prior not in PRIOR_NAMES:
        raise JaxinvError(f"prior {prior!r} is not one of {', '.join(PRIOR_NAMES)}; pass one of them")
    if inversion_prior not in ("paper", "fast"):
        raise JaxinvError(f"inversion_prior {inversion_prior!r}: use 'paper' or 'fast' (the paper's objective)")
    if iterations is not None and prior != "ijcv":
        raise JaxinvError(f"iterations= sets the ijcv prior's steps; the {prior} prior runs its own schedule:"
                          " pass schedule= to change it")
    for name, value in (("seeds", seeds), ("k", k), ("batch", batch), ("redirect_steps", redirect_steps),
                        ("iterations", 1 if iterations is None else iterations), ("group", group or 1),
                        ("inversion_steps", inversion_steps)):
        check_whole(name, value)
    if not isinstance(inversions, int) or isinstance(inversions, bool) or inversions < 0:
        raise JaxinvError(f"inversions = {inversions!r}; pass a whole number of pictures >= 0 (0: none)")
    if not 0.0 <= relu_slope < 1.0:
        raise JaxinvError(f"relu_slope = {relu_slope}; use a slope in [0, 1) (0 = as trained)")


def atlas(network: str | Representation, layers: Sequence[str], *, out: str | os.PathLike, key: jax.Array,
          pictures: str | os.PathLike | None = None, weights: Any = None, units: Sequence[int] | None = None,
          prior: str = "ijcv", seeds: int = 1, k: int = 9, iterations: int | None = None, schedule: Any = None,
          image_size: int | None = None, relu_slope: float = 0.0, redirect_steps: int = REDIRECT_STEPS,
          group: int | None = None, batch: int = 16, memory_budget: int | str | None = None,
          inversions: int = 2, inversion_steps: int = 100, inversion_prior: str = "paper",
          progress: Progress = None) -> AtlasSite:
    """Write (or resume, or enlarge) the atlas of ``layers`` of ``network`` into the folder ``out``.

    Args:
      network: a network's name (``squeezenet1_1``; ``weights`` as `jaxinv.cnn`'s) or a layer of
        one, ``jaxinv.cnn(NETWORK, layer=...)`` (its weights serve every layer).
      layers: the layers' names (aliases such as ``fire3`` included).
      out: the site's folder: new, empty, or an atlas built with the same settings (resumed).
      key: a `jax.random` key: every unit starts from the same starts drawn from it.
      pictures: the folder of the dataset examples (default `jaxinv.scores.reference_folder`,
        the shared 100 ImageNet pictures).
      units: the channels of each layer to show (default all).
      prior, seeds, iterations, schedule, image_size: as `jaxinv.maximize`'s.
      k: the top-k and bottom-k pictures per unit.
      relu_slope, redirect_steps: as `jaxinv.atlas.layers.maximize_units`'s (the network as
        trained, dead starts redirected, by default).
      group: units per compiled program and per write (default: all of a layer's missing units;
        smaller groups lose less to a kill); memory_budget: the runner's, splitting a group
        that does not fit.
      batch: pictures per forward pass of the dataset examples.
      inversions, inversion_steps: per layer, the first ``inversions`` pictures of the folder
        inverted and caricatured at the layer, about ``inversion_steps`` steps each
        (`jaxinv.atlas.inversions`; 0 for none); inversion_prior: ``paper`` or ``fast``, the
        same objective reached in fewer steps (docs/results/speed.md#fast-preset).
      progress: as `jaxinv.maximize`'s; False also silences the lines of units done.
    """
    started = time.perf_counter()
    check_key(key)
    if isinstance(layers, str) or not layers:
        raise JaxinvError("layers must be a list of layer names (at least one); pass e.g. ['fire2', 'fire3']")
    _check_options(prior=prior, seeds=seeds, k=k, batch=batch, group=group, iterations=iterations,
                   relu_slope=relu_slope, redirect_steps=redirect_steps, inversions=inversions,
                   inversion_steps=inversion_steps, inversion_prior=inversion_prior)
    rep = _network(network, weights, layers[0])
    assert isinstance(rep.features, CNNFeatures)  # checked by _network
    net = rep.features.network
    names = list(dict.fromkeys(resolve_layer(net, layer) for layer in layers))
    files = picture_files(pictures)
    settings = {"network": net, "pictures": str(files[0].parent.resolve()), "picture_count": len(files),
                "key": _key_data(key), "prior": prior, "seeds": int(seeds), "k": int(k), "iterations": iterations,
                "schedule": None if schedule is None else str(schedule), "image_size": image_size,
                "relu_slope": float(relu_slope), "redirect_steps": int(redirect_steps), "inversions": int(inversions),
                "inversion_steps": int(inversion_steps),
                # recorded only when not the default, so that sites made before the option resume
                **({"inversion_prior": inversion_prior} if inversion_prior != "paper" else {})}
    folder = pathlib.Path(out)
    asked = {layer: _channels(net, layer, units) for layer in names}
    known = _claim(folder, settings, asked)
    todo = {layer: [c for c in chans if read_unit(folder / layer_folder(layer) / f"{unit_name(c)}.json") is None]
            for layer, chans in asked.items()}
    extremes = _extremes(folder, _at_layer(rep, names[0]), files, [n for n in names if todo[n]], k=k, batch=batch)
    maximise = {"key": key, "prior": prior, "seeds": seeds, "iterations": iterations, "schedule": schedule,
                "image_size": image_size, "relu_slope": relu_slope, "redirect_steps": redirect_steps,
                "progress": progress, "memory_budget": memory_budget}
    for layer in names:
        if todo[layer]:
            _make_layer(folder, rep, layer, todo[layer], extremes[layer], files, settings, known=known, group=group,
                        maximise=maximise)
        _invert_layer(folder, rep, layer, files[:inversions], key=key, steps=inversion_steps, prior=inversion_prior,
                      progress=progress)
    _pages(folder, net, known, settings, layers=list(known))  # all of them: a resumed site's pages made whole
    kept = {layer: tuple(c for c in asked[layer] if c not in todo[layer]) for layer in names}
    return AtlasSite(folder, folder / "index.html", {n: tuple(todo[n]) for n in names}, kept,
                     time.perf_counter() - started)
