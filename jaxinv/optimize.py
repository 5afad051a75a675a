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
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxinv.objective import (
    IJCVObjective, PaperObjective, alpha_norm, bounded_alpha_norm, data_term, ijcv_tv_norm,
    masked_sq_norm, project_to_ball, tv_norm,
)
from jaxinv.optimizers import adagrad_momentum_with_reset, momentum_with_reset
from jaxinv.schedules import Schedule

__all__ = ["Problem", "Carry", "init_carry", "run_chunk", "evaluate", "trace_count", "bytes_per_problem",
           "default_vmap_width", "used_param_bytes", "COMPILER_OPTIONS", "compiler_options",
           "platform_of"]

_TRACES = {"run_chunk": 0}
#: Values in the paper's CNN input, 227·227·3; see `Problem.sigma`.
PAPER_INPUT_SIZE = 227 * 227 * 3


def trace_count() -> int:
    """How many times the chunk program has been traced (compiled) in this process."""
    return _TRACES["run_chunk"]


@dataclasses.dataclass(frozen=True)
class Problem:
    """Everything static about a compiled inversion program (hashable: a jit static argument).

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
    def variable_shape(self) -> tuple[int, int, int, int]:
        h, w, c = self.image_shape
        return (self.copies, h + self.jitter - 1, w + self.jitter - 1, c)

    def optimizer(self) -> optax.GradientTransformation:
        rates, starts, _ = self.schedule.per_step()
        if self.is_ijcv:
            o = self.objective
            h, w, _ = self.image_shape
            # LR = 0.05 B²/α, scaled by HW as in nnpreimage.m; the stages hold multipliers.
            return adagrad_momentum_with_reset(rates * (h * w * 0.05 * o.bound ** 2 / o.alpha), starts)
        return momentum_with_reset(rates, starts)

    def images(self, variable: jax.Array, offset: tuple[jax.Array, jax.Array] | None = None) -> jax.Array:
        """The R images of the input space that a variable stands for."""
        if self.is_ijcv:
            h, w, c = self.image_shape
            if offset is None:
                # Without jitter the network sees the centre of the padded variable.
                centre = (self.jitter - 1) // 2
                return variable[..., centre:centre + h, centre:centre + w, :]
            return jax.lax.dynamic_slice(variable, (0, offset[0], offset[1], 0), (self.copies, h, w, c))
        return variable * self.objective.sigma

    @property
    def size_weight(self) -> float:
        """c = min(1, HWC / N₀), N₀ = 227·227·3: the data term's weight for small inputs.

        Deliberate deviation (docs/ARCHITECTURE.md). The paper's regularisers are sums over
        the N = HWC pixels while its data term is normalised, and its random start has norm
        σ whatever N; below the paper's size this makes the step sizes of its schedules
        diverge (the data term's curvature grows as σ²/‖Φ0‖² ∝ 1/N, the start's pixels as
        1/√N). With c, both scale as at the paper's size: E = c·data + λ_α Σu^α + λ_V TV(u)
        and a start of norm σ√c. Inputs of at least N₀ values (CaffeNet's 227×227×3, the
        paper's ≈500×375 HOG/DSIFT pictures) get c = 1, the paper exactly; so does
        ``PaperObjective(size_weight=False)`` at every size. (IJCV 2016 made its
        regularisers size-free with 1/HW instead.)
        """
        o = self.objective
        if isinstance(o, IJCVObjective) or not o.size_weight:
            return 1.0
        h, w, c = self.image_shape
        return float(min(1.0, h * w * c / PAPER_INPUT_SIZE))


class Carry(NamedTuple):
    variable: jax.Array      # (R, H', W', C)
    opt_state: Any
    snapshot: jax.Array      # the variable after the chunk's first step
    key: jax.Array
    rejected: jax.Array      # steps refused because they left the finite numbers


def init_carry(problem: Problem, key: jax.Array) -> Carry:
    """The random start of one problem.

    CVPR: x = σ ξ/‖ξ‖ with ξ ~ N(0, I) over the whole R-image block (METHOD.md §2.1), i.e.
    u = ξ/‖ξ‖, times √c below the paper's size (`Problem.size_weight`). IJCV: U[−1, 1] noise divided by its 95th percentile,
    times B/√3.
    """
    init_key, run_key = jax.random.split(key)
    shape = problem.variable_shape
    if problem.is_ijcv:
        noise = jax.random.uniform(init_key, shape, jnp.float32, -1.0, 1.0)
        variable = noise / jnp.percentile(noise, 95) * (problem.objective.bound / np.sqrt(3.0))
    else:
        noise = jax.random.normal(init_key, shape, jnp.float32)
        variable = noise * (np.sqrt(problem.size_weight) / jnp.linalg.norm(noise.ravel()))
    return Carry(variable, problem.optimizer().init(variable), variable, run_key, jnp.zeros([], jnp.int32))


def _codes(problem: Problem, params: Any, images: jax.Array) -> jax.Array:
    return jax.vmap(problem.features, in_axes=(None, 0))(params, images)


def energy_terms(problem: Problem, params: Any, variable: jax.Array, target: jax.Array,
                 mask: jax.Array | None, offset=None) -> jax.Array:
    """[data, TV, α, total] of one problem at ``variable``.

    ``data`` is the normalised data term ‖M ⊙ (Φ(x) − Φ0)‖² / Z itself; the total weighs
    it by C (IJCV) or by `Problem.size_weight` (CVPR, 1 at the paper's sizes).
    """
    o = problem.objective
    codes = _codes(problem, params, problem.images(variable, offset))
    normaliser = problem.copies * masked_sq_norm(target, mask)
    data = data_term(codes, target[None], normaliser, None if mask is None else mask[None])
    if problem.is_ijcv:
        weight = o.data_weight
        tv = ijcv_tv_norm(variable, scale=o.v, beta=o.beta)
        alpha = bounded_alpha_norm(variable, bound=o.bound, alpha=o.alpha)
    else:
        weight = problem.size_weight
        tv = o.lambda_tv * tv_norm(variable, o.beta)
        alpha = o.lambda_alpha * alpha_norm(variable, o.alpha)
    return jnp.stack([data, tv, alpha, weight * data + tv + alpha])


def _step(problem: Problem, params, target, mask, jitter_flags, t0, carry: Carry, t):
    tx = problem.optimizer()
    offset = None
    if problem.is_ijcv and problem.jitter > 1:
        step_key = jax.random.fold_in(carry.key, t)
        shift = jax.random.randint(step_key, (2,), 0, problem.jitter)
        centre = (problem.jitter - 1) // 2
        on = jitter_flags[jnp.minimum(t, jitter_flags.shape[0] - 1)]
        offset = (jnp.where(on, shift[0], centre), jnp.where(on, shift[1], centre))

    def total(v):
        terms = energy_terms(problem, params, v, target, mask, offset)
        return terms[3], terms

    (_, terms), grad = jax.value_and_grad(total, has_aux=True)(carry.variable)
    updates, opt_state = tx.update(grad, carry.opt_state)
    variable = carry.variable + updates
    if problem.is_ijcv:
        variable = project_to_ball(variable, problem.objective.bound_plus)
    active = t < problem.schedule.total
    # A step that overflows (a diverging rate on an ill-conditioned target, say) is refused
    # and counted, so results stay finite and `InversionResult.diverged` tells.
    finite = jnp.all(jnp.isfinite(variable))
    keep = functools.partial(jnp.where, active & finite)
    variable = keep(variable, carry.variable)
    opt_state = jax.tree.map(keep, opt_state, carry.opt_state)
    rejected = carry.rejected + (active & ~finite).astype(jnp.int32)
    snapshot = jnp.where(t == t0, variable, carry.snapshot)
    return Carry(variable, opt_state, snapshot, carry.key, rejected), terms


def _run_chunk_one(problem: Problem, params, target, mask, carry: Carry, t0):
    _, _, jitter = problem.schedule.per_step()
    jitter_flags = jnp.asarray(jitter)
    step = functools.partial(_step, problem, params, target, mask, jitter_flags, t0)
    return jax.lax.scan(step, carry, t0 + jnp.arange(problem.chunk))


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

    def for_platform(self, platform: str):
        """The `jax.jit` of the function for ``platform``."""
        if platform not in self._jits:
            self._jits[platform] = jax.jit(self._fun, static_argnums=self._static,
                                           compiler_options=compiler_options(platform) or None)
        return self._jits[platform]

    def _pick(self, args: tuple):
        return self.for_platform(platform_of(*(args[i] for i in self._dispatch if i < len(args))))

    def __call__(self, *args, **kwargs):
        return self._pick(args)(*args, **kwargs)

    def lower(self, *args, **kwargs):
        return self._pick(args).lower(*args, **kwargs)


def _run_chunk(problem: Problem, params: Any, targets: jax.Array, mask: jax.Array | None,
               carries: Carry, t0: jax.Array) -> tuple[Carry, jax.Array]:
    """Run steps t0 … t0+k−1 of a batch of problems (leading axis of targets and carries).

    Steps at or past the schedule's end leave the state unchanged, so the last chunk of a run
    reuses the same program. Returns the new carries and the energies, shape (B, k, 4).
    Compiled once per `Problem` and shapes, with `compiler_options` of the platform that
    ``targets`` and ``carries`` live on.
    """
    _TRACES["run_chunk"] += 1

    def one(target_carry):
        return _run_chunk_one(problem, params, target_carry[0], mask, target_carry[1], t0)

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
    def one(target, variable):
        images = problem.images(variable)
        codes = _codes(problem, params, images)
        norm = masked_sq_norm(target, mask)
        errors = jax.vmap(lambda c: data_term(c, target, norm, mask))(codes)
        return images, codes, errors

    return jax.vmap(one)(targets, variables)
