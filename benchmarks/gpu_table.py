"""The time of the paper's per-layer table of SqueezeNet v1.1 on the device, from a sample.

The whole table (`benchmarks/table_cnn.py --network squeezenet1_1 --sweep --layers all
--batch P`) inverts P pictures at each of SqueezeNet's 64 layers and 3 values of λ_V, each
(layer, λ) one compiled batch of P pictures (`common.run_rep`: compile, the paper's 400
iterations, retries of diverging inversions, PSNR and SSIM). Here ``layers`` of the 64 are
run exactly so, at the recommended λ_V (λ does not change the work), spread over the depth,
the first and last first; the time of every other layer is interpolated linearly in the
layer's index between the measured ones (the bounds take the cheaper or the dearer
neighbour), and the table's time is 3 × their sum.
"""

from __future__ import annotations

import tempfile
import time

import jax
import numpy as np

import common
import jaxinv
from jaxinv.core.schedules import resolve_schedule
from jaxinv.networks.registry import init_blobs, spec
from jaxinv.results import ResultsFile

NETWORK = "squeezenet1_1"
LAMBDAS = 3  # the paper's sweep λ_V ∈ {0.5, 5, 50}


def sample_order(count: int, sample: int) -> list[int]:
    """``sample`` layer indices spread over ``count`` layers: first, last, then the middle ones."""
    picks = sorted({int(i) for i in np.linspace(0, count - 1, max(min(sample, count), 1)).round()})
    ends = [picks[0], picks[-1]] if len(picks) > 1 else picks
    return ends + [i for i in picks if i not in ends]


def extrapolate(measured: dict[int, float], count: int) -> dict:
    """Seconds of all ``count`` layers × `LAMBDAS` from the seconds of the measured indices."""
    idx = np.array(sorted(measured))
    secs = np.array([measured[i] for i in idx])
    every = np.arange(count)
    middle = np.interp(every, idx, secs)
    right = np.searchsorted(idx, every).clip(0, len(idx) - 1)
    left = (np.searchsorted(idx, every, side="right") - 1).clip(0, len(idx) - 1)
    low, high = np.minimum(secs[left], secs[right]), np.maximum(secs[left], secs[right])
    return {"estimate_s": LAMBDAS * float(middle.sum()), "lower_s": LAMBDAS * float(low.sum()),
            "upper_s": LAMBDAS * float(high.sum()), "layers": count, "lambdas": LAMBDAS}


def table_time(data, *, layers: int, pictures: int, iterations_scale: float, deadline: float) -> dict:
    """Run ``layers`` sampled layers of the table on ``pictures`` pictures; extrapolate the rest."""
    path = data.squeezenet_path()
    weights = str(path) if path is not None else init_blobs(NETWORK)
    names = [n for n in spec(NETWORK).layers if n != "prob"]
    photos, source = data.pictures(pictures)
    out: dict = {"network": NETWORK, "weights": str(path) if path else "random (no SqueezeNet weights found)",
                 "pictures": len(photos), "picture_source": source, "iterations_scale": iterations_scale,
                 "full_schedule": iterations_scale == 1.0, "sampled": []}
    measured: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for index in sample_order(len(names), layers):
            last = max(measured.values(), default=0.0)
            if measured and time.perf_counter() + 1.5 * last > deadline:
                out["stopped"] = "time budget"
                break
            rep = jaxinv.cnn(NETWORK, layer=names[index], weights=weights)
            schedule = resolve_schedule(rep.schedule).shortened(iterations_scale)
            results = ResultsFile(f"{tmp}/{index}.jsonl", {"layer": names[index]})
            started = time.perf_counter()
            common.run_rep(rep, photos, results, prior="paper", batch=len(photos), key=jax.random.key(0),
                           schedule=schedule)
            measured[index] = time.perf_counter() - started
            out["sampled"].append({"layer": names[index], "index": index, "seconds": measured[index],
                                   "iterations": schedule.total,
                                   "diverged": int(sum(r["diverged"] for r in results.rows))})
    if measured:
        out.update(extrapolate(measured, len(names)))
    out["command"] = ("python benchmarks/table_cnn.py --network squeezenet1_1 --sweep --layers all"
                      f" --images <imagenet100> --batch {len(photos)}")
    return out
