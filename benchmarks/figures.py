"""The paper's figures for a network, into one folder (PNG, matplotlib), plus the invariance table.

    python benchmarks/figures.py --network squeezenet1_1     # into benchmarks/results/figures/squeezenet1_1

Figures: reconstructions from every layer (a grid); several random starts from one code
(invariance); the receptive-field experiment (only a central 5×5 window of the code); channel
groups (first vs second half of the channels); the effect of the TV weight; energy curves; and
the invariance measure — the mean pairwise distance between the reconstructions of N seeds,
over the picture's norm, both in [0, 255] as the examples measure it — per layer, as a table
and a plot (with two seeds or more).
"""

from __future__ import annotations

import pathlib
import time

import jax
import numpy as np

import common
import jaxinv
from jaxinv import masks, metrics
from jaxinv.cli import ArgumentParser, positive, seed_number
from jaxinv.core.schedules import resolve_schedule
from jaxinv.files import json_text
from jaxinv.images import atomic_write_bytes
from jaxinv.networks.registry import spec
from jaxinv.results import environment

#: What ``--only`` can ask for; ``layers`` is the every-layer grid with its seeds, energy
#: curves and invariance table.
FIGURES = ("layers", "receptive-field", "channel-groups", "tv-weight")


def _energy_curves(path: pathlib.Path, curves: dict[str, np.ndarray]) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        ax.semilogy(np.arange(1, len(curve) + 1), curve, label=name, lw=0.8)
    ax.set_xlabel("iteration")
    ax.set_ylabel("total energy")
    ax.legend(fontsize=5, ncol=2)
    common.save_figure(fig, path)
    plt.close(fig)


