"""The atlas's scale: a layer's units one program at a time against all of them in one, side by side.

`jaxinv.atlas` maximises every unit of a layer in one compiled program
(`jaxinv.atlas.layers.maximize_units`; a unit's picture does not depend on the others in its
batch). This script measures what that buys: for each layer, the same U units (the first U
channels), the same steps T, the same seeds, image size and start, made

- **loop**: one ``maximize_units(rep, [c])`` call per unit (its program compiled once, at the
  first unit, and reused), and
- **batched**: one ``maximize_units(rep, units)`` call for all U,

both compilation included, the batched arm first, in one process; units per second = U / wall
seconds. The same rates once compiled (the loop's units after its first; the batched call run a
second time) are recorded beside them: they tell the compilation from the steps; with them, each
arm's CPU seconds (this process's, all its threads) over its wall seconds: how many of the cores
its steps kept busy (spin-waiting threads count as busy, so it is an upper bound). From the
batched arm it also reports what the atlas reports per layer (issue #34): the units dead at the
start (zero gradient), how many the redirected ReLU rescued (their value > 0 afterwards), those
still flat, and the fraction of units whose visualisation exceeds their largest value m over the
picture folder (``values.max() > m``; m from one batched pass of
`jaxinv.atlas.dataset_examples`). Last, the wall time of a complete SqueezeNet atlas (every fire
block's expand1x1 and expand3x3, every class of pool10, at the default 300 steps) is
**extrapolated** (not measured): units × 300 × the batched seconds per unit-step per input pixel
of fire5 (for fire2–fire5: an over-estimate for the shallower ones) or of fire9 (for
fire6–pool10; pool10's conv10 is not in fire9's rate) × the layer's image side², compilation
included, plus the measured seconds of the dataset examples per layer.

``--widths`` measures instead whether vectorising more units together pays: the same units and
steps, once compiled, the loop against one batched call at each vectorisation width (the units
the program vectorises together, `jaxinv.runner.RunOptions.vmap_width`; the rest of the units run
one such group after another inside the program), beside XLA's count of the floating-point work
of a unit's gradient and the rate of a large matrix product on the same cores.

``--site-size`` measures instead how many bytes that complete atlas's folder takes: it makes a
real atlas of every one of those layers with the atlas's defaults (k = 9, one seed, 300 steps,
two inversions a layer) but only the first ``--site-units`` units of each, and extrapolates:
per layer, its files that do not grow with the units made (the layer's page, its inversions,
``examples.json``, which holds every channel's examples) plus its channel count × the mean
bytes of the units made (page, JSON record, pictures); the recorded size also names the
measured folder's own::

    python benchmarks/atlas.py                  # the three layers, 32 units (8 of GoogLeNet's), 30 steps
    python benchmarks/atlas.py --site-size      # a complete SqueezeNet atlas's bytes, from 2 units a layer
    python benchmarks/atlas.py --widths         # the batched call at widths 1-32 against the loop
    python benchmarks/atlas.py --table-only     # the table (atlas/atlas_scale.md) from the JSON
"""

from __future__ import annotations

import argparse
import functools
import json
import pathlib
import sys
import tempfile
import time

import common
import gpu_atlas
import gpu_speed
import jax
import judges
import numpy as np
from prior_seconds import machine

import jaxinv
from jaxinv.atlas import dataset_examples, maximize_units
from jaxinv.atlas.build import picture_files, unit_maxima
from jaxinv.atlas.site import layer_folder
from jaxinv.cli import positive
from jaxinv.core.objectives import neuron
from jaxinv.files import atomic_write_bytes, write_json
from jaxinv.plan import layer_channels, plan_maximization
from jaxinv.program import COMPILER_OPTIONS

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "results" / "atlas" / "atlas_scale.json"
TABLE = OUT.with_suffix(".md")
WIDTHS_OUT = OUT.with_name("atlas_widths.json")
#: The layers measured by default: (network, layer, share): a layer measures ``--units // share``
#: units (GoogLeNet's inception_4d/5x5 runs at 414 pixels a side, 27 times fire5's pixels).
LAYERS = (("squeezenet1_1", "fire5/expand3x3", 1), ("squeezenet1_1", "fire9/expand3x3", 1),
          ("googlenet", "inception_4d/5x5", 4))
#: The layers of a complete SqueezeNet atlas, each with the measured layer whose rate it takes.
FULL = tuple((f"fire{n}/expand{k}", "fire5/expand3x3" if n <= 5 else "fire9/expand3x3")
             for n in range(2, 10) for k in ("1x1", "3x3")) + (("pool10", "fire9/expand3x3"),)
