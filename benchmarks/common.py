"""Shared machinery of the table benchmarks: image sets, resumable batched runs, summaries."""

from __future__ import annotations

import argparse
import pathlib
import sys
import time
from collections.abc import Sequence

import jax
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import jaxinv  # noqa: E402
from jaxinv import images as jimages  # noqa: E402
from jaxinv import metrics  # noqa: E402
from jaxinv.cli import positive  # noqa: E402
from jaxinv.errors import JaxinvError  # noqa: E402
from jaxinv.results import ResultsFile, environment  # noqa: E402

#: The natural colour photographs bundled in scikit-image itself (no download). `cat()` is
#: the same picture as `chelsea()`, and the right motorcycle view nearly repeats the left,
#: so each is taken once; microscopy, astronomy and synthetic pictures are left out.
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")
#: A typical ImageNet validation size, (H, W): every code of the set has one length.
IMAGENET_SIZE = (375, 500)


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
            raise JaxinvError(f"--images {folder!r} is not a folder; pass a folder of pictures")
        files = sorted(p for p in root.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"))
        if not files:
            raise JaxinvError(f"no pictures in {folder!r}; it needs .jpg/.png files")
        items = [(p.stem, jimages.load(p)) for p in files]
    if limit:
        items = items[:limit]
    if size is not None:
        items = [(n, jimages.resize(p, size)) for n, p in items]
    return items


#: An argparse type: a whole number >= 1.
positive_int = positive(int)


def positive_ints(text: str) -> list[int]:
    """An argparse type: comma-separated whole numbers >= 1, such as ``1,8,32``."""
    return [positive_int(part) for part in text.split(",")]


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", help="folder of pictures (default: scikit-image's photographs)")
    parser.add_argument("--limit", type=positive_int, help="use only the first N pictures")
    parser.add_argument("--method", default="paper", choices=["paper", "ijcv"])
    parser.add_argument("--batch", type=positive_int, default=5, help="pictures per compiled batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations-scale", type=float, default=1.0,
                        help="scale every stage's iterations (for quick checks; 1 = the paper)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))


def run_rep(rep, pictures: Sequence[tuple[str, np.ndarray]], results: ResultsFile, *, method: str,
            batch: int, key: jax.Array, schedule=None, save_dir: pathlib.Path | None = None,
            progress=None, **options) -> None:
    """Invert every picture not yet in ``results``, ``batch`` at a time, appending each result.

    Picture i of the set uses ``fold_in(key, i)`` whatever the batch it falls in, so a resumed
    run computes what an uninterrupted one would.
    """
    done = results.done()
    todo = [(i, n, p) for i, (n, p) in enumerate(pictures) if n not in done]
    for start in range(0, len(todo), batch):
        group = todo[start:start + batch]
        keys = [jax.random.fold_in(key, i) for i, _, _ in group]
        t0 = time.perf_counter()
        res = jaxinv.inversion.run_inversion(rep, [p for _, _, p in group], image_keys=keys,
                                             method=method, schedule=schedule, keep_snapshots=False,
                                             **options)
        seconds = time.perf_counter() - t0
        rows = []
        for j, (i, name, picture) in enumerate(group):
            reference = np.clip(rep.deprocess(rep.preprocess(picture)), 0, 255)
            recon = res.images[j, 0]
            target = res.targets[j]
            sq = float(np.sum((res.codes[j, 0].astype(np.float64) - target) ** 2))
            rows.append({
                "key": name, "index": i, "sq_error": sq, "target_sq_norm": float(np.sum(target.astype(np.float64) ** 2)),
                "error": float(res.errors[j, 0]), "ijcv_error": float(np.sqrt(res.errors[j, 0])),
                "psnr": metrics.psnr(recon, reference), "ssim": metrics.ssim(recon, reference),
                "diverged": bool(res.diverged[j, 0]), "seconds": seconds / len(group),
            })
            if save_dir is not None:
                jimages.save_png(save_dir / f"{name}.png", recon, stretch=True)
        results.append(rows)
        if progress is not None:
            progress.update(len(group))


def summarise(rep, pictures, results: ResultsFile) -> dict:
    """Mean ± std of every metric; the paper's metric uses the set normaliser of the targets."""
    rows = {r["key"]: r for r in results.rows}
    names = [n for n, _ in pictures if n in rows]
    inputs = [rep.preprocess(p) for n, p in pictures if n in rows]
    targets = [np.asarray(rep.code(x)) for x in inputs]
    normaliser = metrics.set_normaliser(targets)
    # One picture has no pairwise distances: the paper's metric needs a set.
    paper = np.array([rows[n]["sq_error"] / normaliser if normaliser > 0 else np.nan for n in names])
    out = {"n": len(names), "normaliser": normaliser}
    out["paper"] = metrics.mean_std(100 * paper)
    out["ijcv"] = metrics.ijcv_summary([100 * rows[n]["ijcv_error"] for n in names])
    out["error"] = metrics.mean_std([100 * rows[n]["error"] for n in names])
    out["psnr"] = metrics.mean_std([rows[n]["psnr"] for n in names])
    out["ssim"] = metrics.mean_std([rows[n]["ssim"] for n in names])
    out["seconds"] = float(np.sum([rows[n]["seconds"] for n in names]))
    out["diverged"] = int(sum(rows[n]["diverged"] for n in names))
    return out


def fmt(pair, digits=1) -> str:
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def environment_line() -> str:
    env = environment()
    return f"jax {env['jax']} on {env['backend']} ({env['device']}), {env['precision']}."


def run_script(main, name: str) -> None:
    """Run a benchmark's ``main``; bad input prints one line and exits with status 2."""
    try:
        sys.exit(main())
    except JaxinvError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        sys.exit(2)
