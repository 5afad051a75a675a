"""Activation maximisation and caricatures as IJCV 2016 defines them: the pure pieces.

Mahendran & Vedaldi, "Visualizing deep convolutional neural networks using natural
pre-images" (IJCV 2016, §3.3 and §6-7; their code ``experiments/exp_maximization.m``,
``exp_enhance.m``, ``get_preimage_opts.m``). Both uses minimise the IJCV energy with an
inner-product data term in place of the normalised distance::

    E(x) = −⟨Φ(x), e⟩ + (1/HW) Σ_p (‖x_p‖/B)^α + (1/HW) Σ_{c,p} ((d_x² + d_y²)/V²)^(β/2),

pixels kept in the B+ ball, jitter J = max(round(stride/4), 1), AdaGrad-momentum for 300
iterations at LR = 0.05 B²/α per pixel (`maximization_preset`, `caricature_preset`).

- **Directions** e of the code's shape: a neuron (one channel at one position), a channel
  (its spatial mean), a direction in channel space (at a position or averaged), a class
  (a logit), the authors' grid of k neurons (`mosaic_direction`), and any weighted sum of
  those (they are arrays: ``2 * e1 - e3``). Each builder is pure in its indices, so
  ``jax.vmap(lambda c: neuron_direction(shape, c))(channels)`` builds 64 at once.
- **The authors' scale**: e is weighted by (10000/rf²)/k/m (`unit_weight`), rf the layer's
  receptive-field size, k the number of units shown together, m the unit's largest value
  on natural images; the grid spacing s and the input size follow `grid_spacing` and
  `input_size_for_grid`.
- **Caricatures**: e = max(Φ(x0), 0)/‖max(Φ(x0), 0)‖² (`caricature_direction`), started from
  the picture x0 (`start_from`), optionally tethered to it by `L2ToPicture`.
- **Diversity** across the R copies of one problem (`Diversity`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxinv.core.parametrisations import BallPixels
from jaxinv.core.presets import Preset, ijcv_preset
from jaxinv.core.solver import Solver, SolverState
from jaxinv.core.terms import InnerProduct, L2ToPicture, NormalisedData, Objective, Term, TermInputs
from jaxinv.errors import JaxinvError
from jaxinv.core.settings import IJCVObjective
from jaxinv.core.schedules import Schedule, Stage

__all__ = ["grid_spacing", "unit_weight", "grid_positions", "input_size_for_grid", "neuron_direction",
           "channel_direction", "vector_direction", "mosaic_direction", "caricature_direction", "Diversity",
           "maximization_from", "maximization_preset", "caricature_preset", "start_from", "MAXIMIZATION_ITERATIONS",
           "LEAKY_SLOPE"]

#: The authors' iterations for both uses (``get_defaults.m``: ``fastLR`` has 300 entries).
MAXIMIZATION_ITERATIONS = 300
#: The ReLU slope during maximisation (``get_preimage_opts.m``: ``opts.leak = 0.05``).
LEAKY_SLOPE = 0.05


def grid_spacing(field: int, stride: int, *, count: int = 1) -> int:
    """s: code cells between the neurons of a grid of ``count`` units, odd.

    s = round(1.1 rf/stride) for one unit, max(round(1.1 rf/stride), 4) for several,
    plus one when even (``exp_maximization.m``). Rounding is half away from zero, as MATLAB's.
    """
    _check_positive(field=field, stride=stride, count=count)
    s = int(math.floor(1.1 * field / stride + 0.5))
    if count > 1:
        s = max(s, 4)
    s = max(s, 1)
    return s + 1 if s % 2 == 0 else s


def unit_weight(field: int, count: int, unit_max: Any) -> Any:
    """The authors' weight of e: (10000 / rf²) / k / m.

    ``unit_max`` is m, the unit's largest activation on natural images, one per unit (an
    array works). The authors' code reads ``stats.max(k)`` — the maximum of channel *k*, the
    number of units, rather than of the unit's own channel — which looks like a slip: here each
    unit is divided by its own channel's maximum.
    """
    _check_positive(field=field, count=count)
    return (10000.0 / float(field) ** 2) / count / unit_max


def grid_positions(spacing: int, count: int) -> list[tuple[int, int]]:
    """(y, x) of the k units of the authors' grid: ⌈√k⌉ cells a row, unit i in row i // ⌈√k⌉,
    column i mod ⌈√k⌉, each at its cell's centre (s − 1)/2 (``exp_maximization.m``'s layout,
    0-based). The grid is s⌈√k⌉ cells on a side."""
    _check_positive(spacing=spacing, count=count)
    per_row = math.ceil(math.sqrt(count))
    half = (spacing - 1) // 2
    return [((i // per_row) * spacing + half, (i % per_row) * spacing + half) for i in range(count)]


def input_size_for_grid(grid: int, code_side: Callable[[int], int], *, limit: int = 4096) -> int:
    """The largest square input whose code is not larger than ``grid`` cells on a side.

    ``code_side(n)`` is the code's height for an n×n input (non-decreasing in n). As
    ``exp_maximization.m``'s ``find_image_size``: the first n whose code exceeds the grid, less one.
    """
    for n in range(1, limit + 1):
        if code_side(n) > grid:
            if n == 1:
                raise JaxinvError(f"even a 1x1 input gives a code larger than the {grid}-cell grid")
            return n - 1
    return limit


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if not value > 0:
            raise JaxinvError(f"{name} = {value}; use a positive number")


def _check_index(value: Any, size: int, what: str) -> None:
    """Refuse a concrete index outside [0, size); traced indices are the caller's to check."""
    if isinstance(value, (int, np.integer)) and not 0 <= int(value) < size:
        raise JaxinvError(f"{what} {int(value)} is out of range; the code has {size} (use 0 to {size - 1})")


