"""Forward time of jaxinv's HOG (and DSIFT) against VLFeat's C, on the 512×512 astronaut.

    python benchmarks/hog_dsift_forward.py                 # markdown table on stdout
    python benchmarks/hog_dsift_forward.py --repeats 50 --json benchmarks/results/hog_dsift.json

What is timed:

- JAX: ``rep.features`` under ``jax.jit``, lowered and compiled ahead of time (the compile time
  is its own column), then ``--repeats`` calls on a device-resident image, each waited for with
  ``block_until_ready``. XLA CPU uses every core.
- C: VLFeat 0.9.21 through cyvlfeat (``cyvlfeat.hog.hog``, ``cyvlfeat.sift.dsift``), single
  threaded, including cyvlfeat's small wrapper overhead (array conversion, channel transpose).
- JAX and C calls alternate repeat by repeat, so both see the same load of the machine;
  "best" is the fastest repeat, "median" the median.
- Also timed (JAX only, no C counterpart): forward + backward of the paper presets on a
  375×500 gray image, the cost of one inversion step's representation part.

Rows: HOG UoCTTI and Dalal-Triggs (RGB in [0, 1], cell 8, hard and bilinear orientations),
the paper's HOG/HOGb on 255·gray − 128, and DSIFT (gray [0, 1], bin 8, step 4, flat window;
its exactness is `tests/test_dsift.py`'s, which compares the descriptors frame by frame).
"""

from __future__ import annotations

import functools
import os
import statistics
import time
from collections.abc import Callable

import common
import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.cli import ArgumentParser
from jaxinv.files import json_text
from jaxinv.images import atomic_write_bytes
from jaxinv.representations.dsift import dsift
from jaxinv.representations.hog import hog, paper_hog, paper_hogb


def _astronaut() -> np.ndarray:
    from skimage.data import astronaut

    return astronaut().astype(np.float32)


def _compiled(fn: Callable, x: jax.Array) -> tuple[Callable, float]:
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(x).compile()
    return compiled, time.perf_counter() - start


def _time_pair(jax_fn: Callable, x: jax.Array, c_fn: Callable | None, repeats: int):
    """Seconds of the JAX function on x and of the C call (or [] without one), side by side."""
    calls = [functools.partial(jax_fn, x)] + ([c_fn] if c_fn is not None else [])
    times = common.interleaved_seconds(calls, repeats=repeats)
    return times[0], times[1] if c_fn is not None else []


def _row(name, shape, compile_s, jax_times, c_times, max_diff=None):
    row = {
        "case": name,
        "input": "x".join(map(str, shape)),
        "compile_s": compile_s,
        "jax_best_ms": 1e3 * min(jax_times),
        "jax_median_ms": 1e3 * statistics.median(jax_times),
    }
    if c_times:
        row["c_best_ms"] = 1e3 * min(c_times)
        row["c_median_ms"] = 1e3 * statistics.median(c_times)
        row["jax_over_c"] = row["jax_best_ms"] / row["c_best_ms"]
    if max_diff is not None:
        row["max_abs_diff"] = max_diff
    return row


def hog_rows(repeats: int) -> list[dict]:
    try:
        from cyvlfeat.hog import hog as vl_hog
    except ImportError:  # pragma: no cover - depends on the machine
        vl_hog = None
    rgb = _astronaut() / np.float32(255)
    x = jnp.asarray(rgb)
    rows = []
    for variant, vl_variant in (("uoctti", "UoCTTI"), ("dalaltriggs", "DalalTriggs")):
        for bilinear in (False, True):
            rep = hog(cell_size=8, variant=variant, bilinear_orientations=bilinear, channels=3)
            fn, compile_s = _compiled(lambda y, rep=rep: rep.features(None, y), x)
            c_fn = diff = None
            if vl_hog is not None:
                c_fn = functools.partial(vl_hog, rgb, 8, variant=vl_variant, bilinear_interpolation=bilinear)
                diff = float(np.abs(np.asarray(fn(x)) - c_fn()).max())
            jt, ct = _time_pair(fn, x, c_fn, repeats)
            name = f"HOG {vl_variant}{' bilinear' if bilinear else ''} (RGB [0,1], cell 8)"
            rows.append(_row(name, rgb.shape, compile_s, jt, ct, diff))
    gray = paper_hog().preprocess(_astronaut())
    for rep in (paper_hog(), paper_hogb()):
        xg = jnp.asarray(gray)
        fn, compile_s = _compiled(lambda y, rep=rep: rep.features(None, y), xg)
        c_fn = diff = None
        if vl_hog is not None:
            c_fn = functools.partial(_paper_hog_c, vl_hog, gray[..., 0], bilinear=rep.name == "hogb")
            diff = float(np.abs(np.asarray(fn(xg)) - c_fn()).max())
        jt, ct = _time_pair(fn, xg, c_fn, repeats)
        rows.append(_row(f"paper {rep.name} (255·gray−128, 27-D)", gray.shape, compile_s, jt, ct, diff))
    return rows


