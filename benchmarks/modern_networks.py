"""VGG-16, ResNet-50 and ViT-B/16 invert: the feature error falls at a middle and a last layer.

    python benchmarks/modern_networks.py --lambda-tv 0.5       # the README's six cases, 224×224
    python benchmarks/modern_networks.py --cases vit_b_16:encoder_layer_6 --json out.jsonl

Random weights (`jaxinv.networks.init_blobs` keyed by ``jax.random.key(--seed)``) make the
reconstructions meaningless as pictures; what this shows is that every network's code can
be matched through all its layer types by the library's optimiser (the 400-iteration ``cnn``
schedule, one seed) from scikit-image's astronaut. With random weights there is no natural
picture for the TV prior to favour, so the README's run weighs it lightly (``--lambda-tv
0.5``); without the option each representation's own λ_V is used (50 for the classifiers,
where the prior then holds the error up: ResNet-50 ``fc`` fell 3.5×, 0.217 → 0.063).
"start" is the feature error ‖Φ(x₁) − Φ0‖² / ‖Φ0‖² of the first iterate, "end" the final
one (`InversionResult.errors`). Results are JSON lines (`jaxinv.results.ResultsFile`): a
killed run resumes where it stopped.
"""

from __future__ import annotations

import pathlib
import time

import jax
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]

import common

import jaxinv
from jaxinv.cli import ArgumentParser, number, seed_number
from jaxinv.networks import init_blobs
from jaxinv.representations.cnn import cnn
from jaxinv.results import ResultsFile

CASES = ("vgg16:conv4_3", "vgg16:fc8", "resnet50:layer3.5", "resnet50:fc",
         "vit_b_16:encoder_layer_6", "vit_b_16:heads.head")


def feature_error(rep, x: np.ndarray, target: np.ndarray) -> float:
    """‖Φ(x) − Φ0‖² / ‖Φ0‖², the error `InversionResult.errors` reports."""
    code = np.asarray(rep.features(rep.params, x), np.float64)
    target = np.asarray(target, np.float64)
    return float(np.sum((code - target) ** 2) / np.sum(target ** 2))


def run_case(case: str, picture: np.ndarray, seed: int, lambda_tv: float | None) -> dict:
    name, layer = case.split(":")
    rep = cnn(name, layer=layer, weights=init_blobs(name, key=jax.random.key(seed)))
    started = time.perf_counter()
    options = {} if lambda_tv is None else {"lambda_tv": lambda_tv}
    result = jaxinv.invert(rep, picture, key=jax.random.key(seed + 1), **options)
    start = feature_error(rep, result.snapshots[0, 0], result.targets)
    end = float(result.errors[0])
    return {"key": case, "network": name, "layer": layer,
            "lambda_tv": rep.lambda_tv if lambda_tv is None else lambda_tv,
            "start_error": start, "end_error": end, "fall": start / end,
            "iterations": int(result.energy.shape[1]), "seconds": time.perf_counter() - started}


def table(rows: list[dict]) -> str:
    """The Markdown table of the results rows (a run's, or those of its JSON-lines file)."""
    lines = ["| network:layer | λ_V | start error | end error | fall | seconds |", "|---|---|---|---|---|---|"]
    lines += [f"| `{row['key']}` | {row['lambda_tv']:g} | {row['start_error']:.3f} |"
              f" {row['end_error']:.4f} | {row['fall']:.0f}× | {row['seconds']:.0f} |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="NETWORK:LAYER,... (default: all six)")
    parser.add_argument("--seed", type=seed_number, default=0, help="weights key; the start's key is seed + 1")
    parser.add_argument("--lambda-tv", type=number(float, minimum=0), default=None,
                        help="λ_V for every case (default: each representation's own)")
    parser.add_argument("--json", default=str(REPO / "benchmarks/results/modern_networks.jsonl"),
                        help="JSON-lines results file (resumed if it exists)")
    args = parser.parse_args(argv)
    import skimage.data

    picture = np.asarray(skimage.data.astronaut(), np.float32)
    results = ResultsFile(args.json, {"benchmark": "modern_networks", "seed": args.seed,
                                      "picture": "skimage astronaut", "schedule": "cnn",
                                      "lambda_tv": args.lambda_tv})
    for case in args.cases.split(","):
        if case not in results.done():
            row = run_case(case, picture, args.seed, args.lambda_tv)
            results.append([row])
            print(f"{case}: {row['start_error']:.3f} -> {row['end_error']:.4f}", flush=True)
    print(table(results.rows))
    return 0


if __name__ == "__main__":
    common.run_script(main, "modern_networks.py")
