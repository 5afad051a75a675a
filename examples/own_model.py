"""Inverting your own network: a small Flax NNX model, trained here, inverted layer by layer.

The template for users with their own model. Everything jaxinv needs is a pure
``features(params, x)`` on one image plus its metadata, wrapped by
`jaxinv.representation.from_function`:

1. **The model** (`DigitNet`, Flax NNX) returns the activation of any named layer:
   ``model(x, layer="conv2")``; layer selection is a function argument.
2. **params** is the model's `nnx.State` (``graphdef, state = nnx.split(model)``);
   ``features`` merges it back (`LayerFeatures`, a frozen dataclass so that equal layers
   compare equal and jaxinv's compiled program is reused).
3. **preprocess / deprocess** map a [0, 255] picture to the model's input range
   ([-0.5, 0.5] here) and back.
4. **σ and λ for small inputs.** The paper's objective works on u = x/σ with σ the norm of a
   typical input at 227×227×3 (σ ≈ 27098: a per-value RMS of ≈ 69 grey levels). jaxinv
   weighs the data term by c = N/(227·227·3) on smaller inputs and starts from norm σ√c, so
   the paper's step sizes and λ_α hold *per value* — provided σ is set so that a typical
   input's per-value size in u is the paper's: **σ = RMS(x) · √(227·227·3)**, with RMS(x) the
   root-mean-square input value of the training set. λ_V then needs a second look: a 16×16
   digit is nearly all edges (one of its pixels covers what ~14 do at 227), so the paper's
   λ_V (0.5–50), tuned for smooth photographs, would flatten it. We set λ_V so that the TV
   of a real training digit costs a fixed fraction (``--tv-fraction``, 5%) of the data
   term's weight c — about what a photograph's TV costs under the paper's λ_V = 0.5.

The digits are scikit-learn's `load_digits` (8×8, upsampled ×2 to 16×16); training takes a
few seconds. Then two test digits are inverted from every layer, S seeds each.

    python examples/own_model.py                    # ~1 min
    python examples/own_model.py --layers conv1 pool2 logits --seeds 3
"""

from __future__ import annotations

import _common as C  # noqa: I001

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxinv.inversion import invert_batch
from jaxinv.metrics import psnr
from jaxinv.core.settings import PaperObjective
from jaxinv.core.norms import tv_norm
from jaxinv.representation import from_function

PAPER_VALUES = 227 * 227 * 3
SIZE = 16


