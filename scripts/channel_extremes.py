"""Per-channel extremes of network layers over the 100 shared ImageNet pictures.

For each layer, each channel's largest and smallest activation over every position of every
picture (``max``, ``min``: the authors' ``get_neuron_stats.m`` statistic, there on ImageNet
training pictures), and the largest and smallest spatial mean over the pictures
(``mean_max``, ``mean_min``). Pictures go through jaxinv's own preprocessing (a warp to the
network's input size, BGR, minus the mean pixel). The numbers scale activation maximisation
(`jaxinv.core.visualization.unit_weight`) and judge it (a maximised unit as a multiple of its
largest value on natural pictures); `jaxinv.plan.unit_extremes` reads them.

    python scripts/channel_extremes.py            # writes jaxinv/data/channel_extremes.json
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

import jax
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]

from jaxinv import images
from jaxinv.files import atomic_write_bytes, json_text
from jaxinv.weights import load_network

#: Four depths per network (before their ReLUs), the layers of the caricatures, and the logits.
LAYERS = {
    "squeezenet1_1": ("fire3/expand3x3", "fire5/expand3x3", "fire7/expand3x3", "fire9/expand3x3",
                      "fire9/concat", "pool10"),
    "googlenet": ("conv2/3x3", "inception_3a/3x3", "inception_4d/5x5", "inception_5b/3x3",
                  "inception_4d/output", "loss3/classifier"),
}
WEIGHT_FILES = {"squeezenet1_1": ("squeezenet_v1.1", "squeezenet_v1.1.caffemodel"),
                "googlenet": ("bvlc_googlenet", "bvlc_googlenet.caffemodel")}
OUT = REPO / "jaxinv" / "data" / "channel_extremes.json"


def _round(values: np.ndarray) -> list[float]:
    return [float(f"{v:.5g}") for v in np.asarray(values, np.float64)]


def measure(network: str, weights: pathlib.Path, pictures: list[np.ndarray], layers: tuple[str, ...],
            batch: int = 10) -> dict:
    net = load_network(network, weights=weights)
    deepest = max(layers, key=net.layers.index)
    stats: dict[str, dict[str, np.ndarray]] = {}
    for start in range(0, len(pictures), batch):
        x = np.stack([net.preprocess(p) for p in pictures[start:start + batch]])
        acts = net.activations(jax.numpy.asarray(x), layer=deepest)
        for layer in layers:
            a = np.asarray(acts[layer], np.float64)
            a = a.reshape(a.shape[0], -1, a.shape[-1])  # (pictures, positions, channels); fc codes have one
            found = {"max": a.max(axis=(0, 1)), "min": a.min(axis=(0, 1)),
                     "mean_max": a.mean(axis=1).max(axis=0), "mean_min": a.mean(axis=1).min(axis=0)}
            old = stats.setdefault(layer, found)
            for name, value in found.items():
                old[name] = (np.maximum if name.endswith("max") else np.minimum)(old[name], value)
    return {"input_size": net.input_size,
            "layers": {layer: {k: _round(v) for k, v in stats[layer].items()} for layer in layers}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pictures", default=os.environ.get("JAXINV_IMAGENET100",
                                                             str(REPO.parent / "shared" / "data" / "imagenet100")))
    parser.add_argument("--weights", default=os.environ.get("JAXINV_SHARED_WEIGHTS",
                                                            str(REPO.parent / "shared" / "weights")))
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    files = sorted(pathlib.Path(args.pictures).glob("*.JPEG"))
    if len(files) != 100:
        parser.error(f"expected the 100 shared ImageNet pictures in {args.pictures}, found {len(files)}")
    pictures = [images.load(f) for f in files]
    result = {"script": "scripts/channel_extremes.py",
              "pictures": "the 100 pictures of ../shared/data/imagenet100, jaxinv's preprocessing",
              "statistics": "per channel: max/min over every position of every picture; mean_max/mean_min:"
                            " the largest/smallest spatial mean over the pictures",
              "networks": {}}
    for network, layers in LAYERS.items():
        weights = pathlib.Path(args.weights).joinpath(*WEIGHT_FILES[network])
        result["networks"][network] = measure(network, weights, pictures, layers)
        print(f"{network}: {', '.join(layers)}", file=sys.stderr)
    atomic_write_bytes(args.out, (json_text(result, separators=(",", ":")) + "\n").encode())  # compact: ~7000 numbers
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
