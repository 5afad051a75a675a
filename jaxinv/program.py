"""The compiled program of the host's runner: k steps of a batch of problems of any `Solver`.

A *problem* is one optimisation: R images optimised jointly (R = 1 for an independent seed,
R > 1 for the paper's coupled multi-start mode, METHOD.md §2.2) against one target (a code
Φ0 for an inversion, a direction e for a maximisation). A batch of problems shares one
solver: its params and its objective; targets and states are batched along a leading axis.

`advance_chunk` runs k steps of the batch as one `lax.scan` inside `vmap`, compiled once per
`Program` and shapes: the step index is traced, steps past the schedule's end change nothing,
so every chunk of a run, and every later run with other targets or keys, reuses one
executable (`trace_count` proves it in the tests). Two choices of the program are about
speed on the CPU, both measured with `benchmarks/throughput.py` on this project's 2-core
machine:

- The solver's Python-number leaves (the objective's weights λ_V, λ_α, c) are constants of
  the compiled program (`split_solver`): with λ_V an argument, XLA's CPU backend left the
  step's fused update loop unvectorised, 10% slower on HOG (`benchmarks/traced_weights.py`).
  So a new λ_V compiles a new program here; a sweep that compiles once is the core's (jit or
  vmap a `jaxinv.core.Solver` over its weights).
- `COMPILER_OPTIONS` on the CPU, and `Program.vmap_width` (`default_vmap_width`).

``JAXINV_MAX_STEPS=N`` in the environment stops every run after its first N iterations
(`step_limit`): a check that a script or the documentation's examples run end to end, in
seconds; what it prints is not a result (jaxinv warns once when it applies).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import types
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.core.solver import Solver, SolverState
from jaxinv.errors import JaxinvError

__all__ = [
    "COMPILER_OPTIONS",
    "Program",
    "advance_chunk",
    "bytes_per_problem",
    "compiler_options",
    "default_vmap_width",
    "evaluate",
    "init_states",
    "join_solver",
    "platform_of",
    "program_for",
    "snapshot_images",
    "split_solver",
    "step_limit",
    "trace_count",
    "used_param_bytes",
]

_TRACES = {"advance_chunk": 0}


def trace_count() -> int:
    """How many times the chunk program has been traced (compiled) in this process."""
    return _TRACES["advance_chunk"]


@dataclasses.dataclass(frozen=True)
class Program:
    """Everything static about a compiled chunk (hashable: a `jax.jit` static argument).

    Attributes:
      skeleton: the solver without its arrays (`split_solver`): its structure, static fields
        and Python-number leaves (the objective's weights), all compiled in.
      chunk: k, the steps per compiled call; the snapshot is taken after the first of them.
      vmap_width: problems vectorised together; a larger batch runs as a sequential
        `jax.lax.map` over groups of this many (None: the whole batch in one `vmap`).
      steps: the schedule's length, T.
    """

    skeleton: tuple[Any, tuple[Any, ...]]
    chunk: int = 25
    vmap_width: int | None = None
    steps: int = 0


def program_for(solver: Solver, *, chunk: int = 25, vmap_width: int | str | None = "auto",
                sharded: bool = False) -> tuple[Program, list[Any]]:
    """The runner's program for ``solver`` and the arrays it takes: `split_solver`, the solver's own
    chunk (1 when `Solver.stepwise`) or ``chunk``, and ``vmap_width`` (``"auto"``:
    `default_vmap_width`; always one vmap when ``sharded``: the devices split the batch, and a
    sequential map would gather it)."""
    skeleton, arrays = split_solver(solver)
    width: int | None
    if sharded or vmap_width is None:
        width = None
    elif vmap_width == "auto":
        width = default_vmap_width(solver.features, solver.params, solver.image_shape)
    else:
        width = int(vmap_width)
    steps = int(solver.chunk or chunk)
    total = solver.schedule.total
    limit = step_limit()
    if limit is not None and limit < total:
        warnings.warn(f"JAXINV_MAX_STEPS={limit}: this run stops after {limit} of its {total} iterations"
                      " (a smoke test, not a result); unset it for the full run", stacklevel=_callers_level())
        total = limit
    return Program(skeleton, chunk=steps, vmap_width=width, steps=total), arrays


def _callers_level() -> int:
    """The ``stacklevel`` of the first frame outside jaxinv: a warning names the user's line."""
    frame: types.FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("jaxinv"):
        frame, level = frame.f_back, level + 1
    return level


def step_limit() -> int | None:
    """``JAXINV_MAX_STEPS`` as a positive int, or None when unset or empty.

    Raises:
      JaxinvError: when it is set to anything but a positive integer.
    """
    value = os.environ.get("JAXINV_MAX_STEPS", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise JaxinvError(f"JAXINV_MAX_STEPS={value!r}; set a positive number of iterations, or unset it")
    return int(value)


def _is_constant(leaf: Any) -> bool:
    return isinstance(leaf, (int, float)) and not isinstance(leaf, bool)


def split_solver(solver: Solver) -> tuple[tuple[Any, tuple[Any, ...]], list[Any]]:
    """(skeleton, arrays): the solver's Python numbers stay in the skeleton, its arrays go apart."""
    leaves, treedef = jax.tree.flatten(solver)
    constants = tuple(leaf if _is_constant(leaf) else None for leaf in leaves)
    return (treedef, constants), [None if _is_constant(leaf) else leaf for leaf in leaves]


def join_solver(skeleton: tuple[Any, tuple[Any, ...]], arrays: list[Any]) -> Solver:
    """The solver `split_solver` took apart."""
    treedef, constants = skeleton
    return jax.tree.unflatten(treedef, [c if c is not None else a for c, a in zip(constants, arrays)])


#: XLA options of the runner's programs on the CPU. Why: on CPU, jax 0.10's default hands
#: convolutions to YNNPACK, whose kernels ran the inversion step (a forward and an input
#: gradient per convolution) 1.15-3× slower than XLA's Eigen convolutions on CaffeNet,
#: SqueezeNet, HOG and DSIFT at batch 1 and 8; matrix products stay with YNNPACK, the faster
#: there for the fc layers (`benchmarks/throughput.py`). It is a setting of XLA's CPU backend,
#: so `compiler_options` passes it only when the program is compiled for the CPU.
COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


def compiler_options(platform: str) -> dict[str, str]:
    """The XLA options the runner's programs are compiled with on ``platform`` ("cpu", "gpu", "tpu")."""
    return dict(COMPILER_OPTIONS) if platform == "cpu" else {}


def platform_of(*trees: Any) -> str:
    """The platform of the first concrete array in ``trees``; else JAX's default backend.

    Arrays created without a device live on the default one, so this is where a jitted
    call on ``trees`` runs (abstract values and tracers are skipped).
    """
    for leaf in jax.tree.leaves(trees):
        if isinstance(leaf, jax.Array):
            try:
                return next(iter(leaf.devices())).platform
            except Exception:  # a tracer has no devices  # noqa: BLE001
                continue
    return jax.default_backend()


class _JitByPlatform:
    """A function jit-compiled with `compiler_options` of the platform its arguments live on.

    Calls and ``.lower(...)`` behave as the `jax.jit` of that platform (one per platform,
    each with its own cache), chosen by `platform_of` the positional arguments numbered
    ``dispatch_argnums``.
    """

    def __init__(self, fun: Callable[..., Any], *, static_argnums: int, dispatch_argnums: tuple[int, ...]):
        self._fun, self._static, self._dispatch = fun, static_argnums, dispatch_argnums
        self._jits: dict[str, Any] = {}
        functools.update_wrapper(self, fun)

    def for_platform(self, platform: str) -> Any:
        """The function compiled for ``platform``, taking the caller's arguments."""
        if platform not in self._jits:
            self._jits[platform] = jax.jit(self._fun, static_argnums=self._static,
                                           compiler_options=compiler_options(platform) or None)
        return self._jits[platform]

    def _pick(self, args: tuple[Any, ...]) -> Any:
        return self.for_platform(platform_of(*(args[i] for i in self._dispatch if i < len(args))))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._pick(args)(*args, **kwargs)

    def lower(self, *args: Any, **kwargs: Any) -> Any:
        return self._pick(args).lower(*args, **kwargs)


def _advance_chunk(program: Program, arrays: list[Any], targets: jax.Array, mask: jax.Array | None,
                   states: SolverState, t0: jax.Array) -> tuple[SolverState, jax.Array]:
    """Steps t0 … t0+k−1 of a batch of problems (leading axis of targets and states).

    Returns the new states and the energies (B, k, K + 1): each term's value and the total.
    """
    _TRACES["advance_chunk"] += 1
    solver = join_solver(program.skeleton, arrays)
    states = states._replace(step=jnp.broadcast_to(jnp.asarray(t0, jnp.int32), states.step.shape))

    def one(target_state: tuple[jax.Array, SolverState]) -> tuple[SolverState, jax.Array]:
        return solver.advance(target_state[1], target_state[0], program.chunk, mask)

    width = program.vmap_width
    if width is None or targets.shape[0] <= width:
        return jax.vmap(one)((targets, states))
    return jax.lax.map(one, (targets, states), batch_size=width)


#: The compiled chunk: ``advance_chunk(program, arrays, targets, mask, states, t0)``, with the
#: `compiler_options` of the platform that ``targets`` and ``states`` live on.
advance_chunk = _JitByPlatform(_advance_chunk, static_argnums=0, dispatch_argnums=(2, 4))


def init_states(program: Program, arrays: list[Any], keys: jax.Array) -> SolverState:
    """The random starts of a batch of problems, one key each (`Solver.init`).

    Run op by op, not compiled: a compiled start's normalisation rounds differently in the last
    bit, and the paper's 800 chaotic steps carry that to the third digit of the error; op by op
    gives the starts (and so the results) jaxinv has always given.
    """
    return jax.vmap(join_solver(program.skeleton, arrays).init)(keys)


@functools.partial(jax.jit, static_argnums=0)
def evaluate(program: Program, arrays: list[Any], targets: jax.Array, mask: jax.Array | None,
             variables: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Final images (B, R, H, W, C), codes (B, R, ...) and per-copy errors (B, R) (`Solver.evaluate`).

    The error of a copy is ‖M ⊙ (Φ(x_r) − Φ0)‖² / ‖M ⊙ Φ0‖² (not divided by R).
    """
    solver = join_solver(program.skeleton, arrays)
    return jax.vmap(solver.evaluate, in_axes=(0, 0, None))(variables, targets, mask)


@functools.partial(jax.jit, static_argnums=0)
def snapshot_images(program: Program, arrays: list[Any], variables: Any) -> jax.Array:
    """The centre-view images of a batch of variables (`Solver.image`)."""
    return jax.vmap(join_solver(program.skeleton, arrays).image)(variables)


#: Parameter bytes above which a representation's step streams its weights from memory.
STREAMING_PARAM_BYTES = 64 * 2 ** 20
#: Parameter bytes below which there are no weights worth sharing across a batch.
SHARED_PARAM_BYTES = 2 ** 20


def default_vmap_width(features: Callable[[Any, jax.Array], jax.Array], params: Any,
                       image_shape: tuple[int, ...], *, backend: str | None = None) -> int | None:
    """Problems to vectorise together on this backend, from the size of the weights used.

    On CPU a step is bound by keeping its data in cache. Batching pays where the batch
    shares weights that would otherwise be read once per image, and costs where each
    problem's activations push the others out of cache. Hence, by the bytes of the leaves of
    ``params`` that ``features`` reads on an image of ``image_shape`` (a network truncated
    at conv5 does not read its fc weights):

    - under 1 MiB (HOG, DSIFT: no weights to share): 1, problems one after the other;
    - up to 64 MiB (convolutional layers): groups of 4;
    - over 64 MiB (CaffeNet's 234 MB of fc weights, streamed from memory once per step for
      the whole batch): None, the whole batch in one vmap.

    Measured on this project's 2-core machine with `benchmarks/throughput.py`: at batch 8,
    HOG ran 343 image-iterations/s one at a time against 269 in one vmap, SqueezeNet fire9
    145–156 against 127 in groups of 2–4, CaffeNet conv5 120 against 116 (105 one at a
    time), and CaffeNet fc8 at batch 32 96 in one vmap against 75 in groups of 4.
    Accelerators want the whole batch: None.
    """
    backend = backend or jax.default_backend()
    if backend != "cpu":
        return None
    size = used_param_bytes(features, params, image_shape)
    if size > STREAMING_PARAM_BYTES:
        return None
    return 1 if size < SHARED_PARAM_BYTES else 4


def used_param_bytes(features: Callable[[Any, jax.Array], jax.Array], params: Any,
                     image_shape: tuple[int, ...]) -> int:
    """Bytes of the leaves of ``params`` that ``features`` reads (traced, nothing computed)."""
    leaves = jax.tree.leaves(params)
    image = jax.ShapeDtypeStruct(tuple(image_shape), jnp.float32)
    jaxpr = jax.make_jaxpr(features)(params, image).jaxpr
    read = {id(v) for eqn in jaxpr.eqns for v in eqn.invars}
    read |= {id(v) for v in jaxpr.outvars}
    return int(sum(np.size(leaf) * np.dtype(leaf.dtype).itemsize
                   for var, leaf in zip(jaxpr.invars, leaves) if id(var) in read))


def bytes_per_problem(program: Program, arrays: list[Any], target_shape: tuple[int, ...],
                      mask: jax.Array | None) -> int:
    """Device bytes one more problem adds to a chunk: XLA's memory analysis of the program
    compiled for 2 problems minus that for 1 (so the shared params count once, not per problem).
    """
    def analysed(batch: int) -> int:
        keys = jax.random.split(jax.random.key(0), batch)
        states = jax.eval_shape(functools.partial(init_states, program), arrays, keys)
        targets = jax.ShapeDtypeStruct((batch, *target_shape), jnp.float32)
        compiled = advance_chunk.lower(program, arrays, targets, mask, states, jnp.int32(0)).compile()
        m = compiled.memory_analysis()
        return int(m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes)

    return max(analysed(2) - analysed(1), 1)