class DigitNet(nnx.Module):
    """conv 3×3 (16) → ReLU → avg-pool 2 → conv 3×3 (32) → ReLU → avg-pool 2 → fc 64 → ReLU → fc 10."""

    LAYERS = ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "fc1", "relu3", "logits")

    def __init__(self, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 16, (3, 3), padding="SAME", rngs=rngs)
        self.conv2 = nnx.Conv(16, 32, (3, 3), padding="SAME", rngs=rngs)
        self.fc1 = nnx.Linear(32 * (SIZE // 4) ** 2, 64, rngs=rngs)
        self.fc2 = nnx.Linear(64, 10, rngs=rngs)

    def __call__(self, x: jax.Array, layer: str = "logits") -> jax.Array:
        """Activation at ``layer`` of a batch (B, 16, 16, 1) of inputs in [-0.5, 0.5]."""
        pool = lambda h: nnx.avg_pool(h, (2, 2), strides=(2, 2))  # noqa: E731
        steps = (("conv1", self.conv1), ("relu1", nnx.relu), ("pool1", pool), ("conv2", self.conv2),
                 ("relu2", nnx.relu), ("pool2", pool), ("fc1", lambda h: self.fc1(h.reshape(h.shape[0], -1))),
                 ("relu3", nnx.relu), ("logits", self.fc2))
        for name, step in steps:
            x = step(x)
            if name == layer:
                return x
        raise ValueError(f"unknown layer {layer!r}; use one of {self.LAYERS}")


@dataclasses.dataclass(frozen=True)
class LayerFeatures:
    """``features(params, x)`` for jaxinv: the code of one image (16, 16, 1) at ``layer``.

    ``params`` is the model's `nnx.State`; the graph definition is static (hashable), so two
    `LayerFeatures` of one model and layer compare equal and share jaxinv's compiled program.
    """

    graphdef: Any
    layer: str

    def __call__(self, params, x: jax.Array) -> jax.Array:
        return nnx.merge(self.graphdef, params)(x[None], layer=self.layer)[0]


def preprocess(picture: np.ndarray) -> np.ndarray:
    """Picture (16, 16, 1) in [0, 255] -> model input in [-0.5, 0.5]."""
    return np.asarray(picture, np.float32) / 255.0 - 0.5


def deprocess(x: np.ndarray) -> np.ndarray:
    return (np.asarray(x, np.float32) + 0.5) * 255.0


def load_digits_pictures() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (n, 16, 16, 1) pictures in [0, 255] (bilinear ×2) and labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = jnp.asarray(d.images, jnp.float32)[..., None] * (255.0 / 16.0)
    up = jax.image.resize(images, (len(images), SIZE, SIZE, 1), method="bilinear")
    return np.asarray(up), d.target


def train(pictures: np.ndarray, labels: np.ndarray, *, seed: int, steps: int) -> tuple[DigitNet, float]:
    """Adam on cross-entropy for ``steps`` mini-batches; returns the model and its test accuracy."""
    model = DigitNet(nnx.Rngs(seed))
    graphdef, state = nnx.split(model)
    x = jnp.asarray(preprocess(pictures))
    y = jnp.asarray(labels)
    n_train = int(0.8 * len(x))
    tx = optax.adam(3e-3)
    opt = tx.init(state)

    def loss(state, xb, yb):
        logits = nnx.merge(graphdef, state)(xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    @jax.jit
    def step(state, opt, idx):
        grads = jax.grad(loss)(state, x[idx], y[idx])
        updates, opt = tx.update(grads, opt, state)
        return optax.apply_updates(state, updates), opt

    rng = np.random.default_rng(seed)
    for _ in range(steps):
        state, opt = step(state, opt, jnp.asarray(rng.integers(0, n_train, 128)))
    logits = nnx.merge(graphdef, state)(x[n_train:])
    accuracy = float(jnp.mean(jnp.argmax(logits, -1) == y[n_train:]))
    nnx.update(model, state)
    return model, accuracy


def main(argv=None) -> None:
    p = C.parser("own_model", __doc__.splitlines()[0], seeds=2, iterations_scale=1.0, network=False)
    p.add_argument("--layers", nargs="+", default=["relu1", "pool1", "relu2", "pool2", "relu3", "logits"],
                   choices=DigitNet.LAYERS, help="layers to invert")
    p.add_argument("--train-steps", type=C.number(int, minimum=0, maximum=10**6), default=300, help="Adam steps of 128 digits")
    p.add_argument("--digits", type=C.number(int, minimum=0), nargs="+", default=[0, 1], help="indices into the test split")
    p.add_argument("--tv-fraction", type=C.number(float, minimum=0, maximum=1e6), default=0.05,
                   help="λ_V such that a real digit's TV costs this fraction of the data term's weight")
    p.add_argument("--lambda-tv", type=C.number(float, minimum=0), help="an explicit λ_V instead of --tv-fraction")
    args = p.parse_args(argv)
    out = C.Outputs(args.out, "Inverting your own Flax NNX model (8×8 digits upsampled to 16×16)", args)

    pictures, labels = load_digits_pictures()
    n_test = len(pictures) - int(0.8 * len(pictures))
    if not all(0 <= i < n_test for i in args.digits):
        p.error(f"--digits {args.digits}: the test split holds digits 0 to {n_test - 1}")
    model, accuracy = train(pictures, labels, seed=args.seed, steps=args.train_steps)
    print(f"trained DigitNet: test accuracy {accuracy:.3f}", flush=True)
    graphdef, state = nnx.split(model)

    # σ and λ for this input space (module docstring, point 4).
    x_train = preprocess(pictures[: int(0.8 * len(pictures))])
    rms = float(np.sqrt(np.mean(x_train ** 2)))
    sigma = rms * np.sqrt(PAPER_VALUES)
    c = SIZE * SIZE / PAPER_VALUES
    mean_tv = float(np.mean([tv_norm(jnp.asarray(x / sigma)) for x in x_train[:200]]))
    lambda_tv = args.lambda_tv if args.lambda_tv is not None else args.tv_fraction * c / mean_tv
    objective = PaperObjective(lambda_tv=lambda_tv, sigma=sigma)

    test = pictures[int(0.8 * len(pictures)):]
    test_labels = labels[int(0.8 * len(pictures)):]
    chosen = [test[i] for i in args.digits]
    key = jax.random.key(args.seed)
    rows, grid, titles, labels_row = [], [], [], []
    for li, layer in enumerate(args.layers):
        rep = from_function(LayerFeatures(graphdef, layer), params=state, name=f"digitnet:{layer}",
                            input_shape=(SIZE, SIZE, 1), preprocess=preprocess, deprocess=deprocess)
        sched = C.schedule("cnn", args.iterations_scale)
        res = C.invert_stable(out, layer, invert_batch, rep, chosen, key=jax.random.fold_in(key, li),
                              seeds=args.seeds, schedule=sched, objective=objective)
        out.record(layer, res)
        code_size = int(np.prod(res.targets.shape[1:]))
        predictions = np.asarray(jnp.argmax(nnx.merge(graphdef, state)(jnp.asarray(res.inputs.reshape(
            -1, SIZE, SIZE, 1))), -1)).reshape(len(chosen), args.seeds)
        ps = [[psnr(res.images[i, s], chosen[i]) for s in range(args.seeds)] for i in range(len(chosen))]
        rows.append([layer, code_size, float(res.errors.mean()), float(np.mean(ps)),
                     f"{np.mean(predictions == test_labels[args.digits][:, None]):.2f}", f"{res.seconds:.1f}"])
        print(f"{layer}: code {code_size}, error {res.errors.mean():.3f}, PSNR {np.mean(ps):.1f} dB", flush=True)
        row, row_titles = [], []
        for i in range(len(chosen)):
            for s in range(args.seeds):
                row.append(res.images[i, s, ..., 0] / 255.0)
                row_titles.append(f"err {res.errors[i, s]:.3f}, pred {predictions[i, s]}")
        grid.append(row)
        titles.append(row_titles)
        labels_row.append(f"{layer} ({code_size})")
    grid.insert(0, [c_[..., 0] / 255.0 for c_ in chosen for _ in range(args.seeds)])
    titles.insert(0, [f"digit {test_labels[i]}" for i in args.digits for _ in range(args.seeds)])
    labels_row.insert(0, "original")
    fig = C.image_grid(grid, row_labels=labels_row, titles=titles, size=1.6, cmap="gray",
                       suptitle=f"DigitNet (test accuracy {accuracy:.2f}): reconstructions per layer, "
                                f"{args.seeds} seeds per digit")
    out.figure(fig, "reconstructions.png", "Top: the test digits; below, one row per layer (code size in "
                                           "brackets): each seed's reconstruction, its feature error and the "
                                           "model's prediction on it.")

    fig, ax = C.plt.subplots(figsize=(5, 3.2))
    ax.plot([r[0] for r in rows], [r[2] for r in rows], "o-", label="feature error")
    ax.set_ylabel("normalised feature error")
    ax2 = ax.twinx()
    ax2.plot([r[0] for r in rows], [r[3] for r in rows], "s--", color="C1", label="PSNR")
    ax2.set_ylabel("PSNR (dB)")
    ax.set_xlabel("layer")
    fig.legend(fontsize=7, loc="upper center")
    fig.tight_layout()
    out.figure(fig, "errors_by_layer.png", "Feature error and PSNR of the reconstructions, layer by layer.")

    out.text("## Numbers", "",
             f"DigitNet trained for {args.train_steps} Adam steps: test accuracy {accuracy:.3f}. Input range "
             f"[-0.5, 0.5], RMS {rms:.3f} → σ = RMS·√(227·227·3) = {sigma:.1f}; size weight c = {c:.2e}; "
             f"λ_V = {lambda_tv:.3g}" + ("" if args.lambda_tv is not None else
                                        f" (a training digit's TV = {args.tv_fraction:g}·c)")
             + f"; λ_α = {objective.lambda_alpha:.4g} (the paper's).")
    out.table(["layer", "code size", "feature error", "PSNR dB", "reconstructions classified as the digit", "s"],
              rows)
    recognised = np.mean([float(r[4]) for r in rows])
    out.text(f"Reading: PSNR goes from {rows[0][3]:.1f} dB at {rows[0][0]} to {rows[-1][3]:.1f} dB at {rows[-1][0]} "
             f"while every layer's feature error stays at or below {max(r[2] for r in rows):.3f}, and the model "
             f"classifies {100 * recognised:.0f}% of all the reconstructions as the digit they came from: the deeper "
             "codes keep the class and let go of the strokes.")
    out.finish(accuracy=accuracy, sigma=sigma, lambda_tv=lambda_tv, size_weight=c)


if __name__ == "__main__":
    C.run(main)
