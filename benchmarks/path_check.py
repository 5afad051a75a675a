"""The path check where it should bite (issue #35, item 4): visualisations under four priors and an adversarial picture.

Geirhos, Zimmermann, Bilodeau, Brendel & Kim ("Don't trust your eyes: on the (un)reliability of
feature visualizations", ICML 2024, §4) check a visualisation by the *path* a network takes on
it: layer by layer, does the network respond to it as it responds to natural pictures that excite
the same unit? This script runs that check (`jaxinv.scores.activation_path`) on one unit of each
network, chosen before any result of the check was seen: channel 0 (the first, as
benchmarks/maximization.py picks) of SqueezeNet v1.1 ``fire5/expand3x3`` and of GoogLeNet
``inception_4a/3x3``, *after* their ReLUs (``fire5/relu_expand3x3``, ``inception_4a/relu_3x3``:
what the next layer reads, as lucid's channel objectives read ReLU outputs). The unit's value a(x)
is the channel's spatial mean, (1/HW) Σ_ij Φ(x)[i, j, 0] (`jaxinv.core.objectives.channel`),
with the network as trained. Before their ReLUs both channels' spatial means are negative on every
one of the 100 pictures (largest −51.7 and −23.5), so a value over the largest natural one would
mean nothing there.

- **Reference**: the ``--top-k`` (10) of the shared 100 ImageNet pictures of largest a(x); m, the
  largest a over the 100, is what ``relative`` = a(x)/m divides by.
- **Pictures checked**: the unit visualised with `jaxinv.maximize` under the priors paper, ijcv,
  lucid and maco (DIP left out: minutes per picture on a CPU), each prior's own schedule
  (× ``--shorten``; leaky ReLUs of slope 0.05 while optimising, maximize's default), at the
  network's input size (227, 224) so that no picture is warped; and one
  **adversarial** picture x = lo + (hi − lo)·σ(z) (pixels in range), z from a `jax.random` key,
  Adam on z for ``--adversarial-steps`` steps lowering

      max(0, τ − a(x)/m)  +  w · (1/(L−1)) Σ_{l < L} (1/K) Σ_r ρ(μ_l(x), μ_l(x_r))

  with μ_l the per-channel spatial means at path layer l, ρ Pearson's correlation (the
  differentiable relative of the check's Spearman), x_r the K references, τ = ``--target`` (1.2),
  w = ``--weight`` (1), the network as trained: it excites the unit beyond the best natural picture while the layers
  before the unit's are pushed away from the natural pictures' statistics.
- **The check**: every picture through the network as trained (`jaxinv.scores.path_features`,
  warped to the input size), at the layers of `PATHS` (the first convolution after its ReLU, the
  blocks on the way, the unit's layer). Features are compared as per-channel spatial means
  μ_l ∈ R^{C_l} (position-invariant: a visualisation and a photo need not put a pattern at the
  same place), by Spearman's rank correlation:
  curve_l = (1/K) Σ_r ρ_S(μ_l(x), μ_l(x_r)), summary = (1/L) Σ_l curve_l. The cosine summary is
  recorded beside it (never used to flag).
- **Flag rule**, fixed before any result was seen: each of the 100 − K other natural pictures
  gets its summary against the same K references; a picture is *flagged* when its summary lies
  below the lowest of theirs (it follows the natural path less than every natural picture does).

Every picture's a/m is measured as the check sees it: the picture as saved (clipped to [0, 255])
through the network as trained. Rows are resumable JSON lines (`jaxinv.results.ResultsFile`) in
benchmarks/results/path_check/path_check.jsonl; the table (`table`, from the rows alone) goes to
``path_check.md``, the pictures to ``pictures/`` and ``path_check_NETWORK.png`` (PNGs, not in
git). Every prior runs its full schedule on both networks (GoogLeNet included: about 1 min per
picture); the whole run took about 6 min on 2 CPU cores::

    nice -n 10 python benchmarks/path_check.py
"""

