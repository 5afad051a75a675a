"""The timed inversion step: one representation at one batch, set up for jaxinv and for PyTorch.

Shared by `throughput.py` (XLA CPU against PyTorch eager) and `gpu_speed.py` (the same on a
device). A `Case` holds what the host's runner would compile for the paper's prior
(`jaxinv.core.solver(rep, "paper")`, the representation's λ and schedule): the solver split
into its compiled skeleton and its arrays (`jaxinv.program.split_solver`), the `Program` of
``steps``-step chunks with the runner's `vmap_width` heuristic
(`jaxinv.program.default_vmap_width`), B targets and B random starts
(`jaxinv.program.init_states`). `JaxRunner` times exactly the runner's compiled chunk
(`jaxinv.program.advance_chunk`, with its CPU compiler options), lowered and compiled ahead of
time; `TorchRunner` the PyTorch baseline (`baselines.torch_inversion`) of the same problem.

Networks have random canonical weights (`jaxinv.networks.init_blobs`): speed does not depend on
their values. HOG and DSIFT are the paper's presets on 375×500 gray pictures.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

import common
import jaxinv
from jaxinv import registry
from jaxinv.core import PaperObjective, Solver, SolverState
from jaxinv.core.presets import size_weight
from jaxinv.networks import init_blobs
from jaxinv.program import Program, advance_chunk, init_states, program_for

SHALLOW_SIZE = (375, 500)  # (H, W), a typical ImageNet validation picture


@dataclasses.dataclass
class Case:
    """One representation at one batch size, set up for both frameworks.

    Attributes:
      solver: the paper's solver of one problem; program, arrays: its chunk as the runner
        compiles it (``chunk`` = the steps timed) and the chunk's array arguments.
      targets: Φ0 per problem (B, ...); states: the random start per problem (B, ...).
      blobs: the canonical weights (CNN cases), None for HOG and DSIFT.
      config: the paper's objective the solver was built from (the PyTorch baseline's constants).
    """

    name: str
    batch: int
    rep: object
    solver: Solver
    program: Program
    arrays: list
    targets: jax.Array
    states: SolverState
    blobs: dict | None
    config: PaperObjective

    @property
    def network(self) -> str | None:
        return self.name.split(":")[0] if self.blobs is not None else None

    @property
    def layer(self) -> str | None:
        return self.name.split(":")[1] if self.blobs is not None else None


def make_case(name: str, batch: int, *, steps: int, seed: int = 0, blobs: dict | None = None) -> Case:
    """Representation, the runner's program (chunk = ``steps``), targets and random starts for ``name``."""
    if name in ("hog", "dsift", "hogb"):
        rep = registry.get(name)
        size = SHALLOW_SIZE
        blobs = None
    else:
        network, layer = name.split(":")
        blobs = blobs if blobs is not None else init_blobs(network, key=seed)
        rep = jaxinv.cnn(network, layer=layer, weights=blobs)
        size = rep.input_shape[:2]
    xs = np.stack([np.asarray(rep.preprocess(p), np.float32) for p in common.photographs(batch, size)])
    targets = jax.jit(jax.vmap(rep.features, in_axes=(None, 0)))(rep.params, jnp.asarray(xs))
    shape = tuple(int(s) for s in xs.shape[1:])
    config = PaperObjective(lambda_tv=rep.lambda_tv, lambda_alpha=rep.lambda_alpha)
    solver = jaxinv.core.solver(rep, "paper", image_shape=shape, config=config)
    prog, arrays = program_for(solver, chunk=int(steps))  # the runner's own program
    keys = jnp.stack([jax.random.fold_in(jax.random.key(seed), i) for i in range(batch)])
    states = init_states(prog, arrays, keys)
    return Case(name, batch, rep, solver, prog, arrays, targets, states, blobs, config)


def torch_inversion(case: Case, *, channels_last: bool = False):
    """The PyTorch baseline of ``case``: same blobs, targets, start, schedule and constants."""
    from baselines.torch_inversion import TorchInversion, build_network

    obj = case.config
    net = build_network(case.network, case.blobs, case.layer)
    return TorchInversion(
        net, np.asarray(case.targets), np.asarray(case.states.variables)[:, 0],
        schedule=[(s.learning_rate, s.iterations) for s in case.solver.schedule.stages],
        lambda_tv=obj.lambda_tv, lambda_alpha=obj.lambda_alpha, alpha=obj.alpha, beta=obj.beta,
        sigma=obj.sigma, size_weight=size_weight(obj, case.solver.image_shape), channels_last=channels_last)


class JaxRunner:
    """Drives the runner's chunk `jaxinv.program.advance_chunk` for a case: AOT compile, then chunks."""

    def __init__(self, case: Case):
        self.case = case
        self.total = case.program.steps
        self.t0 = 0
        args = (case.program, case.arrays, case.targets, None, case.states, jnp.asarray(0, jnp.int32))
        started = time.perf_counter()
        self.compiled = advance_chunk.lower(*args).compile()
        self.compile_s = time.perf_counter() - started
        mem = self.compiled.memory_analysis()
        self.xla_bytes = None if mem is None else int(mem.temp_size_in_bytes + mem.argument_size_in_bytes)
        self.states = case.states

    def chunk(self) -> float:
        """Seconds of one chunk, continuing from the last one's states at the next step index."""
        c = self.case
        started = time.perf_counter()
        self.states, energy = self.compiled(c.arrays, c.targets, None, self.states, jnp.asarray(self.t0, jnp.int32))
        jax.block_until_ready((self.states, energy))
        seconds = time.perf_counter() - started
        self.t0 = (self.t0 + c.program.chunk) % self.total
        return seconds


class TorchRunner:
    """Drives the PyTorch baseline of a case, ``chunk`` steps per call."""

    def __init__(self, case: Case, *, channels_last: bool = False):
        self.inv = torch_inversion(case, channels_last=channels_last)
        self.steps = case.program.chunk

    def chunk(self) -> float:
        started = time.perf_counter()
        self.inv.run(self.steps)
        return time.perf_counter() - started


def check_iterates(steps: int = 5, *, name: str = "caffenet:conv5", batch: int = 1, seed: int = 0) -> dict:
    """Both frameworks from the same start for ``steps`` steps: relative difference of the images."""
    case = make_case(name, batch, steps=steps, seed=seed)
    states, energy = advance_chunk(case.program, case.arrays, case.targets, None, case.states,
                                   jnp.asarray(0, jnp.int32))
    sigma = case.config.sigma
    x_jax = np.asarray(states.variables)[:, 0].astype(np.float64) * sigma
    inv = torch_inversion(case)
    inv.run(steps)
    x_torch = inv.images_nhwc().astype(np.float64)
    x0 = np.asarray(case.states.variables)[:, 0].astype(np.float64) * sigma
    rel = float(np.linalg.norm(x_jax - x_torch) / np.linalg.norm(x_jax))
    moved = float(np.linalg.norm(x_jax - x0) / np.linalg.norm(x0))
    e_jax = np.asarray(energy)[:, -1, -1]  # the last step's total
    return {"case": name, "batch": batch, "steps": steps, "relative_difference": rel,
            "relative_move_from_start": moved, "jax_energy_last_step": e_jax.tolist()}
