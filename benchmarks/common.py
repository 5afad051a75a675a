"""Shared machinery of the benchmarks: image sets, resumable batched runs, summaries, figures.

The benchmarks share code through this module (and `judges`, `step_cases`), never through each
other: a script run as ``python benchmarks/NAME.py`` has this folder on ``sys.path`` and
imports it as ``import common``; the tests get the folder from pytest's ``pythonpath``.

The tables run on the 100 shared ImageNet pictures by default (``--pictures DIR``, else
``$JAXINV_IMAGENET100``, else ``../shared/data/imagenet100``); ``--pictures skimage`` takes
scikit-image's five photographs instead, the quick set of the earlier tables.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

import judges
import jaxinv
from jaxinv import images as jimages
from jaxinv import metrics
from jaxinv.cli import number, positive, seed_number
from jaxinv.errors import JaxinvError
from jaxinv.files import atomic_write_bytes
from jaxinv.images import contrast_stretch
from jaxinv.program import step_limit
from jaxinv.results import ResultsFile, environment

REPO = pathlib.Path(__file__).resolve().parents[1]

#: The natural colour photographs bundled in scikit-image itself (no download). `cat()` is
#: the same picture as `chelsea()`, and the right motorcycle view nearly repeats the left,
#: so each is taken once; microscopy, astronomy and synthetic pictures are left out.
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")
#: A typical ImageNet validation size, (H, W): every code of the set has one length.
IMAGENET_SIZE = (375, 500)
#: The word that selects scikit-image's photographs instead of a folder.
SKIMAGE = "skimage"
#: The shared pretrained weights of each network that has them (`judges.weight_file`).
DEFAULT_WEIGHTS = {name: judges.weight_file(name) for name in judges.WEIGHT_FILES}
#: The layers tabulated by default (`table_cnn.py`, `figures.py`): each block's output, as the
#: paper's figure of every layer.
MAIN_LAYERS = {
    "squeezenet1_1": ["conv1", "relu_conv1", "pool1", "fire2", "fire3", "pool3", "fire4", "fire5", "pool5",
                      "fire6", "fire7", "fire8", "fire9", "conv10", "relu_conv10", "pool10"],
    "googlenet": ["conv1/7x7_s2", "pool1/3x3_s2", "pool1/norm1", "conv2/3x3", "conv2/norm2", "pool2/3x3_s2",
                  "inception_3a", "inception_3b", "pool3/3x3_s2", "inception_4a", "inception_4b", "inception_4c",
                  "inception_4d", "inception_4e", "pool4/3x3_s2", "inception_5a", "inception_5b",
                  "pool5/7x7_s1", "loss3/classifier"],
    "caffenet": ["conv1", "relu1", "pool1", "norm1", "conv2", "relu2", "pool2", "norm2", "conv3", "relu3",
                 "conv4", "relu4", "conv5", "relu5", "pool5", "fc6", "relu6", "fc7", "relu7", "fc8"],
}


def default_pictures() -> str:
    """The shared 100 ImageNet pictures: ``$JAXINV_IMAGENET100`` or ../shared/data/imagenet100."""
    return os.environ.get("JAXINV_IMAGENET100") or str(REPO.parent / "shared" / "data" / "imagenet100")


def representation(name: str, *, weights=None):
    """A representation by name: ``NETWORK:LAYER`` with the shared pretrained weights (or
    ``weights``, a file or blobs), else a name of `jaxinv.registry` (``hog``, ``dsift``, …)."""
    network, _, layer = name.partition(":")
    if not layer:
        return jaxinv.registry.get(name)
    return jaxinv.cnn(network, layer=layer, weights=judges.weight_file(network) if weights is None else weights)


def picture_folder(args: argparse.Namespace) -> str | None:
    """The folder of ``--pictures`` (the default set if not given); None for scikit-image's photographs."""
    folder = args.pictures or default_pictures()
    return None if folder == SKIMAGE else folder