from __future__ import annotations

import functools
import pathlib
import sys
import time
from typing import NamedTuple

import common
import judges
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxinv import images, maximize
from jaxinv.cli import ArgumentParser, number, positive, seed_number
from jaxinv.core import prior
from jaxinv.core.objectives import channel
from jaxinv.core.visualization import MAXIMIZATION_ITERATIONS
from jaxinv.files import atomic_write_bytes
from jaxinv.networks.registry import Features, resolve_layer
from jaxinv.results import ResultsFile
from jaxinv.scores import activation_path, path_features, reference_pictures
from jaxinv.scores.host import picture_files

#: Network → (the unit's layer, its channel): the first channel, fixed before any result was seen.
UNITS = {"squeezenet1_1": ("fire5/relu_expand3x3", 0), "googlenet": ("inception_4a/relu_3x3", 0)}
#: Network → the path's layers, shallow to deep, the unit's layer last.
PATHS = {"squeezenet1_1": ("relu_conv1", "fire2/concat", "fire3/concat", "fire4/concat", "fire5/relu_expand3x3"),
         "googlenet": ("conv1/relu_7x7", "conv2/relu_3x3", "inception_3a/output", "inception_3b/output",
                       "inception_4a/relu_3x3")}
#: Network → the path of its class pictures (`class_paths`): the first ReLU, block outputs, the class scores.
CLASS_PATHS = {"squeezenet1_1": ("relu_conv1", "fire3/concat", "fire5/concat", "fire7/concat", "fire9/concat",
                                 "pool10"),
               "googlenet": ("conv1/relu_7x7", "conv2/relu_3x3", "inception_3b/output", "inception_4b/output",
                             "inception_4e/output", "inception_5b/output", "loss3/classifier")}
PRIORS = ("paper", "ijcv", "lucid", "maco")
ADVERSARIAL = "adversarial"
OUT = common.REPO / "benchmarks" / "results" / "path_check"


def parse(argv):
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default=",".join(UNITS), help="comma-separated networks")
    parser.add_argument("--priors", default=",".join(PRIORS), help=f"comma-separated of {', '.join(PRIORS)}")
    parser.add_argument("--top-k", type=number(int, minimum=1, maximum=50), default=10,
                        help="natural pictures of largest unit value that make the reference")
    parser.add_argument("--shorten", type=positive(float, maximum=1.0), default=1.0,
                        help="scale every prior's iterations (1: each prior's own schedule)")
    parser.add_argument("--adversarial-steps", type=positive(int, maximum=10000), default=300,
                        help="Adam steps of the adversarial picture")
    parser.add_argument("--target", type=positive(float, maximum=100), default=1.2,
                        help="τ: the adversarial picture's unit value it aims for, over the best natural one's")
    parser.add_argument("--weight", type=number(float, minimum=0, maximum=1000), default=1.0,
                        help="w: the weight of the adversarial picture's similarity to the references")
    parser.add_argument("--seed", type=seed_number, default=0, help="jax.random.key seed")
    parser.add_argument("--out", default=str(OUT), help="results folder")
    args = parser.parse_args(argv)
    args.networks, args.priors = args.networks.split(","), args.priors.split(",")
    for name in args.networks:
        if name not in UNITS:
            parser.error(f"--networks: unknown {name!r}; use {','.join(UNITS)}")
    for name in args.priors:
        if name not in PRIORS:
            parser.error(f"--priors: unknown prior {name!r}; use {','.join(PRIORS)}")
    return args


def channel_means(features: list[np.ndarray]) -> list[np.ndarray]:
    """Per layer, (N, H, W, C) maps → (N, C) spatial means μ_l (a (N, C) layer stays as it is)."""
    return [np.asarray(f, np.float32).reshape(f.shape[0], -1, f.shape[-1]).mean(axis=1) for f in features]


