"""The compiled inversion program: one `lax.scan` chunk of k steps, vmapped over problems.

A *problem* is one optimisation: a variable of R images (R = 1 for an independent seed,
R > 1 for the coupled multi-start mode of METHOD.md §2.2) matched to one target code.
Problems are batched with `jax.vmap` (images × seeds); the representation's params are
shared, never batched. The chunk is compiled once per (representation, objective,
schedule, shapes): the step index is traced, so every chunk of a run, and every later run
with other images or keys, reuses the same executable.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxinv.core.parametrisations import BallPixels, ScaledPixels
from jaxinv.core.presets import PAPER_INPUT_SIZE, Preset, ijcv_preset, paper_preset, size_weight  # noqa: F401
from jaxinv.core.solver import Solver, SolverState
from jaxinv.core.terms import Objective
from jaxinv.objective import IJCVObjective, PaperObjective
from jaxinv.schedules import Schedule

__all__ = ["Problem", "Carry", "init_carry", "run_chunk", "evaluate", "trace_count", "bytes_per_problem",
           "default_vmap_width", "used_param_bytes", "COMPILER_OPTIONS", "compiler_options",
           "platform_of", "energy_terms"]

_TRACES = {"run_chunk": 0}
#: The state of one problem (`jaxinv.core.SolverState`).
Carry = SolverState


def trace_count() -> int:
    """How many times the chunk program has been traced (compiled) in this process."""
    return _TRACES["run_chunk"]


@dataclasses.dataclass(frozen=True)
class Problem:
    """Everything static about a compiled inversion program (hashable: a jit static argument).

    It names one of the two presets of the composable core (`jaxinv.core`): the CVPR 2015
    objective on σ-scaled pixels with the authors' momentum, or the IJCV 2016 one on pixels
    in a ball with jitter and AdaGrad-momentum.

    Attributes:
      features: the representation's pure ``features(params, x)`` on one image.
      objective: `PaperObjective` (CVPR 2015) or `IJCVObjective` (IJCV 2016).
      schedule: the learning-rate stages.
      image_shape: (H, W, C) of the input space.
      copies: R, the images optimised jointly in one problem.
      jitter: J (1 for the paper's objective).
      chunk: k, the steps per compiled chunk; snapshots are taken after the first step of
        each chunk (iterations 1, k+1, 2k+1, …; with k = 25 these are the paper's).
      vmap_width: problems vectorised together; a larger batch runs as a sequential
        `jax.lax.map` over groups of this many (None: the whole batch in one `vmap`). See
        `default_vmap_width`.
    """

    features: Callable[[Any, jax.Array], jax.Array]
    objective: PaperObjective | IJCVObjective
    schedule: Schedule
    image_shape: tuple[int, int, int]
    copies: int = 1
    jitter: int = 1
    chunk: int = 25
    vmap_width: int | None = None

    @property
    def is_ijcv(self) -> bool:
        return isinstance(self.objective, IJCVObjective)

    @property
    def variable_shape(self) -> tuple[int, ...]:
        return self.parametrisation().variable_shape(self.image_shape, self.copies)

    def preset(self) -> Preset:
        """The core's preset this problem names (`jaxinv.core.presets`)."""
        if self.is_ijcv:
            return ijcv_preset(self.objective, self.schedule, self.image_shape, jitter=self.jitter)
        return paper_preset(self.objective, self.schedule, self.image_shape)

    def parametrisation(self) -> ScaledPixels | BallPixels:
        return self.preset().parametrisation

    def terms(self) -> Objective:
        """The preset's objective: c·data + λ_V TV^β + λ_α N_α (CVPR) or C·data + TV + N_α (IJCV)."""
        return self.preset().objective

    def optimizer(self) -> optax.GradientTransformation:
        return self.preset().optimizer

    def solver(self, params: Any) -> Solver:
        """The pure core's solver of one problem of this kind (`jaxinv.core.Solver`)."""
        return self.preset().solver(self.features, params, image_shape=self.image_shape, copies=self.copies)

    def images(self, variable: jax.Array) -> jax.Array:
        """The R images of the input space that a variable stands for (the centre view)."""
        return self.parametrisation().image(variable)

    @property
    def size_weight(self) -> float:
        """c = min(1, HWC / N₀), N₀ = 227·227·3 (`jaxinv.core.presets.size_weight`); 1 for IJCV.

        Deliberate deviation (docs/ARCHITECTURE.md). The paper's regularisers are sums over
        the N = HWC pixels while its data term is normalised, and its random start has norm
        σ whatever N; below the paper's size this makes the step sizes of its schedules
        diverge (the data term's curvature grows as σ²/‖Φ0‖² ∝ 1/N, the start's pixels as
        1/√N). With c, both scale as at the paper's size: E = c·data + λ_α Σu^α + λ_V TV(u)
        and a start of norm σ√c. Inputs of at least N₀ values get c = 1, the paper exactly.
        """
        return 1.0 if self.is_ijcv else size_weight(self.objective, self.image_shape)


def init_carry(problem: Problem, key: jax.Array) -> Carry:
    """The random start of one problem (`jaxinv.core.parametrisations`: CVPR: x = σ√c ξ/‖ξ‖ over
    the whole R-image block, METHOD.md §2.1; IJCV: U[−1, 1] noise over its 95th percentile × B/√3)."""
    return problem.solver(None).init(key)


def _paper_units(weights: tuple, energies: jax.Array) -> jax.Array:
    """[data, TV, α, total] with the regularisers weighted, as the authors' energy record has them
    (the core records each term's unweighted value)."""
    regulariser_weights = jnp.stack([jnp.asarray(w, energies.dtype) for w in weights[1:]])
    return jnp.concatenate([energies[..., :1], energies[..., 1:-1] * regulariser_weights, energies[..., -1:]],
                           axis=-1)


def energy_terms(problem: Problem, params: Any, variable: jax.Array, target: jax.Array,
                 mask: jax.Array | None) -> jax.Array:
    """[data, TV, α, total] of one problem at ``variable`` (the centre view), regularisers weighted.

    ``data`` is the normalised data term ‖M ⊙ (Φ(x) − Φ0)‖² / Z itself; the total weighs
    it by C (IJCV) or by `Problem.size_weight` (CVPR, 1 at the paper's sizes).
    """
    total, values = problem.solver(params).energy(variable, target, mask)
    return _paper_units(problem.terms().weights, jnp.concatenate([values, total[None]]))


#: XLA options of the inversion program on the CPU. Why: on CPU, jax 0.10's default hands
#: convolutions to YNNPACK, whose kernels ran the inversion step (a forward and an input
#: gradient per convolution) 1.15-3× slower than XLA's Eigen convolutions on CaffeNet,
#: SqueezeNet, HOG and DSIFT at batch 1 and 8; matrix products stay with YNNPACK, the faster
#: there for the fc layers (`benchmarks/throughput.py`). It is a setting of XLA's CPU backend,
#: so `compiler_options` passes it only when the program is compiled for the CPU.
COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


def compiler_options(platform: str) -> dict[str, str]:
    """The XLA options the inversion program is compiled with on ``platform`` ("cpu", "gpu", "tpu")."""
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

    def __init__(self, fun: Callable, *, static_argnums: int, dispatch_argnums: tuple[int, ...]):
        self._fun, self._static, self._dispatch = fun, static_argnums, dispatch_argnums
        self._jits: dict[str, Any] = {}
        functools.update_wrapper(self, fun)

    def _jit(self, platform: str):
        if platform not in self._jits:
            self._jits[platform] = jax.jit(self._fun, static_argnums=self._static,
                                           compiler_options=compiler_options(platform) or None)
        return self._jits[platform]

    def for_platform(self, platform: str) -> Callable:
        """The function compiled for ``platform``, taking the caller's arguments."""
        return self._jit(platform)

    def _pick(self, args: tuple):
        return self._jit(platform_of(*(args[i] for i in self._dispatch if i < len(args))))

    def __call__(self, *args, **kwargs):
        return self._pick(args)(*args, **kwargs)

    def lower(self, *args, **kwargs):
        return self._pick(args).lower(*args, **kwargs)


def _run_chunk(problem: Problem, params: Any, targets: jax.Array, mask: jax.Array | None, carries: Carry,
               t0: jax.Array) -> tuple[Carry, jax.Array]:
    """Run steps t0 … t0+k−1 of a batch of problems (leading axis of targets and carries).

    Steps at or past the schedule's end leave the state unchanged, so the last chunk of a run
    reuses the same program. Returns the new carries and the energies, shape (B, k, 4).
    Compiled once per `Problem` and shapes, with `compiler_options` of the platform that
    ``targets`` and ``carries`` live on.

    The objective's weights are compile-time constants here, part of the static `Problem`
    (a new λ_V compiles a new chunk), although the core's `Objective` keeps them as leaves. Why:
    with λ_V an argument, XLA's CPU backend leaves the step's fused update unvectorised, 10%
    slower on HOG (`benchmarks/traced_weights.py`). A sweep that compiles once is the core's:
    jit or vmap `jaxinv.core.Solver` over its weights.
    """
    _TRACES["run_chunk"] += 1
    solver = problem.solver(params)
    carries = carries._replace(step=jnp.broadcast_to(jnp.asarray(t0, jnp.int32), carries.step.shape))
    weights = problem.terms().weights

    def one(target_carry):
        state, energies = solver.advance(target_carry[1], target_carry[0], problem.chunk, mask)
        return state, _paper_units(weights, energies)

    width = problem.vmap_width
    if width is None or targets.shape[0] <= width:
        return jax.vmap(one)((targets, carries))
    return jax.lax.map(one, (targets, carries), batch_size=width)


run_chunk = _JitByPlatform(_run_chunk, static_argnums=0, dispatch_argnums=(2, 4))


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


def bytes_per_problem(problem: Problem, params: Any, target_shape: tuple[int, ...],
                      mask: jax.Array | None) -> int:
    """Device bytes one more problem adds to a chunk: XLA's memory analysis of the program
    compiled for 2 problems minus that for 1 (so the shared params count once, not per problem).
    """
    def analysed(batch: int) -> int:
        keys = jax.random.split(jax.random.key(0), batch)
        carries = jax.eval_shape(jax.vmap(functools.partial(init_carry, problem)), keys)
        targets = jax.ShapeDtypeStruct((batch, *target_shape), jnp.float32)
        compiled = run_chunk.lower(problem, params, targets, mask, carries, jnp.int32(0)).compile()
        m = compiled.memory_analysis()
        return int(m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes)

    return max(analysed(2) - analysed(1), 1)


@functools.partial(jax.jit, static_argnums=0)
def evaluate(problem: Problem, params: Any, targets: jax.Array, mask: jax.Array | None,
             variables: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Final images (B, R, H, W, C), codes (B, R, ...) and per-copy errors (B, R).

    The error of a copy is ‖M ⊙ (Φ(x_r) − Φ0)‖² / ‖M ⊙ Φ0‖² (not divided by R).
    """
    return jax.vmap(problem.solver(params).evaluate, in_axes=(0, 0, None))(variables, targets, mask)
