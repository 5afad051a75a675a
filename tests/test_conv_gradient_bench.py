"""benchmarks/conv_gradient.py: it finds the generator's stride-1 convolutions and times both
kernel gradients side by side, leaving the generator as it was."""

import conv_gradient as bench

from jaxinv.core import convolution, generator


def test_the_layers_are_the_generators_and_the_table_has_a_row_each(tmp_path):
    prior = generator.DeepImagePrior.reduced(levels=2, width=0.5)
    shapes = bench.layer_shapes(prior, (12, 10, 3))
    # level 0's first convolution sees the noise; to_rgb (1×1 → 3) comes last
    assert shapes[0] == ((1, 12, 10, 32), (7, 7, 32, 8), ((3, 3), (3, 3)))
    assert shapes[-1][1] == (1, 1, 8, 3) and len(shapes) == 11
    assert generator.conv2d is convolution.conv2d  # the recording patch is undone
    out = tmp_path / "table.md"
    bench.main(["--size", "8", "--levels", "1", "--repeats", "1", "--copies", "2", "--out", str(out)])
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "→" in line]
    assert len(rows) == len(set(bench.layer_shapes(generator.DeepImagePrior.reduced(levels=1, width=0.5), (8, 8, 3))))
    assert len(rows) >= 3  # level 0's convolutions, its skip and to_rgb
    assert "| whole generator, 1 copy |" in text and "| whole generator, 2 copies |" in text