def path_means(rep, pictures, layers, *, batch: int = 16) -> list[np.ndarray]:
    """μ_l of each picture at each layer, (N, C_l) per layer: `path_features` ``batch`` pictures at a time."""
    parts = [channel_means(path_features(rep, pictures[i:i + batch], layers=layers, batch=batch))
             for i in range(0, len(pictures), batch)]
    return [np.concatenate([part[l] for part in parts]) for l in range(len(layers))]


def split_natural(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(top, rest): indices of the k largest unit values (largest first, ties to the lower index), the others."""
    order = np.argsort(-np.asarray(values), kind="stable")
    return order[:k], np.sort(order[k:])


class Verdict(NamedTuple):
    """The check of N pictures: curve (N, L), summary (N,), cosine summary (N,), flagged (N,)."""

    curve: np.ndarray
    summary: np.ndarray
    cosine: np.ndarray
    flagged: np.ndarray


def check(means: list[np.ndarray], reference: list[np.ndarray], threshold: float) -> Verdict:
    """The path check of pictures (μ_l (N, C_l) per layer) against the references', flagged below ``threshold``."""
    spearman = activation_path(means, reference, similarity="spearman")
    cosine = activation_path(means, reference, similarity="cosine")
    summary = np.asarray(spearman.summary, np.float64)
    return Verdict(np.asarray(spearman.curve, np.float64), summary, np.asarray(cosine.summary, np.float64),
                   summary < threshold)


def natural_threshold(means: list[np.ndarray], values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(top, rest, threshold): the references, the other natural pictures, and the lowest of the
    others' summaries against the references (the flag rule's bound)."""
    top, rest = split_natural(values, k)
    found = check([m[rest] for m in means], [m[top] for m in means], -np.inf)
    return top, rest, float(found.summary.min())


@functools.lru_cache(maxsize=2)
def _natural_class_means(network: str) -> list[np.ndarray]:
    """μ_l of the shared 100 pictures along `CLASS_PATHS` (once per network: every set of class pictures
    of a run is checked against them)."""
    layers = CLASS_PATHS[network]
    return path_means(common.representation(f"{network}:{layers[-1]}"), list(judges.reference_set()), layers)


def class_paths(network: str, pictures: list[np.ndarray], classes: list[int], *, k: int = 10) -> dict:
    """The path check of class pictures, ``pictures[i]`` made for class ``classes[i]`` of ``network``.

    As for a channel (`natural_threshold`, `check`), along `CLASS_PATHS`: the unit is the class score
    (the last layer), the reference the k of the shared 100 pictures (`judges.reference_set`) of
    largest score for that class, the bound the lowest summary of the other 100 − k. Returns the
    per-picture ``summaries`` and ``flagged``, and the ``k``; a set's pictures share one forward pass
    of the 100."""
    layers = CLASS_PATHS[network]
    rep = common.representation(f"{network}:{layers[-1]}")
    natural = _natural_class_means(network)
    made = path_means(rep, pictures, layers)
    summaries, flagged = [], []
    for i, unit in enumerate(classes):
        top, _, threshold = natural_threshold(natural, natural[-1][:, unit], k)
        found = check([m[i:i + 1] for m in made], [m[top] for m in natural], threshold)
        summaries.append(float(found.summary[0]))
        flagged.append(bool(found.flagged[0]))
    return {"summaries": summaries, "flagged": flagged, "k": k, "layers": list(layers)}


def _pearson(a: jax.Array, b: jax.Array) -> jax.Array:
    """ρ(a, b_r) for each row b_r: the cosine of the centred vectors."""
    a, b = a - a.mean(), b - b.mean(axis=-1, keepdims=True)
    return (b @ a) / (jnp.linalg.norm(b, axis=-1) * jnp.linalg.norm(a) + 1e-12)


def adversarial_loss(z, params, *, network, layers, unit, reference, unit_max, bounds, target, weight):
    """(loss, (a(x)/m, mean similarity)) of the adversarial picture's logits z (the module's maths)."""
    lo, hi = bounds
    x = lo + (hi - lo) * jax.nn.sigmoid(z)
    acts = Features(network).activations(params, x[None], layer=layers[-1])  # a batch of one
    relative = jnp.mean(acts[layers[-1]][..., unit]) / unit_max
    similar = jnp.mean(jnp.stack([jnp.mean(_pearson(jnp.mean(acts[layer], axis=(0, 1, 2)), ref))
                                  for layer, ref in zip(layers[:-1], reference)]))
    return jax.nn.relu(target - relative) + weight * similar, (relative, similar)


class Adversarial(NamedTuple):
    """The adversarial picture (H, W, 3) in [0, 255] and per step a(x)/m and the mean similarity."""

    picture: np.ndarray
    relative: np.ndarray
    similarity: np.ndarray


def adversarial(rep, layers, unit: int, reference: list[np.ndarray], unit_max: float, *, key: jax.Array,
                steps: int, target: float = 1.2, weight: float = 1.0, rate: float = 0.05) -> Adversarial:
    """Adam (rate ``rate``) on z for ``steps`` steps lowering `adversarial_loss`; z ~ 0.1·N(0, 1) from ``key``.

    ``layers`` are the path's, the unit's last; ``reference`` the references' μ_l of the layers
    before it (K, C_l); ``rep`` a layer of the network (its weights, and ``rep.input_shape`` the
    picture's size); lo, hi: the input space's values of pixels 0 and 255, per channel."""
    network = rep.features.network
    names = [resolve_layer(network, layer) for layer in layers]
    h, w, _ = rep.input_shape
    bounds = tuple(jnp.asarray(rep.preprocess(np.full((8, 8, 3), v, np.float32))[0, 0]) for v in (0.0, 255.0))
    loss = jax.value_and_grad(lambda z: adversarial_loss(
        z, rep.params, network=network, layers=names, unit=unit, reference=[jnp.asarray(r) for r in reference],
        unit_max=unit_max, bounds=bounds, target=target, weight=weight), has_aux=True)
    optimiser = optax.adam(rate)

    @jax.jit
    def step(z, state):
        (_, aux), grad = loss(z)
        updates, state = optimiser.update(grad, state, z)
        return optax.apply_updates(z, updates), state, aux

    z = 0.1 * jax.random.normal(key, (h, w, 3), jnp.float32)
    state, history = optimiser.init(z), []
    for _ in range(steps):
        z, state, aux = step(z, state)
        history.append(aux)
    x = bounds[0] + (bounds[1] - bounds[0]) * jax.nn.sigmoid(z)
    picture = np.clip(rep.deprocess(np.asarray(x)), 0, 255).astype(np.float32)
    relative, similarity = (np.asarray([float(v[i]) for v in history]) for i in (0, 1))
    return Adversarial(picture, relative, similarity)


def visualise(rep, unit: int, name: str, unit_max: float, *, key: jax.Array, shorten: float):
    """The unit's visualisation under prior ``name`` at the network's input size: (picture, maximize's relative, steps)."""
    size = rep.input_shape[0]
    if name == "ijcv":
        length = {"iterations": max(1, round(MAXIMIZATION_ITERATIONS * shorten))}
        steps = length["iterations"]
    else:
        schedule = prior(name, rep).schedule.shortened(shorten)
        length, steps = {"schedule": schedule}, schedule.total
    found = maximize(rep, channel(unit), key=key, prior=name, image_size=size, unit_max=unit_max, **length)
    return found.images[0, 0], float(found.relative[0, 0]), int(steps)


def natural_row(network: str, names: list[str], values: np.ndarray, means, k: int) -> dict:
    """The reference and the flag rule's bound of one network, as a results row."""
    top, rest, threshold = natural_threshold(means, values, k)
    others = check([m[rest] for m in means], [m[top] for m in means], threshold)
    layer, unit = UNITS[network]
    return {"key": f"{network}|natural", "what": "natural", "network": network, "layer": layer, "unit": unit,
            "layers": list(PATHS[network]), "unit_max": float(values.max()), "top_k": [names[i] for i in top],
            "top_relative": [float(values[i] / values.max()) for i in top], "threshold": threshold,
            "summaries": [float(v) for v in others.summary], "cosine": [float(v) for v in others.cosine],
            "curve_mean": [float(v) for v in others.curve.mean(axis=0)],
            "relative": [float(values[i] / values.max()) for i in rest]}


def picture_row(network: str, kind: str, picture: np.ndarray, rep, natural: dict, reference, **extra) -> dict:
    """One picture's path check against the references, as a results row."""
    means = path_means(rep, [picture], PATHS[network])
    found = check(means, reference, natural["threshold"])
    value = float(means[-1][0, natural["unit"]])
    return {"key": f"{network}|{kind}", "what": "picture", "network": network, "prior": kind,
            "layer": natural["layer"], "unit": natural["unit"], "value": value,
            "relative": value / natural["unit_max"], "summary": float(found.summary[0]),
            "cosine": float(found.cosine[0]), "curve": [float(v) for v in found.curve[0]],
            "flagged": bool(found.flagged[0]), "threshold": natural["threshold"], **extra}


def run_network(network: str, args, results: ResultsFile, pictures: list[tuple[str, np.ndarray]]) -> None:
    """The reference, the visualisations and the adversarial picture of one network not yet in ``results``."""
    layer, unit = UNITS[network]
    rep = common.representation(f"{network}:{layer}")
    means = path_means(rep, [p for _, p in pictures], PATHS[network])
    natural = natural_row(network, [n for n, _ in pictures], means[-1][:, unit], means, args.top_k)
    stored = [r for r in results.rows if r["key"] == natural["key"]]
    if stored:
        natural = stored[0]
    else:
        results.append([natural])
    names = [n for n, _ in pictures]
    reference = [m[[names.index(name) for name in natural["top_k"]]] for m in means]
    print(f"{network}: natural summaries {min(natural['summaries']):.3f} to {max(natural['summaries']):.3f}", flush=True)
    folder = pathlib.Path(args.out) / "pictures"
    for name in [*args.priors, ADVERSARIAL]:
        key = f"{network}|{name}"
        if key in results.done():
            continue
        start = time.perf_counter()
        if name == ADVERSARIAL:
            made = adversarial(rep, PATHS[network], unit, reference[:-1], natural["unit_max"],
                               key=jax.random.key(args.seed), steps=args.adversarial_steps, target=args.target,
                               weight=args.weight)
            picture, extra = made.picture, {"steps": args.adversarial_steps, "target": args.target,
                                            "weight": args.weight, "pearson_start": float(made.similarity[0]),
                                            "pearson_end": float(made.similarity[-1])}
        else:
            picture, own, steps = visualise(rep, unit, name, natural["unit_max"], key=jax.random.key(args.seed),
                                            shorten=args.shorten)
            extra = {"steps": steps, "maximize_relative": own}
        seconds = time.perf_counter() - start
        images.save_png(folder / f"{network}_{name}.png", picture)
        row = picture_row(network, name, picture, rep, natural, reference, seconds=seconds, **extra)
        results.append([row])
        print(f"{key}: relative {row['relative']:.2f}, summary {row['summary']:.3f}"
              f" ({'flagged' if row['flagged'] else 'not flagged'}), {seconds:.0f} s", flush=True)


def _numbers(values) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def table(rows: list[dict]) -> str:
    """Markdown from the results rows alone: per network, its unit, the natural pictures' range and
    the rule's bound, then one line per picture checked (prior, a/m, summaries, how many of the
    other natural pictures' summaries lie below its own, curve, flagged)."""
    parts = []
    for natural in (r for r in rows if r.get("what") == "natural"):
        network = natural["network"]
        others = np.asarray(natural["summaries"])
        parts.append(
            f"**{network}** `{natural['layer']}` channel {natural['unit']}; reference: the top {len(natural['top_k'])}"
            f" of the 100 pictures (a/m {min(natural['top_relative']):.2f}–1); curve layers: "
            + ", ".join(f"`{layer}`" for layer in natural["layers"])
            + f". Flagged: summary below {natural['threshold']:.3f}, the lowest of the {len(others)} other natural"
              " pictures'.\n")
        lines = [("| picture | steps | a / max over the 100 | path summary (Spearman) | natural pictures below it"
                  " | cosine summary | curve (Spearman, shallow → deep) | flagged |"),
                 "|---|---|---|---|---|---|---|---|"]
        lines.append(f"| natural, the {len(others)} others: min / median / max | — |"
                     f" {min(natural['relative']):.2f} / {np.median(natural['relative']):.2f} /"
                     f" {max(natural['relative']):.2f} | {others.min():.3f} / {np.median(others):.3f} /"
                     f" {others.max():.3f} | — | {min(natural['cosine']):.3f} / {np.median(natural['cosine']):.3f} /"
                     f" {max(natural['cosine']):.3f} | mean {_numbers(natural['curve_mean'])} |"
                     f" {int((others < natural['threshold']).sum())}/{len(others)} |")
        for row in (r for r in rows if r.get("what") == "picture" and r["network"] == network):
            lines.append(f"| {row['prior']} | {row['steps']} | {row['relative']:.2f} | {row['summary']:.3f} |"
                         f" {int((others < row['summary']).sum())}/{len(others)} | {row['cosine']:.3f} | {_numbers(row['curve'])} | {'**yes**' if row['flagged'] else 'no'} |")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def draw(out: pathlib.Path, rows: list[dict]) -> list[pathlib.Path]:
    """Per network, the pictures checked (those whose PNG is there), titled with a/m, summary and
    verdict, as ``path_check_NETWORK.png`` (not in git: benchmarks/results PNGs are regenerated)."""
    drawn = []
    for network in dict.fromkeys(r["network"] for r in rows if r.get("what") == "picture"):
        picked = [r for r in rows if r.get("what") == "picture" and r["network"] == network
                  and (out / "pictures" / f"{network}_{r['prior']}.png").is_file()]
        if picked:
            path = out / f"path_check_{network}.png"
            common.save_grid(path, [images.load(out / "pictures" / f"{network}_{r['prior']}.png") for r in picked],
                             [f"{r['prior']}: a/m {r['relative']:.1f}\nsummary {r['summary']:.2f}"
                              f"{' FLAGGED' if r['flagged'] else ''}" for r in picked], cols=len(picked),
                             suptitle=f"{network}: the path check (contrast-stretched)")
            drawn.append(path)
    return drawn


def write_outputs(out: pathlib.Path, rows: list[dict], argv) -> str:
    """``path_check.md``: the command, the environment line and `table`; the figures (`draw`)."""
    text = table(rows)
    draw(out, rows)
    command = " ".join(["python benchmarks/path_check.py", *(sys.argv[1:] if argv is None else argv)])
    atomic_write_bytes(out / "path_check.md", f"`{command}`\n\n{common.environment_line()}\n\n{text}".encode())
    return text


def main(argv=None) -> int:
    args = parse(argv)
    out = pathlib.Path(args.out)
    results = ResultsFile(out / "path_check.jsonl", {
        "seed": args.seed, "top_k": args.top_k, "shorten": args.shorten, "adversarial_steps": args.adversarial_steps,
        "target": args.target, "weight": args.weight})
    folder = common.default_pictures()
    names = [p.stem for p in picture_files(pathlib.Path(folder))]  # reference_pictures' order
    pictures = list(zip(names, reference_pictures(folder=folder)))
    for network in args.networks:
        run_network(network, args, results, pictures)
        print(write_outputs(out, results.rows, argv), flush=True)
    return 0


if __name__ == "__main__":
    common.run_script(main, "path_check")