def _centre(code_shape: Sequence[int]) -> tuple[int, int]:
    return (code_shape[0] - 1) // 2, (code_shape[1] - 1) // 2


def _spatial(code_shape: Sequence[int], position: Any | None) -> jax.Array:
    """(H, W): one at ``position`` ((y, x), the centre by default), zero elsewhere."""
    h, w = code_shape[0], code_shape[1]
    y, x = _centre(code_shape) if position is None else position
    _check_index(y, h, "neuron row")
    _check_index(x, w, "neuron column")
    return jax.nn.one_hot(y, h, dtype=jnp.float32)[:, None] * jax.nn.one_hot(x, w, dtype=jnp.float32)[None, :]


def neuron_direction(code_shape: Sequence[int], channel: Any, *, position: Any | None = None) -> jax.Array:
    """e with a one at ``channel`` of the neuron at ``position`` ((y, x); the centre by default).

    A class is the neuron of a (1, 1, classes) logits code: ``neuron_direction(shape, c)``.
    """
    _check_index(channel, code_shape[-1], "channel")
    return _spatial(code_shape, position)[:, :, None] * jax.nn.one_hot(channel, code_shape[-1], dtype=jnp.float32)


def channel_direction(code_shape: Sequence[int], channel: Any) -> jax.Array:
    """e = 1/(HW) on every position of ``channel``: ⟨Φ, e⟩ is the channel's spatial mean."""
    _check_index(channel, code_shape[-1], "channel")
    h, w, c = code_shape
    return jnp.broadcast_to(jax.nn.one_hot(channel, c, dtype=jnp.float32) / (h * w), (h, w, c))


def vector_direction(code_shape: Sequence[int], vector: Any, *, position: Any | None = None,
                     average: bool = False) -> jax.Array:
    """e = v at ``position`` (the centre by default), or v/(HW) everywhere with ``average``."""
    v = jnp.asarray(vector, jnp.float32)
    if v.shape != (code_shape[-1],):
        raise JaxinvError(f"a direction of shape {v.shape} does not fit the code's {code_shape[-1]} channels;"
                          f" pass a vector of length {code_shape[-1]}")
    if average:
        h, w, _ = code_shape
        return jnp.broadcast_to(v / (h * w), tuple(code_shape))
    return _spatial(code_shape, position)[:, :, None] * v