def results_root(args: argparse.Namespace) -> pathlib.Path:
    """``--out``, else benchmarks/results (scikit-image) or benchmarks/results/<folder name>."""
    if args.out:
        return pathlib.Path(args.out)
    folder = picture_folder(args)
    base = REPO / "benchmarks" / "results"
    return base if folder is None else base / pathlib.Path(folder).resolve().name


def skimage_photo(name: str) -> np.ndarray:
    import skimage.data

    if name == "motorcycle":
        return jimages.as_picture(skimage.data.stereo_motorcycle()[0])
    if name not in SKIMAGE_PHOTOS:
        raise JaxinvError(f"{name!r} is not one of the bundled photographs; use one of {', '.join(SKIMAGE_PHOTOS)}")
    return jimages.as_picture(getattr(skimage.data, name)())


def load_image_set(folder: str | None, *, size: tuple[int, int] | None, limit: int | None = None
                   ) -> list[tuple[str, np.ndarray]]:
    """[(name, picture)] of the default set or of every picture file in ``folder``, warped to ``size``."""
    if folder is None:
        items = [(n, skimage_photo(n)) for n in SKIMAGE_PHOTOS]
    else:
        root = pathlib.Path(folder)
        if not root.is_dir():
            raise JaxinvError(f"--pictures {folder!r} is not a folder; pass a folder of pictures"
                              f" (or set JAXINV_IMAGENET100), or --pictures {SKIMAGE}")
        files = sorted(p for p in root.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"))
        if not files:
            raise JaxinvError(f"no pictures in {folder!r}; it needs .jpg/.png files")
        items = [(p.stem, jimages.load(p)) for p in files]
    if limit:
        items = items[:limit]
    if size is not None:
        items = [(n, jimages.resize(p, size)) for n, p in items]
    return items


def photographs(count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """``count`` of scikit-image's photographs warped to ``size`` (H, W), picture i being
    photograph i mod 5: the timing benchmarks' pictures (their content does not change the work)."""
    photos = [p for _, p in load_image_set(None, size=size)]
    return [photos[i % len(photos)] for i in range(count)]


#: An argparse type: a whole number >= 1.
positive_int = positive(int)


def positive_ints(text: str) -> list[int]:
    """An argparse type: comma-separated whole numbers >= 1, such as ``1,8,32``."""
    return [positive_int(part) for part in text.split(",")]


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pictures", "--images", dest="pictures",
                        help=f"folder of pictures, or '{SKIMAGE}' for scikit-image's photographs"
                             " (default: $JAXINV_IMAGENET100, else ../shared/data/imagenet100)")
    parser.add_argument("--limit", type=positive_int, help="use only the first N pictures")
    parser.add_argument("--method", default="paper", choices=["paper", "ijcv", "fast"],
                        help="the prior: paper (default), ijcv, or fast (the paper's objective in fewer steps)")
    parser.add_argument("--batch", type=positive_int, default=5, help="pictures per compiled batch")
    parser.add_argument("--seed", type=seed_number, default=0)
    parser.add_argument("--iterations-scale", type=positive(float, maximum=100), default=1.0,
                        help="scale every stage's iterations (for quick checks; 1 = the paper)")
    parser.add_argument("--table-only", action="store_true",
                        help="run nothing: rebuild the table from the JSON lines already written (n = pictures done)")
    parser.add_argument("--save-pictures", type=number(int, minimum=0, maximum=10**6), default=8,
                        help="save the contrast-stretched reconstructions of the first N pictures (PNG)")
    parser.add_argument("--out", help="results folder (default: benchmarks/results for scikit-image's"
                                      " photographs, benchmarks/results/<folder name> otherwise)")


def _same_shape_batches(rep, todo: list, batch: int) -> list[tuple[tuple, list]]:
    """``todo`` cut into (input shape, batch) pairs: at most ``batch`` pictures whose inputs share
    that shape.

    Pictures at their own size (the paper's HOG/DSIFT protocol) give inputs of many shapes; a
    compiled batch takes one. Shapes are taken in order of first appearance.
    """
    by_shape: dict[tuple, list] = {}
    for item in todo:
        by_shape.setdefault(np.shape(rep.preprocess(item[2])), []).append(item)
    return [(shape, group[s:s + batch]) for shape, group in by_shape.items() for s in range(0, len(group), batch)]


#: Picture shapes compiled in one process before `jax.clear_caches()`. Each shape compiles its
#: own programs, and each of XLA's CPU kernels maps memory of its own: the IJCV Table 1 run
#: died after about 300 shapes with LLVM's "Cannot allocate memory" and a segfault, most
#: likely at the kernel's limit of 65530 memory maps (`/proc/sys/vm/max_map_count`).
SHAPES_BEFORE_CLEARING = 32


def run_rep(rep, pictures: Sequence[tuple[str, np.ndarray]], results: ResultsFile, *, prior: str,
            batch: int, key: jax.Array, schedule=None, save_dir: pathlib.Path | None = None,
            save_first: int | None = None, judge=None, progress=None, **options) -> None:
    """Invert every picture not yet in ``results`` under ``prior`` (`jaxinv.invert_batch`, with the
    prior's ``options``), ``batch`` at a time, appending each result.

    Picture i of the set uses ``fold_in(key, i)`` whatever the batch it falls in, so a resumed
    run computes what an uninterrupted one would. The contrast-stretched reconstructions of
    pictures ``i < save_first`` (all if None) go to ``save_dir``. ``judge(references,
    reconstructions)`` returns one dict of extra fields per picture (the class agreement).
    """
    done = results.done()
    todo = [(i, n, p) for i, (n, p) in enumerate(pictures) if n not in done]
    compiled: set[tuple] = set()
    for shape, group in _same_shape_batches(rep, todo, batch):
        if shape not in compiled and len(compiled) == SHAPES_BEFORE_CLEARING:
            jax.clear_caches()
            compiled.clear()
        compiled.add(shape)
        keys = [jax.random.fold_in(key, i) for i, _, _ in group]
        t0 = time.perf_counter()
        res = jaxinv.invert_batch(rep, [p for _, _, p in group], key=keys, prior=prior, schedule=schedule,
                                  keep_snapshots=False, **options)
        seconds = time.perf_counter() - t0
        references = [np.clip(rep.deprocess(rep.preprocess(p)), 0, 255) for _, _, p in group]
        extra = judge(references, list(res.images[:, 0])) if judge is not None else [{}] * len(group)
        rows = []
        for j, (i, name, picture) in enumerate(group):
            recon, target, reference = res.images[j, 0], res.targets[j], references[j]
            sq = float(np.sum((res.codes[j, 0].astype(np.float64) - target) ** 2))
            rows.append({
                "key": name, "index": i, "sq_error": sq, "target_sq_norm": float(np.sum(target.astype(np.float64) ** 2)),
                "error": float(res.errors[j, 0]), "ijcv_error": float(np.sqrt(res.errors[j, 0])),
                "psnr": metrics.psnr(recon, reference), "ssim": metrics.ssim(recon, reference),
                "diverged": bool(res.diverged[j, 0]), "seconds": seconds / len(group), **extra[j],
            })
            if save_dir is not None and (save_first is None or i < save_first):
                jimages.save_png(save_dir / f"{name}.png", recon, stretch=True)
        results.append(rows)
        if progress is not None:
            progress.update(len(group))


def reference_codes(rep, pictures) -> list[np.ndarray]:
    """Φ0 of every picture (one compiled program per input shape)."""
    code = jax.jit(rep.features)
    return [np.asarray(code(rep.params, jax.numpy.asarray(rep.preprocess(p)))) for p in pictures]


def summarise(rep, pictures, results: ResultsFile) -> dict:
    """Mean ± std of every metric over the pictures of ``pictures`` found in ``results``.

    A picture recorded twice (two runs of one configuration writing one file at once) counts
    once, with its last row.

    ``printed``: the paper's printed metric ‖Φ(x*) − Φ0‖ / mean_ij ‖Φ0_i − Φ0_j‖; ``script``:
    the authors' script's, both squared (docs/METRICS.md); both in percent, normalised by the
    reference codes of the pictures summarised (ragged codes zero-padded).
    """
    rows = {r["key"]: r for r in results.rows}
    names = [n for n, _ in pictures if n in rows]
    targets = reference_codes(rep, [p for n, p in pictures if n in rows])
    distance = np.sqrt([rows[n]["sq_error"] for n in names])
    out = {"n": len(names)}
    # One picture has no pairwise distances: the paper's metrics need a set.
    if len(names) > 1:
        out["printed"] = metrics.mean_std(100 * distance / metrics.mean_pairwise_distance(targets))
        out["script"] = metrics.mean_std(100 * distance ** 2 / metrics.mean_pairwise_sq_distance(targets))
    else:
        out["printed"] = out["script"] = (float("nan"), float("nan"))
    out["ijcv"] = metrics.ijcv_summary([100 * rows[n]["ijcv_error"] for n in names])
    out["error"] = metrics.mean_std([100 * rows[n]["error"] for n in names])
    out["psnr"] = metrics.mean_std([rows[n]["psnr"] for n in names])
    out["ssim"] = metrics.mean_std([rows[n]["ssim"] for n in names])
    out["seconds"] = float(np.sum([rows[n]["seconds"] for n in names]))
    out["diverged"] = int(sum(rows[n]["diverged"] for n in names))
    for who in ("own", "other"):
        field = f"top1_{who}_reconstruction"
        if names and all(field in rows[n] for n in names):
            out[f"agree_{who}"] = 100 * float(np.mean([rows[n][field] == rows[n][f"top1_{who}_original"] for n in names]))
    return out


def fmt(pair, digits=1) -> str:
    """"mean ± std", or a dash where either is undefined (None, as JSON stores it, or not finite)."""
    if pair is None or None in pair or not np.all(np.isfinite(pair)):
        return "–"
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def percent(value: float | None) -> str:
    """A share in percent to the unit, or a dash where it is undefined."""
    return "–" if value is None else f"{value:.0f}"


def save_grid(path: pathlib.Path, pictures, titles, *, cols: int, suptitle: str) -> None:
    """Pictures ([0, 255], any range: each contrast-stretched) in a grid of ``cols`` columns with a
    title each, as a PNG at ``path`` (`save_figure`)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = int(np.ceil(len(pictures) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.1 * cols, 2.3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, im, title in zip(axes.ravel(), pictures, titles):
        ax.imshow(np.clip(contrast_stretch(im), 0, 255).astype(np.uint8).squeeze())
        ax.set_title(title, fontsize=7)
    fig.suptitle(suptitle, fontsize=9)
    save_figure(fig, path)
    plt.close(fig)


def save_figure(fig, path: pathlib.Path) -> None:
    """A matplotlib figure as a PNG, written atomically."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def interleaved_seconds(calls: Sequence[Callable[[], Any]], *, repeats: int) -> list[list[float]]:
    """Seconds of each call, ``repeats`` rounds of one call each in turn, after one untimed
    (compiling) call of each: the calls share whatever load the machine has, so their ratio
    holds on a busy one. JAX results are waited for."""
    for call in calls:
        jax.block_until_ready(call())
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(repeats):
        for call, record in zip(calls, times):
            start = time.perf_counter()
            jax.block_until_ready(call())
            record.append(time.perf_counter() - start)
    return times


def environment_line() -> str:
    env = environment()
    return f"jax {env['jax']} on {env['backend']} ({env['device']}), {env['precision']}."


def run_script(main, name: str) -> None:
    """Run a benchmark's ``main``; bad input prints one line and exits with status 2, and so does a
    run under ``JAXINV_MAX_STEPS`` (its rows would be cut short and kept as results)."""
    try:
        if step_limit() is not None:
            raise JaxinvError("JAXINV_MAX_STEPS is set: a benchmark's results would be cut short; unset it")
        sys.exit(main())
    except JaxinvError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        sys.exit(2)