#: The steps of a complete atlas (the ijcv prior's default, the authors').
FULL_STEPS = 300
#: The vectorisation widths ``--widths`` measures: units vectorised together inside the program.
WIDTHS = (1, 2, 4, 8, 16, 32)


def _timed(call):
    """The call's result, wall seconds and this process's CPU seconds (all its threads: XLA's too)."""
    started, cpu = time.perf_counter(), time.process_time()
    made = call()
    jax.block_until_ready(made.visualization.values)
    return made, time.perf_counter() - started, time.process_time() - cpu


def torch_arm(rep, channels: list[int], *, steps: int, side: int) -> dict:
    """PyTorch eager's one-unit loop over ``channels`` on the CPU with the same real weights, size,
    steps, rolled by up to the ijcv jitter J (`gpu_atlas.torch_loop`, after a warm-up unit)."""
    from jaxinv.weights import read_blobs

    network, layer = rep.features.network, rep.features.layer
    blobs = read_blobs(judges.weight_file(network), network=network)
    return gpu_atlas.torch_loop(network, layer, blobs, channels, side=side, steps=steps, lambda_tv=rep.lambda_tv,
                                jitter=gpu_atlas.ijcv_jitter(rep), platform="cpu")


def measure_layer(network: str, layer: str, *, units: int, steps: int, files: list[pathlib.Path],
                  with_torch: bool = True) -> dict:
    """One row: both arms' seconds on the same units and steps, and the batched arm's dead units."""
    rep = common.representation(f"{network}:{layer}")
    started = time.perf_counter()
    extremes = dataset_examples(rep, files, layers=[rep.features.layer], k=1)[rep.features.layer]
    examples_seconds = time.perf_counter() - started
    channels = list(range(min(units, extremes.code_shape[-1])))
    m = unit_maxima(extremes, channels)
    options = {"key": jax.random.key(0), "iterations": steps, "progress": False}
    batched, batched_seconds, _ = _timed(lambda: maximize_units(rep, channels, unit_max=m, **options))
    print(f"{network}:{layer}: batched {len(channels)} units in {batched_seconds:.1f} s", flush=True)
    loop_values, loop_times, loop_cpu = [], [], []
    for c, mc in zip(channels, m):
        one, seconds, cpu = _timed(lambda c=c, mc=mc: maximize_units(rep, [c], unit_max=[mc], **options))
        loop_values.append(one.visualization.values[0])
        loop_times.append(seconds)
        loop_cpu.append(cpu)
    loop_seconds = sum(loop_times)
    print(f"{network}:{layer}: loop {len(channels)} units in {loop_seconds:.1f} s", flush=True)
    _, warm_seconds, warm_cpu = _timed(lambda: maximize_units(rep, channels, unit_max=m, **options))  # compiled already
    side = int(batched.visualization.image_size)
    torch = torch_arm(rep, channels, steps=steps, side=side) if with_torch else {}
    values = batched.visualization.values
    largest = extremes.top_values[channels, 0]
    redirected = batched.redirected
    return {"network": network, "layer": layer, "units": len(channels), "channels": extremes.code_shape[-1],
            "steps": steps, "seeds": 1, "image_size": side,
            "torch_loop_units_per_second": torch.get("units_per_second"),
            "loop_seconds": loop_seconds, "batched_seconds": batched_seconds,
            "loop_units_per_second": len(channels) / loop_seconds,
            "batched_units_per_second": len(channels) / batched_seconds,
            "speedup": loop_seconds / batched_seconds,
            "loop_compiled_units_per_second": (len(channels) - 1) / sum(loop_times[1:]) if len(channels) > 1 else None,
            "batched_compiled_units_per_second": len(channels) / warm_seconds,
            "loop_compiled_cores_busy": sum(loop_cpu[1:]) / sum(loop_times[1:]) if len(channels) > 1 else None,
            "batched_compiled_cores_busy": warm_cpu / warm_seconds,
            "batch_equals_loop": float(np.max(np.abs(values - np.stack(loop_values)))),
            "examples_seconds": examples_seconds, "pictures": len(files),
            "dead_at_start": int(redirected.sum()), "rescued": int((redirected & ~batched.flat).sum()),
            "flat": int(batched.flat.sum()),
            "above_natural": float(np.mean(values.max(axis=1) > largest))}


