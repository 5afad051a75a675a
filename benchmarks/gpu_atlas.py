"""The atlas on one device: a layer's units in one jaxinv program beside PyTorch's one-unit loop.

The ``atlas`` section of `benchmarks/gpu.py` (issue #34; docs/GPU.md). For one layer (default
GoogLeNet's inception_4d/5x5, all 64 units), at the picture size the atlas plans for it and the
same steps T on every side, on one card at TF32 (both sides' float32 default there):

- **jaxinv, batched**: ``jaxinv.atlas.maximize_units(rep, units)``, the atlas's own call (the
  ijcv prior: jitter, TV, α-norm, IJCV's momentum), once to compile, then timed;
- **jaxinv, loop**: one unit per call for the first ``loop_units`` units (compiled by a call
  before them);
- **PyTorch, loop**: `baselines.torch_maximization.TorchUnitMaximization` with one unit a run,
  the same layer (torch's own ops on the same blobs), size, steps and jitter range J (a roll by up
  to J pixels either way, where jaxinv crops at one of J offsets), with the paper's
  TV and α-norm terms and heavy-ball momentum (jaxinv runs the ijcv prior's; either way a step's
  work is mostly the network's forward pass and input gradient): what a PyTorch user's
  one-unit-at-a-time atlas runs; a first unit is a warm-up (cuDNN's algorithm search), not timed.

Units per second = units / seconds of the timed calls (steps, start gradients and results
included on jaxinv's side). The networks have random canonical weights
(`jaxinv.networks.init_blobs`): speed does not depend on their values, and nothing but timings
is kept. Each part starts only before ``deadline``; one that does not is recorded as skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jax
import numpy as np

import gpu_speed
import jaxinv
from jaxinv.atlas import maximize_units
from jaxinv.core import IJCVObjective
from jaxinv.core.objectives import neuron
from jaxinv.networks import init_blobs
from jaxinv.plan import layer_channels, plan_maximization

#: The layer measured by default: GoogLeNet's deepest 5×5 branch, 64 units, the issue's case.
CASE = "googlenet:inception_4d/5x5"
#: The PyTorch loop's step size on u = x/σ: small enough that T steps stay finite.
TORCH_RATE = 1e-7


def ijcv_jitter(rep) -> int:
    """J, the ijcv prior's jitter for ``rep``'s layer (`IJCVObjective.jitter_for` its stride)."""
    return IJCVObjective().jitter_for(rep.stride)


def seconds_of(call: Callable[[], object]) -> float:
    """Wall seconds of ``call()``."""
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _rate(units: int, seconds: float) -> dict:
    return {"units": units, "seconds": seconds, "units_per_second": units / seconds}


def jax_arms(rep, channels: list[int], *, steps: int, loop_units: int, deadline: float) -> dict:
    """jaxinv's two arms: every unit in one call, and the first ``loop_units`` one per call."""
    options = {"key": jax.random.key(0), "iterations": steps, "progress": False, "unit_max": 1.0}
    made: list = []
    first = seconds_of(lambda: made.append(maximize_units(rep, channels, **options)))
    batched = {**_rate(len(channels), seconds_of(lambda: maximize_units(rep, channels, **options))),
               "first_call_seconds": first, "dead_at_start": int(made[0].redirected.sum())}
    if time.perf_counter() > deadline:
        return {"batched": batched, "loop": {"skipped": "past the time budget"}}
    looped = channels[:loop_units]
    first = seconds_of(lambda: maximize_units(rep, looped[:1], **options))
    seconds = sum(seconds_of(lambda c=c: maximize_units(rep, [c], **options)) for c in looped)
    return {"batched": batched, "loop": {**_rate(len(looped), seconds), "first_call_seconds": first}}


def torch_loop(network: str, layer: str, blobs: dict, channels: list[int], *, side: int, steps: int,
               lambda_tv: float, jitter: int, platform: str) -> dict:
    """PyTorch's one-unit loop over ``channels`` on the device of ``platform``, after a warm-up unit."""
    from baselines.torch_inversion import build_network
    from baselines.torch_maximization import TorchUnitMaximization

    device = gpu_speed.torch_device(platform)
    precision = gpu_speed.set_torch_precision("tf32")
    net = build_network(network, blobs, layer).to(device)
    u0 = np.random.default_rng(0).normal(0.0, 1e-3, (1, side, side, 3)).astype(np.float32)

    def one(channel: int) -> float:
        run = TorchUnitMaximization(net, [channel], u0, schedule=[(TORCH_RATE, steps)], lambda_tv=lambda_tv,
                                    jitter=jitter, seed=channel).to(device)
        started = time.perf_counter()
        run.run(steps)
        gpu_speed.synchronize(device)
        seconds = time.perf_counter() - started
        if not np.all(np.isfinite(run.variable_nhwc())):
            raise FloatingPointError(f"PyTorch's unit {channel} left non-finite numbers; lower TORCH_RATE")
        return seconds

    warm_up = one(channels[0])
    return {**_rate(len(channels), sum(one(c) for c in channels)), "warm_up_seconds": warm_up, "torch": precision}


def atlas_section(*, case: str = CASE, units: int | None = None, loop_units: int = 8, steps: int = 300,
                  with_torch: bool = True, deadline: float = float("inf")) -> dict:
    """The section's document: the layer, sizes, each arm's units per second and the ratios."""
    network, layer = case.split(":")
    blobs = init_blobs(network, key=0)
    rep = jaxinv.cnn(network, layer=layer, weights=blobs)
    count = layer_channels(network, layer)
    channels = list(range(count if units is None else min(units, count)))
    side = int(plan_maximization(rep, [neuron(0)], unit_max=1.0).image_size)
    platform = jax.default_backend()
    doc = {"case": case, "units": len(channels), "layer_units": count, "steps": steps, "image_size": side,
           "precision": "tf32", "weights": "random canonical blobs", "platform": platform,
           "jax": jax_arms(rep, channels, steps=steps, loop_units=loop_units, deadline=deadline)}
    if with_torch and time.perf_counter() < deadline:
        doc["torch_loop"] = torch_loop(network, layer, blobs, channels[:loop_units], side=side, steps=steps,
                                       lambda_tv=rep.lambda_tv, jitter=ijcv_jitter(rep), platform=platform)
    elif with_torch:
        doc["torch_loop"] = {"skipped": "past the time budget"}
    batched = doc["jax"]["batched"]["units_per_second"]
    for arm, rate in (("jax_loop", doc["jax"]["loop"]), ("torch_loop", doc.get("torch_loop", {}))):
        if "units_per_second" in rate:
            doc[f"batched_over_{arm}"] = batched / rate["units_per_second"]
    return doc


def line(doc: dict) -> str:
    """One summary line of the section."""
    rates = ", ".join(f"{name} {part['units_per_second']:.3f}" for name, part in
                      (("batched", doc["jax"]["batched"]), ("jaxinv loop", doc["jax"]["loop"]),
                       ("PyTorch loop", doc.get("torch_loop", {}))) if "units_per_second" in part)
    ratios = ", ".join(f"batched ÷ {arm.replace('_', ' ')} {doc[f'batched_over_{arm}']:.2f}×"
                       for arm in ("jax_loop", "torch_loop") if f"batched_over_{arm}" in doc)
    return (f"atlas {doc['case']} ({doc['units']} units, {doc['steps']} steps, {doc['image_size']} px):"
            f" units/s {rates}; {ratios}")
