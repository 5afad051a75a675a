"""Per-layer inversion errors of a network (the paper's Table 3 protocol), resumable.

    python benchmarks/table_cnn.py --network squeezenet1_1 --sweep      # three λ per block output
    python benchmarks/table_cnn.py --network squeezenet1_1 --sweep --layers all   # every layer
    python benchmarks/table_cnn.py --network googlenet --limit 25       # the chosen λ only

Every picture of the set (the 100 shared ImageNet pictures by default, ``--pictures``; gray
ones replicated to RGB, small ones enlarged by the warp) is warped to the network's input
size; for each layer and λ_V the results go to their own JSON-lines file, so the run can be
killed and started again at any point. The paper's Table 3 swept λ_V ∈ {λ1, 10λ1, 100λ1}
with λ1 = 0.5 (paper units) and highlighted its chosen value; ``--sweep`` does the same, and
the chosen value (jaxinv's per-layer rule) is marked with *.

On a folder of pictures, SqueezeNet v1.1 and GoogLeNet also record each network's top-1
class of the original and of the reconstruction (both as the inverted network sees them,
[0, 255], clipped): the table's "class kept" columns are the share of pictures whose top-1
class survives, judged by the inverted network and by the other one.
"""

from __future__ import annotations

import argparse
import pathlib
import time

import jax

import common
import judges
from jaxinv.cli import ArgumentParser
from jaxinv.core.priors import default_schedule
from jaxinv.errors import JaxinvError
from jaxinv.files import undefined_as_null, write_json
from jaxinv.images import atomic_write_bytes
from jaxinv.networks.registry import spec
from jaxinv.representations.cnn import cnn
from jaxinv.results import ResultsFile

SWEEP = (0.5, 5.0, 50.0)


class ClassJudge:
    """Top-1 classes of originals and reconstructions by the inverted network and the other one."""

    def __init__(self, network: str, weights, other_weights, *, batch: int):
        other = judges.OTHER[network]
        self.own = judges.Classifier(network, weights=weights, batch=batch)
        self.other = judges.Classifier(other, weights=other_weights, batch=batch)

    def __call__(self, references, reconstructions) -> list[dict]:
        n = len(references)
        fields = {}
        for who, classifier in (("own", self.own), ("other", self.other)):
            top1 = classifier.top1([*references, *reconstructions])
            fields[f"top1_{who}_original"], fields[f"top1_{who}_reconstruction"] = top1[:n], top1[n:]
        return [{k: int(v[j]) for k, v in fields.items()} for j in range(n)]


def layer_schedule(args: argparse.Namespace, rep):
    schedule = default_schedule(args.method, rep)
    return schedule.shortened(args.iterations_scale)


def run_layer(args: argparse.Namespace, rep, lam: float, pictures, *, out: pathlib.Path, source: str,
              judging: bool, judge, bar) -> dict | None:
    """Invert the pictures not yet done at one (layer, λ_V); its summary (None if nothing is done)."""
    schedule = layer_schedule(args, rep)
    config = {"table": "cnn", "network": args.network, "layer": rep.name, "lambda_tv": lam,
              "method": args.method, "images": [n for n, _ in pictures], "seed": args.seed,
              "schedule": [[s.learning_rate, s.iterations] for s in schedule.stages], "source": source}
    if judging:
        config["judges"] = [args.network, judges.OTHER[args.network]]
    tag = f"{rep.name.replace('/', '_').replace(':', '-')}-l{lam:g}-{args.method}"
    path = out / "cnn" / args.network / f"{tag}.jsonl"
    if args.table_only and not path.exists():
        return None
    results = ResultsFile(path, config, read_only=args.table_only)  # a table may be built while a run appends
    bar.update(len(results.done()))
    if not args.table_only:
        # λ_V is the paper's prior's option; the IJCV prior has no λ_V (its TV is bounded).
        options = {"lambda_tv": lam} if args.method in ("paper", "fast") else {}
        common.run_rep(rep, pictures, results, prior=args.method, batch=args.batch,
                       key=jax.random.key(args.seed), schedule=schedule, **options,
                       save_dir=out / "cnn" / args.network / tag, save_first=args.save_pictures,
                       judge=judge, progress=bar)
    if not results.rows:  # --table-only before the first result of this layer
        return None
    summary = common.summarise(rep, pictures, results)
    return {"layer": rep.name.split(":", 1)[1], "lambda_tv": lam, "chosen": lam == rep.lambda_tv, **summary}


def table_row(s: dict) -> str:
    """One layer's summary as a row of the table."""
    return (f"| {s['layer']} | {s['lambda_tv']:g}{'*' if s['chosen'] else ''} | {common.fmt(s['printed'])} | "
            f"{common.fmt(s['script'])} | {common.fmt(s['ijcv'])} | {common.fmt(s['psnr'], 2)} | "
            f"{common.fmt(s['ssim'], 3)} | {common.percent(s.get('agree_own'))} | {common.percent(s.get('agree_other'))} |"
            f" {s['n']} | {s['seconds']:.0f} |")


