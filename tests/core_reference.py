"""Fixed inversions whose numbers the composable core must reproduce (issue #14).

`python tests/core_reference.py` records them with the code it runs on, into
``tests/data/core_reference.npz``; `tests/test_core_reference.py` reruns them and compares
errors and images closely. Recorded on the engine before the core was restructured (commit
cb9291f, checked out beside the current code).

The runs are short on purpose: the inversion is chaotic, so a CPU whose XLA kernels round
differently (AVX-512 against AVX2, say) ends 75 steps up to 5 % apart in error and up to 180 grey
levels apart in a pixel, while five steps stay within float rounding of each other. Five steps
in chunks of two still cross a chunk boundary and the reset between the schedule's two stages.
"""

from __future__ import annotations

import pathlib

import jax
import numpy as np

import jaxinv
from jaxinv.images import default_picture

HERE = pathlib.Path(__file__).resolve().parent

FILE = HERE / "data" / "core_reference.npz"
PAPER_SCHEDULE = [(0.004, 3), (0.0004, 2)]
IJCV_SCHEDULE = [(1.0, 3), (0.1, 2)]
CHUNK = 2


def _representation(name: str, weights_dir: pathlib.Path):
    if name == "squeezenet1_1:fire5":
        return jaxinv.cnn("squeezenet1_1", layer="fire5",
                          weights=weights_dir / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel")
    return jaxinv.registry.get(name)


def cases() -> list[tuple[str, str]]:
    return [(rep, method) for rep in ("hog", "dsift", "squeezenet1_1:fire5") for method in ("paper", "ijcv")]


def run_case(rep_name: str, method: str, weights_dir: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """(errors (2,), images (2, H, W, C)) of one fixed inversion: 2 seeds, 5 iterations."""
    rep = _representation(rep_name, weights_dir)
    picture = default_picture("astronaut")[100:196, 180:300]
    schedule = PAPER_SCHEDULE if method == "paper" else IJCV_SCHEDULE
    result = jaxinv.invert(rep, picture, key=jax.random.key(11), seeds=2, prior=method, schedule=schedule,
                           chunk=CHUNK, keep_snapshots=False)
    return np.asarray(result.errors), np.asarray(result.images, np.float32)


def record(weights_dir: pathlib.Path) -> None:
    arrays = {}
    for rep_name, method in cases():
        errors, images = run_case(rep_name, method, weights_dir)
        arrays[f"{rep_name}|{method}|errors"] = errors
        arrays[f"{rep_name}|{method}|images"] = images
        print(rep_name, method, errors)
    FILE.parent.mkdir(exist_ok=True)
    np.savez_compressed(FILE, **arrays)


if __name__ == "__main__":
    record(HERE.parent.parent / "shared" / "weights")
