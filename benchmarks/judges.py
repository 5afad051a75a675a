"""Top-1 classes of the pretrained networks: ImageNet labels and the class-agreement columns.

A reconstruction "keeps the class" when a network's top-1 class of it equals that network's
top-1 class of the original picture. The per-layer tables ask it of the network that was
inverted and of the *other* network (GoogLeNet judges SqueezeNet's reconstructions and the
reverse), which no optimisation has seen.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

import numpy as np

from jaxinv.errors import JaxinvError
from jaxinv.weights import load_network as load

REPO = pathlib.Path(__file__).resolve().parents[1]
#: The last layer before the softmax: its argmax is the top-1 class.
LOGITS = {"squeezenet1_1": "pool10", "googlenet": "loss3/classifier", "caffenet": "fc8"}
#: The network that judges another's reconstructions.
OTHER = {"squeezenet1_1": "googlenet", "googlenet": "squeezenet1_1"}
WEIGHT_FILES = {"squeezenet1_1": ("squeezenet_v1.1", "squeezenet_v1.1.caffemodel"),
                "googlenet": ("bvlc_googlenet", "bvlc_googlenet.caffemodel")}
#: The ten classes the maximisation benchmarks raise and these networks judge (`maximization.py`,
#: `priors.py`), chosen before any result was seen: Simonyan, Vedaldi & Zisserman 2014 ("Deep
#: inside convolutional networks", Fig. 1); class name → 0-based line of ``synset_words.txt``.
CLASSES = {"dumbbell": 543, "cup": 968, "dalmatian": 251, "bell pepper": 945, "lemon": 951,
           "Siberian husky": 250, "washing machine": 897, "computer keyboard": 508, "kit fox": 278, "goose": 99}


def shared_weights() -> pathlib.Path:
    """The shared weights folder (`JAXINV_SHARED_WEIGHTS`, default ../shared/weights)."""
    return pathlib.Path(os.environ.get("JAXINV_SHARED_WEIGHTS", REPO.parent / "shared" / "weights"))


def weight_file(network: str) -> pathlib.Path:
    if network not in WEIGHT_FILES:
        raise JaxinvError(f"no shared weights for {network!r}; use one of {', '.join(WEIGHT_FILES)}")
    return shared_weights().joinpath(*WEIGHT_FILES[network])


def synset_indices(path: str | os.PathLike | None = None) -> dict[str, int]:
    """{synset id: class index}: the 0-based line number in ``synset_words.txt``."""
    path = pathlib.Path(path) if path is not None else shared_weights() / "synset_words.txt"
    if not path.is_file():
        raise JaxinvError(f"{str(path)!r} not found; set JAXINV_SHARED_WEIGHTS to the folder holding synset_words.txt")
    lines = path.read_text().splitlines()
    return {line.split()[0]: i for i, line in enumerate(lines) if line.strip()}


def labels(names: Sequence[str], synsets: dict[str, int]) -> list[int]:
    """Class index of each picture from its file name's synset id (``n01440764_tench`` → 0)."""
    out = []
    for name in names:
        synset = name.split("_", 1)[0]
        if synset not in synsets:
            raise JaxinvError(f"picture {name!r} does not start with a known synset id (n01440764_…);"
                              " name ImageNet pictures by their synset")
        out.append(synsets[synset])
    return out


class Classifier:
    """Top-1 class of pictures by one pretrained network, through jaxinv's preprocessing."""

    def __init__(self, network: str, *, weights: str | os.PathLike | None = None, batch: int = 20):
        self.network = network
        self.net = load(network, weights=weights if weights is not None else weight_file(network))
        self.batch = batch

    def logits(self, pictures: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 1000) scores of [0, 255] RGB pictures of any size (each warped to the input)."""
        inputs = np.stack([self.net.preprocess(p) for p in pictures])
        chunks = []
        for start in range(0, len(inputs), self.batch):
            part = inputs[start:start + self.batch]
            # A short last chunk is padded so that one compiled program serves every chunk.
            padded = np.concatenate([part, np.zeros((self.batch - len(part), *part.shape[1:]), part.dtype)])
            out = np.asarray(self.net.apply(padded, layer=LOGITS[self.network]))
            chunks.append(out.reshape(self.batch, -1)[: len(part)])
        return np.concatenate(chunks)

    def top1(self, pictures: Sequence[np.ndarray]) -> np.ndarray:
        return np.argmax(self.logits(pictures), axis=1)

    def top5(self, pictures: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 5) class indices, the highest score first."""
        return np.argsort(-self.logits(pictures), axis=1)[:, :5]


def judge_classes(classifiers: dict[str, Classifier], network: str,
                  pictures: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Class pictures made on ``network``: its own top-1 of each (N,) and the other network's top-5 (N, 5)."""
    return classifiers[network].top1(pictures), classifiers[OTHER[network]].top5(pictures)


def gray_as_rgb(picture: np.ndarray) -> np.ndarray:
    """A (H, W, 1) picture replicated to three channels (as Caffe and MatConvNet read gray JPEGs)."""
    picture = np.asarray(picture)
    return np.repeat(picture, 3, axis=-1) if picture.shape[-1] == 1 else picture