def gradient_gflop(rep, side: int) -> float:
    """XLA's count of the floating-point operations of one unit's step at its core: the layer's code
    and its input gradient on one side×side picture (the prior's and the optimiser's few are left out)."""
    objective = jax.grad(lambda x: rep.features(rep.params, x)[..., 0].sum())
    image = jax.ShapeDtypeStruct((side, side, 3), np.float32)
    cost = jax.jit(objective, compiler_options=COMPILER_OPTIONS).lower(image).compile().cost_analysis()
    return float((cost[0] if isinstance(cost, list) else cost)["flops"]) / 1e9


def measure_widths(network: str, layer: str, *, units: int, steps: int) -> dict:
    """Once-compiled units per second of the loop (one unit a call) and of all ``units`` in one call
    at each vectorisation width of `WIDTHS` up to ``units`` (each call made once first, to compile)."""
    rep = common.representation(f"{network}:{layer}")
    channels = list(range(min(units, layer_channels(network, layer))))
    options = {"key": jax.random.key(0), "iterations": steps, "progress": False, "unit_max": 1.0}
    _timed(lambda: maximize_units(rep, channels[:1], **options))
    loop = [_timed(lambda c=c: maximize_units(rep, [c], **options)) for c in channels]
    loop_seconds = sum(seconds for _, seconds, _ in loop)
    widths = []
    for width in (w for w in WIDTHS if w <= len(channels)):
        call = functools.partial(maximize_units, rep, channels, vmap_width=width, **options)
        made, _, _ = _timed(call)
        _, seconds, cpu = _timed(call)
        widths.append({"width": width, "units_per_second": len(channels) / seconds, "cores_busy": cpu / seconds})
        print(f"{network}:{layer}: width {width}: {len(channels) / seconds:.3f} units/s", flush=True)
    side = int(made.visualization.image_size)
    return {"network": network, "layer": layer, "units": len(channels), "steps": steps, "image_size": side,
            "loop_units_per_second": len(channels) / loop_seconds,
            "loop_cores_busy": sum(cpu for _, _, cpu in loop) / loop_seconds,
            "gradient_gflop": gradient_gflop(rep, side), "widths": widths}


def full_atlas(rows: list[dict]) -> dict:
    """The extrapolated seconds of a complete SqueezeNet atlas from the measured SqueezeNet rows."""
    rates = {row["layer"]: row["batched_seconds"] / (row["units"] * row["steps"] * row["image_size"] ** 2)
             for row in rows if row["network"] == "squeezenet1_1"}
    examples = max((row["examples_seconds"] for row in rows if row["network"] == "squeezenet1_1"), default=0.0)
    layers, total, units = [], 0.0, 0
    for layer, like in FULL:
        if like not in rates:
            return {}
        count = layer_channels("squeezenet1_1", layer)
        side = plan_maximization(jaxinv.cnn("squeezenet1_1", layer=layer), [neuron(0)], unit_max=1.0).image_size
        seconds = count * FULL_STEPS * rates[like] * side ** 2 + examples
        layers.append({"layer": layer, "units": count, "image_size": side, "rate_of": like, "seconds": seconds})
        total, units = total + seconds, units + count
    return {"steps": FULL_STEPS, "units": units, "seconds": total, "layers": layers, "extrapolated": True}


def _bytes(paths) -> int:
    return sum(path.stat().st_size for path in paths if path.is_file())


def site_size(files: list[pathlib.Path], *, units: int, folder: pathlib.Path) -> dict:
    """A complete SqueezeNet atlas's bytes, extrapolated from a real atlas of ``units`` units a layer."""
    layers = [layer for layer, _ in FULL]
    started = time.perf_counter()
    jaxinv.atlas("squeezenet1_1", layers, out=folder, key=jax.random.key(0), pictures=files[0].parent,
                 units=range(units), progress=False)
    counts = {layer: layer_channels("squeezenet1_1", layer) for layer in layers}
    return {"units_made": units, "seconds": time.perf_counter() - started, **extrapolated_bytes(folder, counts),
            "extrapolated": True, "date": time.strftime("%Y-%m-%d"),
            "command": " ".join(["python benchmarks/atlas.py", *sys.argv[1:]])}


