"""Natural pictures' colour statistics and mean amplitude spectrum, for jaxinv's image priors.

    python scripts/natural_statistics.py [--pictures ../shared/data/imagenet100] [--count 50]

Reads the first ``--count`` pictures (file-name order) of the shared ImageNet folder and
writes ``jaxinv/data/natural_statistics.json`` (atomically):

- ``colour_mean``, ``colour_covariance``: μ and Σ of RGB pixels in [0, 255], every picture
  weighing the same (`jaxinv.core.colour.colour_moments`); ``colour_sqrt_covariance``: Σ^{1/2};
- ``amplitude``: each picture resized (shorter side ``size``, bicubic) and centre-cropped to
  ``size`` × ``size``, whitened (t = Σ^{-1/2}(p − μ)), its orthonormal rfft2 amplitude per
  channel averaged over the pictures and over rings |f| = k/size, k = 0 … ⌊size/√2⌋
  (`jaxinv.core.fourier.Maco` interpolates the profile at any size).

The other pictures of the folder are left for the tests (the whitening is checked on them).
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

from jaxinv import images
from jaxinv.core.colour import STATISTICS_FILE, colour_moments, symmetric_sqrt
from jaxinv.core.fourier import frequency_magnitudes
from jaxinv.files import write_json

REPO = pathlib.Path(__file__).resolve().parents[1]
SIZE = 224


def first_pictures(folder: pathlib.Path, count: int) -> list[pathlib.Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    if len(files) < count:
        raise SystemExit(f"{folder} has {len(files)} pictures, fewer than {count}")
    return files[:count]


def centre_square(picture: np.ndarray, size: int) -> np.ndarray:
    """Resize the shorter side to ``size`` (aspect kept), then crop the centre ``size`` × ``size``."""
    h, w = picture.shape[:2]
    scale = size / min(h, w)
    resized = images.resize(picture, (max(size, round(h * scale)), max(size, round(w * scale))))
    top, left = (resized.shape[0] - size) // 2, (resized.shape[1] - size) // 2
    return resized[top:top + size, left:left + size]


def amplitude_profile(pictures: list[np.ndarray], mean: np.ndarray, whitening: np.ndarray, size: int) -> np.ndarray:
    """(3, K) mean amplitude of the whitened pictures' orthonormal rfft2 on rings k/size."""
    amplitude = np.zeros((3, size, size // 2 + 1))
    for picture in pictures:
        t = (centre_square(picture, size).astype(np.float64) - mean) @ whitening.T
        amplitude += np.abs(np.fft.rfft2(np.moveaxis(t, -1, 0), norm="ortho"))
    amplitude /= len(pictures)
    rings = np.rint(frequency_magnitudes(size, size) * size).astype(int)
    counts = np.bincount(rings.ravel())
    return np.stack([np.bincount(rings.ravel(), a.ravel()) / counts for a in amplitude])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pictures", type=pathlib.Path, default=REPO.parent / "shared" / "data" / "imagenet100")
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--out", type=pathlib.Path, default=REPO / "jaxinv" / "data" / STATISTICS_FILE)
    args = parser.parse_args()
    files = first_pictures(args.pictures, args.count)
    pictures = [images.load(f) for f in files]
    mean, covariance = colour_moments(pictures)
    root = symmetric_sqrt(covariance)
    profile = amplitude_profile(pictures, mean, np.linalg.inv(root), SIZE)
    write_json(args.out, {
        "script": "scripts/natural_statistics.py",
        "pictures": f"the first {args.count} of ../shared/data/imagenet100 in file-name order",
        "files": [f.name for f in files],
        "colour_mean": [round(float(v), 6) for v in mean],
        "colour_covariance": [[round(float(v), 6) for v in row] for row in covariance],
        "colour_sqrt_covariance": [[round(float(v), 6) for v in row] for row in root],
        "amplitude": {
            "size": SIZE,
            "rings": f"profile[c][k]: mean |rfft2(t_c)| (orthonormal) over |f| = k/{SIZE} cycles per pixel",
            "profile": [[round(float(v), 6) for v in row] for row in profile],
        },
    })
    print(f"wrote {args.out} from {len(files)} pictures; mean {np.round(mean, 2)}, "
          f"channel std {np.round(np.sqrt(np.diag(covariance)), 2)}")


if __name__ == "__main__":
    main()
