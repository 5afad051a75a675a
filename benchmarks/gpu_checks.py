"""The GPU subset of the tests, as measurements `benchmarks/gpu.py` writes into its JSON.

- codes: HOG, DSIFT and CNN layers computed on the accelerator and on the host CPU in the
  same process, at JAX's default matmul precision (TF32 on NVIDIA GPUs) and at ``highest``;
  ``relative_difference`` = ‖Φ_dev − Φ_cpu‖ / ‖Φ_cpu‖ against the tolerances below;
- inversion: a short inversion on the device ends finite, with a falling energy and data term;
- sharding: the same inversion sharded over the device(s) (`jaxinv.parallel.batch_sharding`)
  gives the unsharded result.

Tolerances (float32): ``highest``, 2e-5 (summation order alone; 1e-6 expected through a dozen
layers); default, 1e-2 (TF32 keeps 10 of float32's 23 mantissa bits: 2⁻¹¹ ≈ 5e-4 per rounded
operand, growing through the layers); sharded against unsharded, 1e-5 relative.
"""

from __future__ import annotations

import contextlib

import jax
import numpy as np

import common
import step_cases
import jaxinv
from jaxinv import parallel, registry
from jaxinv.networks import init_blobs

TOLERANCE = {"highest": 2e-5, "default": 1e-2}
#: (H, W) of the pictures of the HOG inversion and sharding checks.
SHALLOW_CHECK_SIZE = (128, 160)
SHARDING_TOLERANCE = 1e-5


def _precision(name: str):
    return contextlib.nullcontext() if name == "default" else jax.default_matmul_precision(name)


def relative(got: np.ndarray, want: np.ndarray) -> dict:
    """‖got − want‖ / ‖want‖ and max |got − want| / max |want|, in float64."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = max(float(np.linalg.norm(want)), 1e-30)
    top = max(float(np.max(np.abs(want))), 1e-30)
    return {"relative_difference": float(np.linalg.norm(got - want)) / scale,
            "max_difference_over_max": float(np.max(np.abs(got - want))) / top,
            "finite": bool(np.all(np.isfinite(got)))}


def code_agreement(name: str, *, precision: str, blobs: dict | None = None) -> dict:
    """Codes of case ``name`` on the default device and on the CPU, at ``precision``."""
    case = step_cases.make_case(name, 1, steps=1, blobs=blobs)
    rep = case.rep
    size = rep.input_shape[:2] if rep.input_shape is not None else step_cases.SHALLOW_SIZE
    x = np.asarray(rep.preprocess(common.photographs(1, size)[0]), np.float32)
    cpu, device = jax.devices("cpu")[0], jax.devices()[0]
    features = jax.jit(rep.features)
    with _precision(precision):
        want = features(jax.device_put(rep.params, cpu), jax.device_put(x, cpu))
        got = features(jax.device_put(rep.params, device), jax.device_put(x, device))
    out = {"case": name, "precision": precision, "device": str(device), "code_shape": list(got.shape),
           **relative(got, want), "tolerance": TOLERANCE[precision]}
    out["passed"] = out["finite"] and out["relative_difference"] <= out["tolerance"]
    return out


def _invert(rep, pictures, *, iterations: int, sharding=None):
    return jaxinv.invert_batch(rep, pictures, key=jax.random.key(0), prior="paper", schedule=[(0.004, iterations)],
                               keep_snapshots=False, retries=0, sharding=sharding)


def inversion_check(rep_name: str, *, iterations: int, blobs: dict | None = None, pictures: int = 2) -> tuple[dict, object]:
    """A short inversion on the default device: finite, with a falling energy and data term."""
    if ":" in rep_name:
        network, layer = rep_name.split(":")
        rep = jaxinv.cnn(network, layer=layer, weights=blobs if blobs is not None else init_blobs(network))
        size = rep.input_shape[:2]
    else:
        rep, size = registry.get(rep_name), SHALLOW_CHECK_SIZE
    result = _invert(rep, common.photographs(pictures, size), iterations=iterations)
    energy = np.asarray(result.energy, np.float64)  # (N, S, T, [data, TV, α, total]), the terms unweighted
    finite = bool(np.all(np.isfinite(energy)) and np.all(np.isfinite(result.inputs))
                  and np.all(np.isfinite(result.errors)))
    falling_total = bool(np.all(energy[..., -1, -1] < energy[..., 0, -1]))
    falling_data = bool(np.all(energy[..., -1, 0] < energy[..., 0, 0]))
    out = {"rep": rep_name, "iterations": iterations, "pictures": pictures, "finite": finite,
           "energy_first": energy[..., 0, -1].ravel().tolist(), "energy_last": energy[..., -1, -1].ravel().tolist(),
           "data_first": energy[..., 0, 0].ravel().tolist(), "data_last": energy[..., -1, 0].ravel().tolist(),
           "errors": np.asarray(result.errors).ravel().tolist(), "diverged": int(np.sum(result.diverged)),
           "falling_energy": falling_total, "falling_data": falling_data, "seconds": result.seconds}
    out["passed"] = finite and falling_total and falling_data and out["diverged"] == 0
    return out, result


def sharding_check(plain, *, iterations: int, pictures: int = 2) -> dict:
    """HOG inversions sharded over every device against ``plain``, the same run unsharded."""
    photos = common.photographs(pictures, SHALLOW_CHECK_SIZE)
    sharding = parallel.batch_sharding(pictures)
    sharded = _invert(registry.get("hog"), photos, iterations=iterations, sharding=sharding)
    out = {"devices": [str(d) for d in sharding.mesh.devices.ravel()], "pictures": pictures,
           **relative(sharded.inputs, plain.inputs), "tolerance": SHARDING_TOLERANCE}
    out["passed"] = out["finite"] and out["relative_difference"] <= SHARDING_TOLERANCE
    return out


def all_checks(*, code_cases: list[str], inversion_reps: list[str], iterations: int,
               blobs: dict[str, dict | None]) -> dict:
    """Every check; ``blobs`` maps a network to the weights to use (random ones otherwise)."""
    codes = [code_agreement(name, precision=p, blobs=blobs.get(name.split(":")[0]))
             for name in code_cases for p in ("default", "highest")]
    runs = {r: inversion_check(r, iterations=iterations, blobs=blobs.get(r.split(":")[0]))
            for r in dict.fromkeys(["hog", *inversion_reps])}
    inversions = [runs[r][0] for r in inversion_reps]
    shard = sharding_check(runs["hog"][1], iterations=iterations)
    passed = all(c["passed"] for c in codes + inversions) and shard["passed"]
    return {"codes": codes, "inversions": inversions, "sharding": shard, "passed": passed,
            "tolerances": {"codes": TOLERANCE, "sharding": SHARDING_TOLERANCE}}
