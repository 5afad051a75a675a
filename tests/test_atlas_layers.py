"""benchmarks/atlas_layers.py: a layer's counts and ratios from its units' records, the table, bad folders."""

import json

import atlas_layers
import pytest

from jaxinv.atlas.site import layer_folder
from jaxinv.errors import JaxinvError


def unit(channel, values, largest, *, redirected=False, flat=False):
    return {"channel": channel, "values": values, "largest_natural": largest, "redirected": redirected,
            "flat": flat, "image_size": 80}


def fake_site(folder, units):
    layer = "fire5/expand3x3"
    (folder / layer_folder(layer)).mkdir(parents=True)
    for record in units:
        (folder / layer_folder(layer) / f"unit-{record['channel']:04d}.json").write_text(json.dumps(record))
    (folder / "index.json").write_text(json.dumps({"network": "squeezenet1_1",
                                                   "layers": [{"layer": layer, "total": len(units)}]}))
    settings = {"prior": "ijcv", "seeds": 2, "iterations": None, "picture_count": 100}
    (folder / "atlas.json").write_text(json.dumps({"settings": settings}))
    return folder


def test_a_layer_is_summarised_from_its_units(tmp_path):
    units = [unit(0, [3.0, 5.0], 2.0), unit(1, [1.0, 0.5], 2.0), unit(2, [4.0, 1.0], 1.0, redirected=True),
             unit(3, [0.0, 0.0], 1.0, redirected=True, flat=True)]
    (row,) = atlas_layers.site_rows(fake_site(tmp_path, units))
    # "total": the layer's channels, not the units the atlas was asked for
    assert (row["done"], row["total"], row["dead_at_start"], row["rescued"], row["flat"]) == (4, 128, 2, 1, 1)
    assert row["above_natural"] == 2 and row["above_natural_fraction"] == 0.5
    assert row["smallest_ratio"] == 0.0 and row["median_ratio"] == pytest.approx((0.5 + 2.5) / 2)
    assert (row["prior"], row["seeds"], row["image_size"], row["pictures"]) == ("ijcv", 2, 80, 100)
    text = atlas_layers.table({"rows": [row]})
    assert "| squeezenet1_1:fire5/expand3x3 | 4 (128) | ijcv, 2 | 80 | 2 | 1 | 1 | 2 (50%) | 0.00, 1.50 |" in text


def test_a_half_written_unit_record_is_not_counted_as_done(tmp_path):
    site = fake_site(tmp_path, [unit(0, [3.0], 2.0), unit(1, [1.0], 2.0)])
    (site / layer_folder("fire5/expand3x3") / "unit-0001.json").write_text('{"channel": 1, "val')
    (row,) = atlas_layers.site_rows(site)
    assert (row["done"], row["above_natural"], row["smallest_ratio"]) == (1, 1, 1.5)


def test_a_folder_that_is_not_an_atlas_is_refused(tmp_path):
    with pytest.raises(JaxinvError, match="is not an atlas"):
        atlas_layers.site_rows(tmp_path)


def test_no_folder_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        atlas_layers.main([])
    assert exit_info.value.code == 2 and "give the atlases' folders" in capsys.readouterr().err


def test_the_commands_the_results_page_shows_parse_and_name_real_layers():
    import pathlib
    import shlex

    from jaxinv.cli import build_parser
    from jaxinv.networks.registry import resolve_layer

    repo = pathlib.Path(__file__).resolve().parents[1]
    commands = json.loads((repo / "benchmarks/results/provenance.json").read_text())["atlas-layers"]["command"]
    page = (repo / "docs/results/speed.md").read_text()
    atlases = [c for c in commands if c.startswith("jaxinv atlas ")]
    assert len(atlases) == 4 and all(command in page for command in commands)
    for command in atlases:
        args = build_parser().parse_args(shlex.split(command)[1:])
        assert all(resolve_layer(args.network, layer) == layer for layer in args.layers)
