"""What PSNR and SSIM give for pictures that keep nothing of the original (a scale for the tables).

    python benchmarks/pixel_baselines.py        # the 100 shared ImageNet pictures and scikit-image's five

For each set it scores, against every picture, (a) a flat picture of that picture's own mean
colour (or gray) and (b) the next picture of the set: the PSNR/SSIM a reconstruction gets
while keeping only the mean colour, or nothing at all. Pictures as the tables see them:
colour warped to 227×227 (SqueezeNet's table), the first 25 warped to 224×224 (GoogLeNet's),
gray at their own size (Table 1).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import common

from jaxinv import metrics
from jaxinv.images import atomic_write_bytes, rgb_to_gray


def scores(pictures: list[np.ndarray], *, with_next: bool, size: int | None, source: str) -> dict:
    """Mean ± std PSNR/SSIM of the flat mean picture (and of the next picture) against each picture;
    ``size`` (the side they were warped to, None for their own) and ``source`` let a table find the
    baseline of its own pictures (`seed_question.py`)."""
    flat = [np.broadcast_to(p.mean(axis=(0, 1)), p.shape) for p in pictures]
    out = {"n": len(pictures), "size": size, "source": source,
           "flat_psnr": metrics.mean_std([metrics.psnr(f, p) for f, p in zip(flat, pictures)]),
           "flat_ssim": metrics.mean_std([metrics.ssim(f, p) for f, p in zip(flat, pictures)])}
    if with_next:
        following = pictures[1:] + pictures[:1]
        out["next_psnr"] = metrics.mean_std([metrics.psnr(q, p) for q, p in zip(following, pictures)])
        out["next_ssim"] = metrics.mean_std([metrics.ssim(q, p) for q, p in zip(following, pictures)])
    return out


def table(result: dict) -> str:
    """Markdown: one row per set of pictures of a pixel_baselines.json record (mean ± std)."""
    lines = ["| pictures | n | flat mean picture: PSNR dB | SSIM | another picture: PSNR dB | SSIM |",
             "|---|---|---|---|---|---|"]
    for name, s in result.items():
        lines.append(f"| {name} | {s['n']} | {common.fmt(s['flat_psnr'], 2)} | {common.fmt(s['flat_ssim'], 3)}"
                     f" | {common.fmt(s.get('next_psnr'), 2)} | {common.fmt(s.get('next_ssim'), 3)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pictures", help="folder (default: $JAXINV_IMAGENET100, else ../shared/data/imagenet100)")
    parser.add_argument("--out", default=str(common.REPO / "benchmarks" / "results" / "imagenet100" / "pixel_baselines.json"))
    args = parser.parse_args(argv)
    folder = args.pictures or common.default_pictures()

    def colour(where, side, limit=None):
        pictures = [np.clip(p, 0, 255) for _, p in common.load_image_set(where, size=(side, side), limit=limit)]
        return scores(pictures, with_next=True, size=side, source="folder" if where else "scikit-image")

    gray = [rgb_to_gray(p) for _, p in common.load_image_set(folder, size=None)]
    # SqueezeNet's table: all the pictures at 227; GoogLeNet's: the first 25 at 224
    result = {"colour 227x227": colour(folder, 227),
              "colour 224x224, first 25": colour(folder, 224, limit=25),
              "gray, own size": scores(gray, with_next=False, size=None, source="folder"),
              "scikit-image colour 227x227": colour(None, 227)}
    print(table(result))
    atomic_write_bytes(args.out, (json.dumps(result, indent=1, allow_nan=False) + "\n").encode())
    return 0


if __name__ == "__main__":
    common.run_script(main, "pixel_baselines")