def _paper_hog_c(vl_hog, gray: np.ndarray, *, bilinear: bool) -> np.ndarray:
    return vl_hog(gray, 8, bilinear_interpolation=bilinear)[..., :27]


def dsift_rows(repeats: int) -> list[dict]:
    try:
        from cyvlfeat.sift import dsift as vl_dsift
    except ImportError:  # pragma: no cover
        vl_dsift = None
    gray = (np.asarray(paper_hog().preprocess(_astronaut()))[..., 0] + 128) / np.float32(255)
    gray = np.ascontiguousarray(gray, np.float32)
    x = jnp.asarray(gray[..., None])
    rep = dsift(bin_size=8, step=4, fast=True)
    fn, compile_s = _compiled(lambda y: rep.features(None, y), x)
    c_fn = None
    if vl_dsift is not None:
        c_fn = functools.partial(vl_dsift, gray, step=4, size=8, fast=True, float_descriptors=True)
    jt, ct = _time_pair(fn, x, c_fn, repeats)
    return [_row("DSIFT (gray [0,1], bin 8, step 4, fast)", gray.shape + (1,), compile_s, jt, ct)]


def backward_rows(repeats: int) -> list[dict]:
    """Forward + backward of the paper presets on a 375×500 gray image (JAX only)."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(0, 60, (375, 500, 1)).astype(np.float32))
    rows = []
    for rep in (paper_hog(), paper_hogb()):
        target = rep.features(None, x * 0.9)

        def loss(y, rep=rep, target=target):
            return jnp.sum((rep.features(None, y) - target) ** 2)

        fn, compile_s = _compiled(jax.value_and_grad(loss), x)
        jt, _ = _time_pair(fn, x, None, repeats)
        rows.append(_row(f"paper {rep.name} forward+backward", x.shape, compile_s, jt, []))
    return rows


def markdown(rows: list[dict]) -> str:
    head = ("| case | input | compile s | JAX best ms | JAX median ms | C best ms | C median ms "
            "| JAX / C | max abs diff |")
    lines = [head, "|" + "---|" * 9]

    def fmt(row, key, spec):
        return format(row[key], spec) if key in row else "–"

    for r in rows:
        lines.append(
            f"| {r['case']} | {r['input']} | {r['compile_s']:.2f} | {r['jax_best_ms']:.2f} | "
            f"{r['jax_median_ms']:.2f} | {fmt(r, 'c_best_ms', '.2f')} | {fmt(r, 'c_median_ms', '.2f')} | "
            f"{fmt(r, 'jax_over_c', '.2f')} | {fmt(r, 'max_abs_diff', '.1e')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=common.positive_int, default=30)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    rows = hog_rows(args.repeats) + dsift_rows(args.repeats) + backward_rows(args.repeats)
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}, {os.cpu_count()} CPU cores\n")
    print(markdown(rows))
    if args.json:
        record = {"jax": jax.__version__, "cpu_count": os.cpu_count(), "rows": rows}
        atomic_write_bytes(args.json, json_text(record, indent=1).encode())


if __name__ == "__main__":
    common.run_script(main, "hog_dsift_forward.py")
