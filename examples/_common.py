"""Shared plumbing of the example scripts: arguments, weights, schedules, figures, outputs.

Nothing here is part of the library; each example imports it as ``import _common as C``
(Python puts a script's own folder on ``sys.path``; jaxinv itself is the installed package, or
this checkout on ``PYTHONPATH``). Only public names of `jaxinv` are imported.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import sys
import time
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from jaxinv.cli import ArgumentParser, count, number, positive, seed_number  # noqa: E402,F401
from jaxinv.core.schedules import Schedule, resolve_schedule  # noqa: E402
from jaxinv.files import json_text, undefined_as_null  # noqa: E402
from jaxinv.images import contrast_stretch  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent

#: Weight files under --weights-dir, per network (the paper's CaffeNet falls back to the cache).
WEIGHT_FILES = {
    "squeezenet1_1": "squeezenet_v1.1/squeezenet_v1.1.caffemodel",
    "googlenet": "bvlc_googlenet/bvlc_googlenet.caffemodel",
    "caffenet": "bvlc_reference_caffenet/bvlc_reference_caffenet.caffemodel",
}

#: A middle and a deep layer per network (the deep one is the last before the classifier's
#: logits), chosen so that each example runs in minutes on a laptop CPU.
DEFAULT_LAYERS = {
    "squeezenet1_1": ("fire5/concat", "fire9/concat"),
    "googlenet": ("inception_3b/output", "inception_4e/output"),
    "caffenet": ("relu3", "relu7"),
}

#: The layer just before the softmax, where a class score vector lives.
LOGIT_LAYERS = {"squeezenet1_1": "pool10", "googlenet": "loss3/classifier", "caffenet": "fc8"}


def run(main) -> None:
    """Run an example's ``main``: bad input (a `JaxinvError`) ends with one line, not a traceback."""
    from jaxinv.errors import JaxinvError

    try:
        main()
    except JaxinvError as exc:  # status 2, as the CLI and the benchmarks
        print(f"{pathlib.Path(sys.argv[0]).name}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def default_weights_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("JAXINV_SHARED_WEIGHTS", REPO.parent / "shared" / "weights"))


def parser(name: str, description: str, *, seeds: int = 2, iterations_scale: float = 1.0,
           network: bool = True) -> argparse.ArgumentParser:
    """The options every example shares; ``name`` sets the default output folder."""
    p = ArgumentParser(description=description,
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=pathlib.Path, default=HERE / "out" / name, help="output folder")
    p.add_argument("--iterations-scale", type=positive(float, maximum=100), default=iterations_scale,
                   help="fraction of the paper's schedule (1 = 100+200+100 iterations for a CNN)")
    p.add_argument("--seeds", type=count, default=seeds, help="random starts per code")
    p.add_argument("--seed", type=seed_number, default=0, help="seed of the jax.random key")
    if network:
        p.add_argument("--network", default="squeezenet1_1", choices=sorted(WEIGHT_FILES),
                       help="network to invert (caffenet needs its weights in the cache)")
        p.add_argument("--weights-dir", type=pathlib.Path, default=default_weights_dir(),
                       help="folder of the pretrained weights (env JAXINV_SHARED_WEIGHTS)")
        p.add_argument("--picture", default="astronaut",
                       help="a scikit-image picture name (astronaut, chelsea, coffee) or an image file")
    return p


def weights_for(network: str, weights_dir: pathlib.Path) -> str | None:
    """The weight file of ``network`` under ``weights_dir``, or None to use jaxinv's cache."""
    path = pathlib.Path(weights_dir) / WEIGHT_FILES[network]
    if path.is_file():
        return str(path)
    if network == "caffenet":
        return None  # `jaxinv weights` puts the converted CaffeNet in the cache
    raise SystemExit(f"no weights for {network} at {path}; pass --weights-dir or set JAXINV_SHARED_WEIGHTS")


def representation(network: str, layer: str, weights_dir: pathlib.Path):
    from jaxinv.errors import JaxinvError
    from jaxinv.representations.cnn import cnn

    try:
        return cnn(network, layer=layer, weights=weights_for(network, weights_dir))
    except JaxinvError as exc:  # no weights, an unknown layer: a message, not a traceback
        raise SystemExit(f"{network}:{layer}: {exc}") from None


def load_picture(name: str) -> np.ndarray:
    from jaxinv.images import default_picture, load

    if pathlib.Path(name).is_file():
        return load(name)
    return default_picture(name)


def schedule(rep_or_name: Any, scale: float) -> Schedule:
    """The representation's schedule (or a preset name), its stages shortened by ``scale``."""
    name = rep_or_name if isinstance(rep_or_name, str) else rep_or_name.schedule
    return resolve_schedule(name).shortened(scale)


def invert_stable(out: "Outputs", label: str, function, *args, schedule: Schedule, **kwargs):
    """``function(*args, schedule=schedule, **kwargs)`` (`invert` or `invert_batch`), noting in the
    summary any reconstruction that jaxinv had to re-run at lower learning rates (the paper's
    rates overflow on some layers of networks other than CaffeNet; see `invert_batch`'s
    ``retries``) or that still diverged.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = function(*args, schedule=schedule, **kwargs)
    scales = np.asarray(res.learning_rate_scale)
    if (scales < 1).any():
        out.text(f"Note: `{label}`: {int((scales < 1).sum())} of {scales.size} reconstructions overflowed at the"
                 f" schedule's learning rates and were run again at ×{scales.min():g}.")
    if np.asarray(res.diverged).any():
        out.text(f"Note: `{label}` still diverged; its numbers are not meaningful.")
    return res


def invert_layer(out: "Outputs", args, picture: np.ndarray, key, index: int, layer: str):
    """Invert ``picture``'s code at ``layer`` with ``args.seeds`` seeds and the (scaled) schedule.

    Returns (representation, the reference picture as the network sees it, the result), the
    result recorded in ``out``; the layer's key is ``fold_in(key, index)``.
    """
    from jaxinv.inversion import invert

    rep = representation(args.network, layer, args.weights_dir)
    ref = reference(rep, picture)
    sched = schedule(rep, args.iterations_scale)
    print(f"{layer}: {args.seeds} seed(s), {sched.total} iterations", flush=True)
    res = invert_stable(out, layer, invert, rep, picture, key=jax.random.fold_in(key, index), seeds=args.seeds,
                        schedule=sched)
    out.record(layer, res)
    return rep, ref, res


def reference(rep, picture: np.ndarray) -> np.ndarray:
    """The picture as the network sees it (warped to its input size), back in [0, 255]."""
    return np.clip(np.asarray(rep.deprocess(np.asarray(rep.preprocess(picture)))), 0, 255)


def display(rep, inputs: np.ndarray) -> np.ndarray:
    """The paper's display of a reconstruction: de-processed, then min-max stretched."""
    return contrast_stretch(np.asarray(rep.deprocess(np.asarray(inputs)))) / 255.0


def short(layer: str) -> str:
    return layer.replace("/", "_")


class Outputs:
    """An example's output folder: figures, ``metrics.json`` (energies per run) and ``summary.md``."""

    def __init__(self, folder: pathlib.Path, title: str, args: argparse.Namespace):
        self.folder = pathlib.Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.started = time.perf_counter()
        self.lines = [f"# {title}", "", "Command: `python " + " ".join([sys.argv[0], *sys.argv[1:]]) + "`", ""]
        self.runs: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
        self.figures: list[str] = []

    def record(self, name: str, result) -> None:
        """Keep the first and last total energy of every reconstruction of ``result``."""
        energy = np.asarray(result.energy)
        energy = energy.reshape(-1, *energy.shape[-2:])
        for i, e in enumerate(energy):
            self.runs.append({"run": f"{name}#{i}", "first_total": float(e[0, -1]), "last_total": float(e[-1, -1]),
                              "iterations": int(e.shape[0]), "seconds": float(result.seconds)})

    def figure(self, fig, name: str, caption: str) -> None:
        from jaxinv.images import atomic_write_bytes

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        atomic_write_bytes(self.folder / name, buffer.getvalue())
        self.figures.append(name)
        self.lines += [f"![{caption}]({name})", "", f"*{name}*: {caption}", ""]

    def text(self, *lines: str) -> None:
        self.lines += [*lines, ""]

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        def fmt(v):
            return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)

        self.lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        self.lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
        self.lines.append("")

    def finish(self, **extra: Any) -> None:
        seconds = time.perf_counter() - self.started
        self.extra.update(extra)
        self.lines.append(f"Wall time: {seconds:.0f} s.")
        from jaxinv.images import atomic_write_bytes

        atomic_write_bytes(self.folder / "summary.md", ("\n".join(self.lines) + "\n").encode())
        data = json.loads(json.dumps({"runs": self.runs, "figures": self.figures, "seconds": seconds, **self.extra},
                                     default=_jsonable))
        # A statistic that is undefined on a tiny run (a correlation over two layers) is null.
        text = json_text(undefined_as_null(data), indent=2)
        atomic_write_bytes(self.folder / "metrics.json", (text + "\n").encode())
        print(f"wrote {self.folder}/summary.md ({seconds:.0f} s)")


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


def image_grid(rows: Sequence[Sequence[np.ndarray]], *, row_labels: Sequence[str] = (),
               titles: Sequence[Sequence[str]] | None = None, size: float = 2.0, cmap: str | None = None,
               suptitle: str | None = None):
    """A figure of images (values in [0, 1], or any with ``cmap``) in rows."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols, (size + 0.45) * n_rows + 0.3), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(row):
                ax.axis("off")
                continue
            im = np.asarray(row[j])
            if im.ndim == 3 and im.shape[-1] == 1:
                im = im[..., 0]
            ax.imshow(np.clip(im, 0, 1) if cmap is None else im, cmap=cmap if im.ndim == 2 else None)
            if titles is not None and j < len(titles[i]):
                ax.set_title(titles[i][j], fontsize=8)
        if i < len(row_labels):
            axes[i, 0].set_ylabel(row_labels[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / ((size + 0.45) * n_rows + 0.3)))
    else:
        fig.tight_layout()
    return fig