#: The table's header and separator (the rows are `table_row`'s).
HEADER = ("| layer | λ_V | printed metric % | script's metric % (squares) | IJCV error % (± 95% CI) | PSNR dB | SSIM |"
          " class kept, own % | class kept, other % | n | seconds |",
          "|---|---|---|---|---|---|---|---|---|---|---|")


def table_lines(summaries: list[dict]) -> list[str]:
    """The Markdown table of per-layer summaries (a run's, or the rows of its ``table-*.json``)."""
    return [*HEADER, *map(table_row, summaries)]


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    common.add_common_args(parser)
    parser.add_argument("--network", default="squeezenet1_1")
    parser.add_argument("--weights", help="weight file (default: ../shared/weights for SqueezeNet/GoogLeNet, else the cache)")
    parser.add_argument("--layers", help="comma-separated layers, or 'all' for every layer but the softmax"
                                         " (default: each block's output)")
    parser.add_argument("--sweep", action="store_true", help="λ_V ∈ {0.5, 5, 50} per layer, as the paper's Table 3")
    parser.add_argument("--other-weights", help="weight file of the judging network (default: ../shared/weights)")
    args = parser.parse_args(argv)
    from tqdm.auto import tqdm

    started = time.perf_counter()
    out = common.results_root(args)
    weights = args.weights or common.DEFAULT_WEIGHTS.get(args.network)
    layers = chosen_layers(args)
    probe = cnn(args.network, layer=layers[0], weights=weights)
    size = probe.input_shape[:2]
    folder = common.picture_folder(args)
    pictures = common.load_image_set(folder, size=size, limit=args.limit)
    names = [n for n, _ in pictures]
    source = common.SKIMAGE if folder is None else pathlib.Path(folder).resolve().name
    judging = folder is not None and args.network in judges.OTHER
    judge = ClassJudge(args.network, weights, args.other_weights, batch=args.batch) if judging and not args.table_only else None
    summaries = []
    bar = tqdm(total=len(layers) * len(pictures) * (len(SWEEP) if args.sweep else 1), desc=args.network, unit="inv")
    for layer in layers:
        rep = cnn(args.network, layer=layer, weights=weights)
        lambdas = SWEEP if args.sweep else (rep.lambda_tv,)
        for lam in lambdas:
            summary = run_layer(args, rep, lam, pictures, out=out, source=source, judging=judging, judge=judge,
                                bar=bar)
            if summary is not None:
                summaries.append(summary)
        # Each layer compiles its own programs; dropping the last layer's keeps a run over
        # all 140 GoogLeNet layers within memory (it ran out near layer 120 without this).
        jax.clear_caches()
    bar.close()
    described = f"{len(names)} of {folder}" if folder is not None else ", ".join(names)
    write_table(args, out, summaries, described=described, size=size, rep=rep)
    print(f"total time {time.perf_counter() - started:.0f} s")
    return 0


def chosen_layers(args) -> list[str]:
    """The layers ``--layers`` names: a list, ``all`` but the softmax, or each block's output."""
    network = spec(args.network)  # an unknown network is refused with the list of known ones
    if args.layers == "all":
        return [name for name in network.layers if name != "prob"]
    layers = args.layers.split(",") if args.layers else common.MAIN_LAYERS.get(args.network)
    if not layers:
        raise JaxinvError(f"no default layers for {args.network}; pass --layers")
    return layers


def write_table(args, out: pathlib.Path, summaries: list[dict], *, described: str, size, rep) -> None:
    """The Markdown table (printed too) and the same rows as JSON, one pair per layer selection."""
    table = "\n".join([
        f"{args.network}, {args.method} optimiser ({layer_schedule(args, rep).total} it); pictures: {described} warped to"
        f" {size[1]}×{size[0]}. Printed metric ‖Φ(x*) − Φ0‖ / mean_ij ‖Φ0_i − Φ0_j‖, script's both squared,"
        f" mean ± std in percent; class kept: top-1 of the reconstruction = top-1 of the original, judged by"
        f" {args.network} (own) and {judges.OTHER.get(args.network, '–')} (other).",
        "",
        *table_lines(summaries),
        "",
        common.environment_line(),
    ])
    print(table)
    # One file per layer selection, so that a run over the block outputs does not overwrite the
    # every-layer table (both read the same per-layer JSON lines).
    selection = {"all": "-all", None: ""}.get(args.layers, "-selected")
    suffix = ("-sweep" if args.sweep else "") + selection
    stem = f"table-{args.network}-{args.method}{suffix}"
    atomic_write_bytes(out / "cnn" / f"{stem}.md", (table + "\n").encode())
    # The same rows as numbers, for the figures that read them (seed_question.py); a metric
    # undefined on one picture is null, never NaN.
    write_json(out / "cnn" / f"{stem}.json", {"network": args.network, "method": args.method,
                                              "pictures": described, "rows": undefined_as_null(summaries)})


if __name__ == "__main__":
    common.run_script(main, "table_cnn")