def extrapolated_bytes(folder: pathlib.Path, counts: dict[str, int]) -> dict:
    """The bytes ``folder``'s atlas would take with ``counts[layer]`` units in each layer: per layer, its
    files that are not a unit's plus the count × the mean bytes of its units made (page, record, pictures)."""
    rows, total = [], _bytes(folder.glob("*"))  # the atlas's own index, style and settings
    for layer, count in counts.items():
        where = folder / layer_folder(layer)
        made = sorted(where.glob("unit-*.json"))
        per_unit = _bytes(p for unit in made for p in (unit, unit.with_suffix(".html"),
                                                       *unit.with_suffix("").glob("*"))) / len(made)
        fixed = _bytes(where.rglob("*")) - per_unit * len(made)
        rows.append({"layer": layer, "units": count, "unit_bytes": per_unit, "layer_bytes": fixed,
                     "bytes": fixed + count * per_unit})
        total += rows[-1]["bytes"]
    return {"measured_bytes": _bytes(folder.rglob("*")), "bytes": total, "layers": rows}


def _busy(row: dict) -> str:
    """CPU seconds over wall seconds of each arm once compiled: how many cores its steps kept busy."""
    loop, batched = row.get("loop_compiled_cores_busy"), row.get("batched_compiled_cores_busy")
    return "–" if loop is None or batched is None else f"{loop:.2f} / {batched:.2f}"


def table(record: dict) -> str:
    """The markdown tables of a record (generated, never pasted)."""
    head = (f"Units per second, one program per unit (loop) against one program for the layer (batched),"
            f" the same units, steps, seeds (1) and image size, compilation included, and PyTorch eager's"
            f" one-unit loop (after a warm-up unit) on the same cores, in one run"
            f" ({record['machine']}, {record['date']}; `{record['command']}`):")
    columns = ("| layer | units measured (of) | steps | image side | loop units/s | batched units/s | batched ÷ loop |"
               " once compiled, batched ÷ loop | cores busy once compiled, loop / batched | PyTorch loop units/s |"
               " batched ÷ PyTorch loop, compilation included / once compiled | dead at start | rescued | flat |"
               " above natural max |")
    lines = [head, "", columns, "|---" * 15 + "|"]
    for row in record["rows"]:
        compiled = row["loop_compiled_units_per_second"]
        compiled = f"{row['batched_compiled_units_per_second'] / compiled:.2f}×" if compiled else "–"
        torch = row.get("torch_loop_units_per_second")
        torch = (f"{torch:.3f} | {row['batched_units_per_second'] / torch:.2f}× /"
                 f" {row['batched_compiled_units_per_second'] / torch:.2f}×" if torch else "– | –")
        lines.append(f"| {row['network']}:{row['layer']} | {row['units']} ({row['channels']}) | {row['steps']} |"
                     f" {row['image_size']} | {row['loop_units_per_second']:.3f} |"
                     f" {row['batched_units_per_second']:.3f} | {row['speedup']:.2f}× | {compiled} | {_busy(row)} |"
                     f" {torch} | {row['dead_at_start']} | {row['rescued']} | {row['flat']} |"
                     f" {100 * row['above_natural']:.0f}% |")
    full = record.get("full_atlas") or {}
    if full:
        lines += ["", (f"A complete SqueezeNet atlas ({full['units']} units: every fire block's expand1x1 and"
                       f" expand3x3, every class of pool10; {full['steps']} steps, one seed, batched),"
                       f" **extrapolated** from the rows above, not measured: about"
                       f" {full['seconds'] / 3600:.1f} hours on this machine.")]
    size = record.get("site_size") or {}
    if size:
        largest = max(size["layers"], key=lambda row: row["bytes"])
        lines += ["", (f"Its folder: about **{size['bytes'] / 1e6:.0f} MB** (WebP pictures), extrapolated from a real"
                       f" atlas of the first {size['units_made']} units of each of its {len(size['layers'])} layers"
                       f" with the atlas's defaults ({size['measured_bytes'] / 1e6:.1f} MB, {size['seconds']:.0f} s;"
                       f" `{size['command']}`, {size['date']}): each layer's own files plus its channels × the"
                       f" mean bytes of a unit made; the largest, {largest['layer']}, {largest['units']} units of"
                       f" {largest['unit_bytes'] / 1e3:.0f} kB, {largest['bytes'] / 1e6:.0f} MB.")]
    return "\n".join(lines)


