"""Top-1 classes of the pretrained networks: ImageNet labels and the class-agreement columns.

A reconstruction "keeps the class" when a network's top-1 class of it equals that network's
top-1 class of the original picture. The per-layer tables ask it of the network that was
inverted and of the *other* network (GoogLeNet judges SqueezeNet's reconstructions and the
reverse), which no optimisation has seen.
"""

from __future__ import annotations

import functools
import os
import pathlib
from collections.abc import Sequence

import jax
import numpy as np

import jaxinv
from jaxinv.errors import JaxinvError
from jaxinv.scores import judge_features, reference_pictures, score_pictures, top_k_classes

REPO = pathlib.Path(__file__).resolve().parents[1]
#: The last layer before the softmax: its argmax is the top-1 class.
LOGITS = {"squeezenet1_1": "pool10", "googlenet": "loss3/classifier", "caffenet": "fc8"}
#: The network that judges another's reconstructions.
OTHER = {"squeezenet1_1": "googlenet", "googlenet": "squeezenet1_1"}
WEIGHT_FILES = {"squeezenet1_1": ("squeezenet_v1.1", "squeezenet_v1.1.caffemodel"),
                "googlenet": ("bvlc_googlenet", "bvlc_googlenet.caffemodel")}
#: The judge layer whose features plausibility and KID compare: each network's last pooled features
#: (SqueezeNet's are its class scores, averaged over positions: it has no pooled layer before them).
FEATURE_LAYER = {"squeezenet1_1": "pool10", "googlenet": "pool5/7x7_s1"}
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
    """Top-k classes of pictures by one pretrained network, through `jaxinv.scores` (its class scores are
    `jaxinv.scores.judge_features` at the softmax's input, its classes `jaxinv.scores.top_k_classes`)."""

    def __init__(self, network: str, *, weights: str | os.PathLike | None = None, batch: int = 20):
        self.network = network
        self.judge = jaxinv.cnn(network, layer=LOGITS[network],
                                weights=weights if weights is not None else weight_file(network))
        self.batch = batch

    def logits(self, pictures: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 1000) scores of [0, 255] pictures of any size (each warped to the input; gray as RGB)."""
        return judge_features(self.judge, pictures, batch=self.batch).reshape(len(pictures), -1)

    def top1(self, pictures: Sequence[np.ndarray]) -> np.ndarray:
        return self.top5(pictures)[:, 0]

    def top5(self, pictures: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 5) class indices, the highest score first."""
        return np.asarray(top_k_classes(self.logits(pictures), k=5))


def judge_classes(classifiers: dict[str, Classifier], network: str,
                  pictures: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Class pictures made on ``network``: its own top-1 of each (N,) and the other network's top-5 (N, 5)."""
    return classifiers[network].top1(pictures), classifiers[OTHER[network]].top5(pictures)


def gray_as_rgb(picture: np.ndarray) -> np.ndarray:
    """A (H, W, 1) picture replicated to three channels (as Caffe and MatConvNet read gray JPEGs)."""
    picture = np.asarray(picture)
    return np.repeat(picture, 3, axis=-1) if picture.shape[-1] == 1 else picture


@functools.lru_cache(maxsize=1)
def reference_set() -> tuple[np.ndarray, ...]:
    """The shared 100 ImageNet pictures (`jaxinv.scores.reference_pictures`), read once."""
    return tuple(reference_pictures())


def score_set(pictures: Sequence[np.ndarray], network: str, *, labels: Sequence[int] | None = None,
              originals: Sequence[np.ndarray] | None = None, seed: int = 0) -> dict:
    """The other network's scores of pictures made on ``network``: `jaxinv.scores.score_pictures` with
    ``OTHER[network]``'s `FEATURE_LAYER` as the judge, the shared 100 pictures as the reference set, its
    top-5 for transferability and ``jax.random.key(seed)`` for KID's subsets (what ``jaxinv score`` writes,
    less the definitions, which `jaxinv.scores.SCORE_DEFINITIONS` holds)."""
    judge_network = OTHER[network]
    judge = jaxinv.cnn(judge_network, layer=FEATURE_LAYER[judge_network], weights=weight_file(judge_network))
    found = score_pictures([gray_as_rgb(p) for p in pictures], judge=judge, key=jax.random.key(seed),
                           reference=list(reference_set()), labels=labels,
                           originals=None if originals is None else [gray_as_rgb(p) for p in originals], k=5)
    found.pop("definitions")
    return found


def score_columns(found: dict | None, *fields: str) -> str:
    """Markdown cells of a set's scores (`score_set`): 3 decimals, KID with its standard error; dashes
    where the set was not scored."""
    if found is None:
        return " | ".join("—" for _ in fields)
    return " | ".join(f"{found['kid']:.3g} ± {found['kid_standard_error']:.2g}" if field == "kid"
                      else f"{found[field]:.3f}" for field in fields)


def path_columns(found: dict | None) -> str:
    """Markdown cells of a class set's path check (``found["path"]``, `path_check.class_paths`): the
    median summary and how many pictures it flags; dashes where it was not checked."""
    if found is None or "path" not in found:
        return "— | —"
    path = found["path"]
    return f"{np.median(path['summaries']):.3f} | {sum(path['flagged'])}/{len(path['flagged'])}"