def mosaic_direction(code_shape: Sequence[int], channels: Sequence[int], spacing: int, weights: Any) -> jax.Array:
    """The authors' grid for k > 1: unit i (channel ``channels[i]``, weight ``weights[i]``) at
    `grid_positions`; positions past the code's edge are refused."""
    weights = jnp.broadcast_to(jnp.asarray(weights, jnp.float32), (len(channels),))
    e = jnp.zeros(tuple(code_shape), jnp.float32)
    for i, (channel, (y, x)) in enumerate(zip(channels, grid_positions(spacing, len(channels)))):
        if y >= code_shape[0] or x >= code_shape[1]:
            raise JaxinvError(f"unit {i} of the grid lands at ({y}, {x}), outside the {code_shape[0]}x"
                              f"{code_shape[1]} code; use a larger input or fewer channels")
        _check_index(channel, code_shape[-1], "channel")
        e = e.at[y, x, channel].add(weights[i])
    return e


def caricature_direction(code: jax.Array) -> jax.Array:
    """e = max(Φ0, 0) / ‖max(Φ0, 0)‖²: ⟨Φ0, e⟩ = 1 on a non-negative code (``exp_enhance.m``).

    A code without a positive value has no caricature; it gives e = 0 (the objective then only
    smooths the picture).
    """
    positive = jnp.maximum(code, 0.0)
    norm = jnp.sum(positive * positive)
    return positive / jnp.where(norm > 0, norm, 1.0)


class Diversity(Term):
    """Mean cosine similarity of the R copies' Gram matrices, over the R(R − 1) ordered pairs.

    G_r = F_rᵀ F_r / P with F_r the copy's (P positions × C channels) code (``source="code"``)
    or image (``source="image"``); weighted positively, it pushes the copies' feature
    statistics apart, so that the seeds of one problem give several answers (the diversity
    objective of lucid, Olah et al., "Feature Visualization", Distill 2017). 0 for one copy.
    """

    name: ClassVar[str] = "diversity"
    source: str = struct.field(pytree_node=False, default="code")

    def __call__(self, inputs: TermInputs) -> jax.Array:
        x = inputs.code if self.source == "code" else inputs.image
        copies = x.shape[0]
        if copies < 2:
            return jnp.zeros([], jnp.float32)
        features = x.reshape(copies, -1, x.shape[-1])
        gram = jnp.einsum("rpc,rpd->rcd", features, features).reshape(copies, -1) / features.shape[1]
        unit = gram / jnp.sqrt(jnp.sum(gram * gram, axis=1, keepdims=True) + 1e-12)
        similarity = unit @ unit.T
        return (jnp.sum(similarity) - jnp.trace(similarity)) / (copies * (copies - 1))


def _regularisers(preset: Preset) -> Objective:
    """The preset's objective without its data term."""
    kept = [(w, t) for w, t in zip(preset.objective.weights, preset.objective.terms)
            if not isinstance(t, NormalisedData)]
    return Objective(tuple(t for _, t in kept), tuple(w for w, _ in kept))


def maximization_from(preset: Preset, *, copies: int = 1, diversity: float | None = None) -> Preset:
    """``preset`` turned to maximisation: −R·⟨Φ(x), e⟩ + its regularisers (its data term dropped),
    with its own parametrisation, optimiser and schedule; ``diversity`` adds that weight times
    `Diversity` across the R ``copies``.

    The inner product is weighted by R since `InnerProduct` averages over the copies while
    the authors' code (and the regularisers) sum over them: each copy then moves as it would
    alone. Any image prior's preset serves (``jaxinv.core.priors``: ``prior.preset()``).
    """
    objective = -float(copies) * InnerProduct() + _regularisers(preset)
    if diversity is not None:
        objective = objective + float(diversity) * Diversity()
    return dataclasses.replace(preset, objective=objective)