def widths_table(record: dict) -> str:
    """The table of ``--widths``: the batched call at each vectorisation width against the loop."""
    head = (f"Units per second once compiled, one unit a call (loop) against all units in one call, vectorised"
            f" `width` at a time inside the program, the same units, steps, seeds (1) and image size"
            f" ({record['machine']}, {record['date']}; `{record['command']}`; a {record['matmul_side']}² float32"
            f" matrix product runs at {record['matmul_gflop_per_second']:.0f} GFLOP/s here):")
    shown = [w for w in WIDTHS if any(c["width"] == w for row in record["rows"] for c in row["widths"])]
    lines = [head, "", "| layer | units | image side | loop units/s | " + " | ".join(f"width {w}" for w in shown)
             + " | best ÷ loop | loop's GFLOP/s (of the matrix product's) |", "|---" * (len(shown) + 6) + "|"]
    for row in record["rows"]:
        rates = {c["width"]: c["units_per_second"] for c in row["widths"]}
        cells = [f"{rates[w]:.3f}" if w in rates else "–" for w in shown]
        rate = row["gradient_gflop"] * row["steps"] * row["loop_units_per_second"]
        lines.append(f"| {row['network']}:{row['layer']} | {row['units']} | {row['image_size']} |"
                     f" {row['loop_units_per_second']:.3f} | " + " | ".join(cells) +
                     f" | {max(rates.values()) / row['loop_units_per_second']:.2f}× |"
                     f" {rate:.0f} ({100 * rate / record['matmul_gflop_per_second']:.0f}%) |")
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=positive(int, maximum=4096), default=32,
                        help="units per SqueezeNet layer (default 32; GoogLeNet's a quarter, at least 1)")
    parser.add_argument("--steps", type=positive(int, maximum=10_000), default=30, help="steps (default 30)")
    parser.add_argument("--only", choices=[f"{n}:{name}" for n, name, _ in LAYERS], action="append",
                        help="measure only this layer (repeatable; default all three)")
    parser.add_argument("--pictures", help="the dataset examples' folder (default the shared 100 pictures)")
    parser.add_argument("--site-size", action="store_true",
                        help="measure a complete SqueezeNet atlas's bytes instead (from --site-units units a layer)")
    parser.add_argument("--site-units", type=positive(int, maximum=64), default=2,
                        help="units made per layer by --site-size (default 2)")
    parser.add_argument("--no-torch", action="store_true", help="leave out PyTorch's one-unit loop")
    parser.add_argument("--widths", action="store_true",
                        help="measure instead the batched call at each vectorisation width against the loop")
    parser.add_argument("--table-only", action="store_true", help="print the table from the JSON, run nothing")
    return parser.parse_args(argv)


def _widths(args: argparse.Namespace) -> None:
    """``--widths``: measure (unless ``--table-only``), write `WIDTHS_OUT` and print its table."""
    if not args.table_only:
        rows = [measure_widths(network, layer, units=max(1, args.units // share), steps=args.steps)
                for network, layer, share in LAYERS if args.only is None or f"{network}:{layer}" in args.only]
        write_json(WIDTHS_OUT, {"machine": machine(), "date": time.strftime("%Y-%m-%d"),
                                "command": " ".join(["python benchmarks/atlas.py", *sys.argv[1:]]),
                                "matmul_side": 2048, "rows": rows,
                                # the rate the cores reach on the most cache-friendly work there is
                                "matmul_gflop_per_second": 1e3 * gpu_speed.matmul_tflops(2048, "tf32", repeats=5)})
    if not WIDTHS_OUT.is_file():
        raise SystemExit(f"atlas: no {WIDTHS_OUT}; run it with --widths without --table-only first")
    print(widths_table(json.loads(WIDTHS_OUT.read_text())))


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    kept = json.loads(OUT.read_text()) if OUT.is_file() else {}
    if args.site_size:
        files = picture_files(args.pictures or common.default_pictures())
        with tempfile.TemporaryDirectory() as folder:
            write_json(OUT, {**kept, "site_size": site_size(files, units=args.site_units, folder=pathlib.Path(folder))})
    elif args.widths:
        _widths(args)
        return
    elif not args.table_only:
        files = picture_files(args.pictures or common.default_pictures())
        rows = [measure_layer(network, layer, units=max(1, args.units // share), steps=args.steps, files=files,
                              with_torch=not args.no_torch)
                for network, layer, share in LAYERS if args.only is None or f"{network}:{layer}" in args.only]
        record = {"machine": machine(), "date": time.strftime("%Y-%m-%d"),
                  "command": " ".join(["python benchmarks/atlas.py", *sys.argv[1:]]), "rows": rows,
                  "full_atlas": full_atlas(rows)}
        write_json(OUT, {**record, **({"site_size": kept["site_size"]} if "site_size" in kept else {})})
    if not OUT.is_file():
        raise SystemExit(f"atlas: no {OUT}; run it without --table-only first")
    text = table(json.loads(OUT.read_text()))
    atomic_write_bytes(TABLE, (text + "\n").encode())
    print(text)


if __name__ == "__main__":
    common.run_script(main, "atlas.py")
