"""The Deep Image Prior generator's kernel gradients: XLA's against `jaxinv.core.convolution`'s.

For each stride-1 convolution of the dip preset's generator on a SqueezeNet-sized picture
(227×227, 5 levels, widths × 0.5) the seconds of ∂/∂W by XLA's autodiff and by
`kernel_gradient` (matrix products), measured side by side; then the whole generator's
gradient, one copy and ``--copies`` copies (vmapped, their own weights), with
`jaxinv.core.generator` on either. Ratios matter on a shared machine, not the seconds::

    python benchmarks/conv_gradient.py --repeats 3 --copies 2
"""

from __future__ import annotations

import pathlib
import sys
from unittest import mock

import jax
import jax.numpy as jnp


import common

from jaxinv.cli import ArgumentParser, positive
from jaxinv.core import generator
from jaxinv.core.convolution import kernel_gradient, xla_conv2d
from jaxinv.files import atomic_write_bytes

OUT = common.REPO / "benchmarks" / "results" / "priors" / "conv_gradient.md"


def best_seconds(*calls, repeats: int) -> list[float]:
    """The best of ``repeats`` timed calls of each, side by side."""
    return [min(times) for times in common.interleaved_seconds(calls, repeats=repeats)]


def layer_shapes(prior, shape) -> list[tuple]:
    """(x shape, kernel shape, padding) of each stride-1 convolution the generator runs, in order."""
    seen = []

    def record(x, kernel, padding, **_):
        seen.append((x.shape, kernel.shape, padding))
        return xla_conv2d(x, kernel, padding)

    variables = prior.variable_shape(shape, 1)
    with mock.patch.object(generator, "conv2d", record):
        jax.eval_shape(lambda v: prior.pictures(v), variables)
    return seen


def layer_rows(prior, shape, repeats: int) -> list[str]:
    rows = []
    for i, (x_shape, k_shape, padding) in enumerate(dict.fromkeys(layer_shapes(prior, shape))):
        x = jax.random.normal(jax.random.key(i), x_shape)
        kernel = jax.random.normal(jax.random.key(i + 1), k_shape)
        out_shape = jax.eval_shape(lambda a, b: xla_conv2d(a, b, padding), x, kernel).shape
        grad = jax.random.normal(jax.random.key(i + 2), out_shape)
        theirs = jax.jit(lambda x, g, k=kernel, p=padding: jax.vjp(lambda w: xla_conv2d(x, w, p), k)[1](g)[0])
        ours = jax.jit(lambda x, g, s=k_shape[:2], p=padding: kernel_gradient(x, g, s, p))
        a, b = best_seconds(lambda: theirs(x, grad), lambda: ours(x, grad), repeats=repeats)
        rows.append(f"| {x_shape[1]}×{x_shape[2]} | {k_shape[2]}→{k_shape[3]} | {k_shape[0]}×{k_shape[1]}"
                    f" | {1e3 * a:.1f} | {1e3 * b:.1f} | {a / b:.1f}× |")
    return rows


def _generator_gradient(prior):
    """A new jitted gradient of the generator (a new function: jit's cache would reuse the first trace)."""
    return jax.jit(jax.grad(lambda v: jnp.mean((prior.pictures(v) - 128.0) ** 2)))


def whole_rows(prior, shape, copies: int, repeats: int) -> list[str]:
    rows = []
    for count in sorted({1, copies}):
        variables = prior.init(jax.random.key(0), shape, count)
        with_ours, with_xla = _generator_gradient(prior), _generator_gradient(prior)
        with mock.patch.object(generator, "conv2d", xla_conv2d):
            jax.block_until_ready(with_xla(variables))   # traced, and cached, with XLA's convolution
        ours, theirs = best_seconds(lambda: with_ours(variables), lambda: with_xla(variables), repeats=repeats)
        rows.append(f"| whole generator, {count} cop{'y' if count == 1 else 'ies'} | | | {1e3 * theirs:.0f}"
                    f" | {1e3 * ours:.0f} | {theirs / ours:.1f}× |")
    return rows


def main(argv=None) -> None:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=positive(int, maximum=100), default=3, help="timed calls (best is kept)")
    parser.add_argument("--copies", type=positive(int, maximum=64), default=4, help="copies for the vmapped row")
    parser.add_argument("--size", type=positive(int, maximum=1024), default=227, help="picture side")
    parser.add_argument("--levels", type=positive(int, maximum=6), default=5, help="generator levels (the preset's 5)")
    parser.add_argument("--out", default=str(OUT), help="markdown file written")
    args = parser.parse_args(argv)
    prior = generator.DeepImagePrior.reduced(levels=args.levels, width=0.5)
    shape = (args.size, args.size, 3)
    lines = ["| input | channels | kernel | XLA ∂/∂W (ms) | matrix products (ms) | ratio |",
             "|---|---|---|---|---|---|",
             *layer_rows(prior, shape, args.repeats), *whole_rows(prior, shape, args.copies, args.repeats)]
    command = "python benchmarks/conv_gradient.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = "\n".join(lines) + "\n"
    atomic_write_bytes(pathlib.Path(args.out), f"`{command}`\n\n{common.environment_line()}\n\n{text}".encode())
    print(text)


if __name__ == "__main__":
    common.run_script(main, "conv_gradient")
