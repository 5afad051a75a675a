"""benchmarks/atlas.py: its layers exist, bad options are refused, the extrapolation's arithmetic,
and the table from a small fake record (no optimisation)."""

import atlas as bench
import pytest

from jaxinv.networks.registry import resolve_layer


def row(layer, network="squeezenet1_1", *, units=4, steps=10, side=80, batched=2.0, loop=6.0, torch=None):
    return {"network": network, "layer": layer, "units": units, "channels": 128, "steps": steps, "seeds": 1,
            "image_size": side, "loop_seconds": loop, "batched_seconds": batched,
            "loop_units_per_second": units / loop, "batched_units_per_second": units / batched,
            "speedup": loop / batched, "loop_compiled_units_per_second": 1.0,
            "batched_compiled_units_per_second": 3.0, "loop_compiled_cores_busy": 1.9,
            "batched_compiled_cores_busy": 1.95, "batch_equals_loop": 0.0, "examples_seconds": 1.0,
            "pictures": 100, "dead_at_start": 2, "rescued": 1, "flat": 1, "above_natural": 0.25,
            "torch_loop_units_per_second": torch}


def test_the_layers_exist_and_bad_options_are_refused(capsys):
    for network, layer, share in bench.LAYERS:
        assert resolve_layer(network, layer) == layer and share >= 1
    for layer, like in bench.FULL:
        assert resolve_layer("squeezenet1_1", layer) == layer and like in {name for _, name, _ in bench.LAYERS}
    assert bench.parse(["--units", "8", "--steps", "5"]).units == 8
    for argv in (["--units", "0"], ["--only", "vgg16:conv1"]):
        with pytest.raises(SystemExit):
            bench.parse(argv)
        assert "Traceback" not in capsys.readouterr().err


def test_a_complete_atlas_is_extrapolated_from_the_measured_rates():
    rows = [row("fire5/expand3x3"), row("fire9/expand3x3", side=256, batched=20.0)]
    full = bench.full_atlas(rows)
    assert full["extrapolated"] and full["steps"] == 300 and full["units"] == 2560 + 1000
    per_pixel = {"fire5/expand3x3": 2.0 / (4 * 10 * 80 ** 2), "fire9/expand3x3": 20.0 / (4 * 10 * 256 ** 2)}
    for layer in full["layers"]:
        expected = layer["units"] * 300 * per_pixel[layer["rate_of"]] * layer["image_size"] ** 2 + 1.0
        assert layer["seconds"] == pytest.approx(expected)
    assert full["seconds"] == pytest.approx(sum(layer["seconds"] for layer in full["layers"]))
    assert bench.full_atlas(rows[:1]) == {}  # fire9's rate missing: no extrapolation


def test_the_table_shows_both_arms_and_says_the_whole_atlas_is_extrapolated():
    record = {"machine": "two cores", "date": "2026-12-06", "command": "python benchmarks/atlas.py",
              "rows": [row("fire5/expand3x3", torch=0.5), row("inception_4d/5x5", "googlenet", units=2)],
              "full_atlas": {"units": 3560, "steps": 300, "seconds": 7200.0}}
    text = bench.table(record)
    # PyTorch's loop at 0.5 units/s against the batched 4 units in 2 s
    line = ("| squeezenet1_1:fire5/expand3x3 | 4 (128) | 10 | 80 | 0.667 | 2.000 | 3.00× | 3.00× | 1.90 / 1.95 |"
            " 0.500 | 4.00× / 6.00× | 2 | 1 | 1 | 25% |")
    assert line in text
    assert "googlenet:inception_4d/5x5 | 2 (128)" in text and "| 1.90 / 1.95 | – | – | 2 |" in text
    assert "**extrapolated**" in text and "about 2.0 hours" in text and "`python benchmarks/atlas.py`" in text
    assert "extrapolated" not in bench.table({**record, "full_atlas": {}})


def test_a_complete_atlas_folder_is_extrapolated_from_its_units_made(tmp_path):
    def write(path, size):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)

    write(tmp_path / "index.html", 100)
    for layer, units in (("fire2_expand1x1", 2), ("pool10", 1)):
        write(tmp_path / layer / "index.html", 50)
        write(tmp_path / layer / "examples.json", 1000)
        for u in range(units):
            write(tmp_path / layer / f"unit-000{u}.json", 10)
            write(tmp_path / layer / f"unit-000{u}.html", 20)
            write(tmp_path / layer / f"unit-000{u}" / "vis-0.webp", 300 + 100 * u)
    size = bench.extrapolated_bytes(tmp_path, {"fire2/expand1x1": 64, "pool10": 1000})
    assert size["measured_bytes"] == 100 + 2 * 1050 + (30 + 300) + (30 + 400) + 330
    first, classes = size["layers"]
    assert first["unit_bytes"] == 380 and first["layer_bytes"] == 1050 and first["bytes"] == 1050 + 64 * 380
    assert classes["bytes"] == 1050 + 1000 * 330
    assert size["bytes"] == 100 + first["bytes"] + classes["bytes"]
    record = {"machine": "m", "date": "d", "command": "c", "rows": [row("fire5/expand3x3")], "full_atlas": {},
              "site_size": {**size, "units_made": 1, "seconds": 3.0, "date": "d", "command": "python x --site-size"}}
    assert "Its folder: about **0 MB**" in bench.table(record) and "pool10, 1000 units of 0 kB" in bench.table(record)


def test_the_widths_table_sets_each_width_beside_the_loop_and_the_matrix_products_rate():
    widths = [{"width": w, "units_per_second": rate, "cores_busy": 1.9} for w, rate in ((1, 1.0), (2, 1.5), (4, 1.2))]
    rows = [{"network": "squeezenet1_1", "layer": "fire5/expand3x3", "units": 4, "steps": 30, "image_size": 80,
             "loop_units_per_second": 1.25, "loop_cores_busy": 1.8, "gradient_gflop": 0.5, "widths": widths},
            {"network": "googlenet", "layer": "inception_4d/5x5", "units": 2, "steps": 30, "image_size": 414,
             "loop_units_per_second": 0.1, "loop_cores_busy": 1.9, "gradient_gflop": 20.0, "widths": widths[:2]}]
    record = {"machine": "two cores", "date": "2026-12-07", "command": "python benchmarks/atlas.py --widths",
              "matmul_side": 2048, "matmul_gflop_per_second": 375.0, "rows": rows}
    text = bench.widths_table(record)
    assert "| layer | units | image side | loop units/s | width 1 | width 2 | width 4 | best ÷ loop |" in text
    # best 1.5 / loop 1.25; the loop's gradients: 0.5 GFLOP x 30 steps x 1.25 units/s = 18.75 of 375
    assert "| squeezenet1_1:fire5/expand3x3 | 4 | 80 | 1.250 | 1.000 | 1.500 | 1.200 | 1.20× | 19 (5%) |" in text
    assert "| googlenet:inception_4d/5x5 | 2 | 414 | 0.100 | 1.000 | 1.500 | – | 15.00× | 60 (16%) |" in text
    assert "375 GFLOP/s" in text and "`python benchmarks/atlas.py --widths`" in text