def _invariance(out: pathlib.Path, rows: list[tuple[str, float, float]], caption: str, *, seeds: int) -> None:
    """The invariance table (invariance.md) and plot (invariance.png): spread and error per layer."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([r[1] for r in rows], "o-")
    ax.set_xticks(range(len(rows)), [r[0] for r in rows], rotation=70, fontsize=6)
    ax.set_ylabel("pairwise spread / ‖x0‖")
    ax.set_title(f"invariance: spread of {seeds} reconstructions per layer")
    common.save_figure(fig, out / "invariance.png")
    plt.close(fig)
    table = caption + "\n\n" + invariance_table(rows)
    atomic_write_bytes(out / "invariance.md", (table + "\n").encode())
    print(table)


def invariance_table(rows: list[tuple[str, float, float]]) -> str:
    """Markdown: (layer, spread, mean error) per layer, as `invariance_rows` reads them from figures.json."""
    return "\n".join(["| layer | spread (pairwise distance / ‖x0‖) | mean error % |", "|---|---|---|",
                      *[f"| {n} | {s:.3f} | {100 * e:.1f} |" for n, s, e in rows]])


def invariance_rows(record: dict) -> list[tuple[str, float, float]]:
    """(layer, spread, mean error over the seeds) of every layer of a figures.json record."""
    return [(name, layer["spread"], float(np.mean(layer["errors"]))) for name, layer in record["layers"].items()]


class Setting:
    """What every figure shares: the network, its layers, the picture, the key and the schedules."""

    def __init__(self, args):
        self.network, self.picture_name, self.seeds = args.network, args.picture, args.seeds
        self.out = pathlib.Path(args.out or common.REPO / "benchmarks" / "results" / "figures" / args.network)
        self.weights = args.weights or common.DEFAULT_WEIGHTS.get(args.network)
        self.layers = args.layers.split(",") if args.layers else common.MAIN_LAYERS[args.network]
        self.picture = common.skimage_photo(args.picture)
        self.key = jax.random.key(args.seed)
        self.scale = args.iterations_scale

    def rep(self, layer: str):
        return jaxinv.cnn(self.network, layer=layer, weights=self.weights)

    def schedule(self, name: str):
        return resolve_schedule(name).shortened(self.scale)

    def invert(self, rep, **options):
        return jaxinv.invert(rep, self.picture, key=self.key, prior="paper", keep_snapshots=False, **options)


def _layer_figures(setting: Setting) -> dict:
    """Every layer's reconstruction, some layers' seeds, energy curves and the invariance table;
    returns the record written to figures.json."""
    from tqdm.auto import tqdm

    s, out = setting, setting.out
    record: dict = {"network": s.network, "picture": s.picture_name, "iterations_scale": s.scale,
                    "environment": environment(), "layers": {}}
    every, spread_rows, curves = [], [], {}
    seed_layers = s.layers[len(s.layers) // 2:: max(1, len(s.layers) // 3)]
    for layer in tqdm(s.layers, desc="layers"):
        rep = s.rep(layer)
        res = s.invert(rep, seeds=s.seeds, schedule=s.schedule(rep.schedule))
        reference = np.clip(rep.deprocess(rep.preprocess(s.picture)), 0, 255)
        spread = metrics.pairwise_spread(res.images, reference) if s.seeds > 1 else None
        name = rep.name.split(":", 1)[1]
        record["layers"][name] = {"errors": res.errors.tolist(), "spread": spread, "lambda_tv": rep.lambda_tv,
                                  "psnr": metrics.psnr(res.images[0], reference)}
        every.append((res.images[0], f"{name}\nerr {100 * res.errors[0]:.1f}%"))
        spread_rows.append((name, spread, float(np.mean(res.errors))))
        curves[name] = res.energy[0, :, -1]  # the total
        if s.seeds > 1 and layer in seed_layers:
            common.save_grid(out / f"seeds-{name.replace('/', '_')}.png", list(res.images),
                             [f"seed {i}" for i in range(s.seeds)], cols=s.seeds,
                             suptitle=f"{rep.name}: {s.seeds} random starts (spread {spread:.3f})")
    common.save_grid(out / "every-layer.png", [e[0] for e in every], [e[1] for e in every], cols=6,
                     suptitle=f"{s.network}: reconstruction from each layer of {s.picture_name}")
    _energy_curves(out / "energy-curves.png", curves)
    if s.seeds > 1:
        _invariance(out, spread_rows, f"{s.network}, picture {s.picture_name}, {s.seeds} seeds,"
                                      f" iterations ×{s.scale:g}.", seeds=s.seeds)
    return record


def _receptive_field(s: Setting) -> None:
    """Only a central 5×5 window of the code inverted (METHOD.md §5), λ_TV 100 (λ_V 50)."""
    pictures, titles = [], []
    for layer in s.layers:
        rep = s.rep(layer)
        code = np.asarray(rep(s.picture))
        if code.ndim != 3 or min(code.shape[:2]) < 5:
            continue
        res = s.invert(rep, mask=masks.central_window(code.shape, size=5), lambda_tv=50.0,
                       schedule=s.schedule("receptive_field"))
        pictures.append(res.images[0])
        titles.append(rep.name.split(":", 1)[1])
    if pictures:
        common.save_grid(s.out / "receptive-field.png", pictures, titles, cols=6,
                         suptitle="inverting only a central 5×5 window of the code")


def _channel_groups(s: Setting) -> None:
    """The first against the second half of the channels of the first three layers."""
    pictures, titles = [], []
    for layer in s.layers[:3]:
        rep = s.rep(layer)
        code = np.asarray(rep(s.picture))
        for g in (1, 2):
            res = s.invert(rep, mask=masks.channel_group(code.shape, g), lambda_tv=0.5,
                           schedule=s.schedule(rep.schedule))
            pictures.append(res.images[0])
            titles.append(f"{rep.name.split(':', 1)[1]} half {g}")
    common.save_grid(s.out / "channel-groups.png", pictures, titles, cols=6,
                     suptitle="first vs second half of the channels")


def _tv_weight(s: Setting) -> None:
    """λ_V ∈ {0.5, 5, 50} at the deepest layer."""
    rep = s.rep(s.layers[-1])
    weights = (0.5, 5.0, 50.0)
    pictures = [s.invert(rep, lambda_tv=lam, schedule=s.schedule(rep.schedule)).images[0] for lam in weights]
    common.save_grid(s.out / "tv-weight.png", pictures, [f"λ_V = {lam:g}" for lam in weights], cols=3,
                     suptitle=f"{rep.name}: effect of the TV weight")


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="squeezenet1_1")
    parser.add_argument("--weights")
    parser.add_argument("--picture", default="chelsea", help="a scikit-image photograph (see benchmarks/common.py)")
    parser.add_argument("--layers", help="comma-separated layers (default: each block's output, common.MAIN_LAYERS)")
    parser.add_argument("--seeds", type=common.positive_int, default=4)
    parser.add_argument("--only", default="all",
                        help="comma-separated subset of: layers (every-layer, seeds, energy, invariance),"
                             " receptive-field, channel-groups, tv-weight")
    parser.add_argument("--iterations-scale", type=positive(float, maximum=100), default=1.0)
    parser.add_argument("--seed", type=seed_number, default=0)
    parser.add_argument("--out", help="output folder (default benchmarks/results/figures/NETWORK)")
    args = parser.parse_args(argv)
    wanted = set(FIGURES) if args.only == "all" else set(args.only.split(","))
    if wanted - set(FIGURES):
        parser.error(f"--only: unknown {', '.join(sorted(wanted - set(FIGURES)))}; use some of {', '.join(FIGURES)}")
    if not args.layers and args.network not in common.MAIN_LAYERS:
        spec(args.network)  # an unknown network is refused with the list of known ones
        parser.error(f"no default layers for {args.network}; pass --layers")
    import matplotlib
    matplotlib.use("Agg")

    started = time.perf_counter()
    setting = Setting(args)
    record = _layer_figures(setting) if "layers" in wanted else None
    for name, draw in (("receptive-field", _receptive_field), ("channel-groups", _channel_groups),
                       ("tv-weight", _tv_weight)):
        if name in wanted:
            draw(setting)
    if record is not None:
        atomic_write_bytes(setting.out / "figures.json", json_text(record, indent=1).encode())
    print(f"figures in {setting.out}/; total time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    common.run_script(main, "figures")