def _ijcv_stage(image_shape: tuple[int, int, int], *, stride: int, iterations: int, config: IJCVObjective) -> Preset:
    """The IJCV preset on one stage of ``iterations`` at the IJCV rate, with jitter."""
    if not (isinstance(iterations, (int, np.integer)) and iterations > 0):
        raise JaxinvError(f"iterations = {iterations}; use a positive whole number (the authors' is 300)")
    schedule = Schedule((Stage(1.0, int(iterations), jitter=True),))
    return ijcv_preset(config, schedule, (*image_shape,), jitter=config.jitter_for(stride))


def maximization_preset(image_shape: tuple[int, int, int], *, stride: int, copies: int = 1,
                        iterations: int = MAXIMIZATION_ITERATIONS, diversity: float | None = None,
                        config: IJCVObjective = IJCVObjective()) -> Preset:
    """IJCV activation maximisation: −⟨Φ(x), e⟩ + bounded α-norm + bounded TV on B+-ball pixels
    with jitter, AdaGrad-momentum at LR = 0.05 B² HW/α (``config``'s B, α) for ``iterations``.

    The target of the solver is e (`neuron_direction` etc., already weighted by
    `unit_weight`); the network should be leaky (``jaxinv.cnn(..., relu_slope=LEAKY_SLOPE)``).
    ``diversity`` adds that weight times `Diversity` across the ``copies``.
    """
    base = _ijcv_stage(image_shape, stride=stride, iterations=iterations, config=config)
    return maximization_from(base, copies=copies, diversity=diversity)


def caricature_preset(image_shape: tuple[int, int, int], *, stride: int, picture: Any = None,
                      tether: float = 0.0, iterations: int = MAXIMIZATION_ITERATIONS,
                      config: IJCVObjective = IJCVObjective()) -> Preset:
    """IJCV caricatures: the maximisation energy with e = `caricature_direction` (Φ0), the run
    started from the picture (`start_from`), no mask, the network as trained.

    The modern form adds ``tether`` · (1/N) Σ (x − x0)² (`L2ToPicture`, ``picture`` = x0 in
    the input space), keeping the caricature close to its picture; 0 is the authors'.
    """
    if not 0.0 <= tether < float("inf"):
        raise JaxinvError(f"tether = {tether}; use a finite weight >= 0 (0 = the authors' caricature)")
    preset = maximization_from(_ijcv_stage(image_shape, stride=stride, iterations=iterations, config=config))
    if tether == 0:
        return preset
    if picture is None:
        raise JaxinvError("a tether needs the picture it ties to; pass picture= (in the input space)")
    tied = preset.objective + float(tether) * L2ToPicture(picture=jnp.asarray(picture, jnp.float32))
    return dataclasses.replace(preset, objective=tied)


def start_from(solver: Solver, key: jax.Array, pictures: jax.Array | np.ndarray) -> SolverState:
    """The solver's start with its variables set to ``pictures`` (R, H, W, C) in the input space.

    For `BallPixels` (the IJCV presets): the pictures in the centre of the jittered variable,
    zero in its margin of J − 1 pixels (the authors' ``nnpreimage.m`` with ``initialImage``),
    not projected to the B+ ball (the first step is, as theirs). The steps' keys still come
    from ``key``. Pure: jit it, vmap it over pictures.
    """
    if not isinstance(solver.parametrisation, BallPixels):
        raise JaxinvError(f"{type(solver.parametrisation).__name__} cannot start from a picture;"
                          " use BallPixels (the IJCV presets)")
    margin = solver.parametrisation.jitter - 1
    lo = margin // 2  # the centre crop's offset (jaxinv.core.transforms.Jitter without a key)
    variables = jnp.pad(jnp.asarray(pictures, jnp.float32), ((0, 0), (lo, margin - lo), (lo, margin - lo), (0, 0)))
    state = solver.init(key)
    return state._replace(variables=variables, opt_state=solver.optimizer.init(variables), snapshot=variables)
