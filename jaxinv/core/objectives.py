"""Objectives for visualisation that add and scale like numbers: what `maximize` raises.

An objective is an `Objective` (``jaxinv.core.terms``), Σ_k w_k · term_k, whose value is
**raised**. Its *linear* pieces are terms of the form ⟨Φ(x), e_k⟩ (IJCV 2016 §3.3), so their
weighted sum is one inner product with one direction of the code's shape::

    Σ_k w_k ⟨Φ(x), e_k⟩ = ⟨Φ(x), e⟩,   e = Σ_k w_k e_k        (`linear_direction`)

    objective = channel(12) + 0.5 * neuron(3, position=(2, 4)) - channel(7) + 0.1 * diversity()
    e, rest = linear_direction(objective, code_shape)   # rest: 0.1 · diversity(), unchanged

- Linear pieces (`Linear` terms with ``direction(code_shape) -> e``): `neuron`, `channel` (its
  spatial mean), `direction` (a vector in channel space), `class_logit` (``Class.layer ==
  "logits"``: the host uses the class-score layer), `caricature`, and your own `Linear`. A code
  of shape (C,) (a fully connected layer) reads as (1, 1, C).
- Other pieces stay terms: `diversity` and any `Term` of yours (``rest`` above, weighted).
- Indices, positions, vectors, codes and weights are pytree leaves: objectives of one structure
  `stack` on a leading axis and ``jax.vmap`` in one program; `scaled_by` applies the authors'
  (10000/rf²)/m per unit (`unit_weight`).

Sign: everything in an objective is raised, as lucid's objectives are. `Diversity` is a
similarity (lowered to diversify), so `diversity` is −1 · `Diversity`; a regulariser you add
yourself is subtracted (``channel(3) - 5 * TotalVariation()``). The host's energy, lowered, is
−R·⟨Φ(x), e⟩ − rest + the prior's regularisers (R copies: `maximization_from`'s R·inner
product), so ``0.5 * diversity()`` is the old ``maximization_from(..., diversity=0.5)``.

Mahendran & Vedaldi, "Visualizing deep convolutional neural networks using natural
pre-images", IJCV 2016, §3.3 (activation maximisation, caricatures); Olah, Mordvintsev &
Schubert, "Feature Visualization", Distill 2017 (objectives that compose; diversity).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, Sequence, cast

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxinv.core.terms import Objective, Term, TermInputs
from jaxinv.core.visualization import (Diversity, caricature_direction, channel_direction, neuron_direction,
                                       vector_direction)
from jaxinv.errors import JaxinvError

__all__ = ["Linear", "Neuron", "Channel", "Direction", "Class", "Caricature", "neuron", "channel", "direction",
           "class_logit", "caricature", "diversity", "linear_direction", "scaled_by", "stack", "check_objective"]


def _concrete(value: Any) -> np.ndarray | None:
    """``value`` as numpy, or None when it is traced (inside jit/vmap it cannot be checked)."""
    try:
        return np.asarray(value)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _check_range(value: Any, size: int, what: str) -> None:
    """Refuse a concrete index (or array of them: a stack) outside [0, size)."""
    found = _concrete(value)
    if found is None:
        return
    for v in np.unique(found).tolist():
        if not 0 <= v < size:
            raise JaxinvError(f"{what} {v} is out of range; the code has {size} (use 0 to {size - 1})")


def _hwc(code_shape: Sequence[int]) -> tuple[int, int, int]:
    """(H, W, C) of a code: (C,) (a fully connected layer) reads as (1, 1, C)."""
    shape = tuple(int(s) for s in code_shape)
    if len(shape) == 1:
        return (1, 1) + shape
    if len(shape) != 3:
        raise JaxinvError(f"a code of shape {shape} is neither (H, W, C) nor (C,); pass the code's shape for one image")
    return shape


def _index(value: Any, what: str) -> jax.Array:
    """One whole-number index as an int32 leaf; traced values pass unchecked."""
    found = _concrete(value)
    if found is not None:
        if found.ndim != 0:
            raise JaxinvError(f"{what} {value!r} is not one index; build one objective per index and stack them")
        if found.dtype == bool or not float(found).is_integer():
            raise JaxinvError(f"{what} {value!r} is not a whole number; name {what}s by their index")
    return jnp.asarray(value).astype(jnp.int32)


def _position(value: Any | None) -> jax.Array | None:
    """(row, column) as an int32 leaf of shape (2,), or None (the centre)."""
    if value is None:
        return None
    if np.shape(value) != (2,):
        raise JaxinvError(f"position={value!r}; give a neuron's position as (row, column)")
    return jnp.stack([_index(v, "neuron position") for v in value])


def _check_position(position: Any | None, shape: tuple[int, int, int]) -> None:
    found = None if position is None else _concrete(position)
    if found is not None:
        _check_range(found[..., 0], shape[0], "neuron row")
        _check_range(found[..., 1], shape[1], "neuron column")


class Linear(Term):
    """A piece linear in the code: value (1/R) Σ_r ⟨M ⊙ Φ(x_r), e⟩, e = ``direction(code_shape)``.

    Subclass it for your own e; `linear_direction` folds every `Linear` into one e. ``layer``
    names a layer the host must use instead of the representation's own (None: its own).
    """

    name: ClassVar[str] = "linear"
    layer: ClassVar[str | None] = None

    def direction(self, code_shape: Sequence[int]) -> jax.Array:
        """e, of the code's shape (one image), float32."""
        raise NotImplementedError

    def check(self, code_shape: Sequence[int]) -> None:
        """Refuse concrete indices out of the code's range; leaves may carry leading (stacked) axes."""

    def __call__(self, inputs: TermInputs) -> jax.Array:
        """(1/R) Σ_r ⟨M ⊙ Φ(x_r), e⟩, the convention of `InnerProduct`."""
        code = inputs.code if inputs.mask is None else inputs.code * inputs.mask[None]
        e = self.direction(inputs.code.shape[1:])
        return jnp.sum(code * e[None]) / inputs.code.shape[0]


class Neuron(Linear):
    """⟨Φ, e⟩ = Φ[row, column, channel]: one neuron (`neuron_direction`), the centre by default."""

    name: ClassVar[str] = "neuron"
    channel: Any = None
    position: Any = None

    def check(self, code_shape: Sequence[int]) -> None:
        shape = _hwc(code_shape)
        _check_range(self.channel, shape[2], "channel")
        _check_position(self.position, shape)

    def direction(self, code_shape: Sequence[int]) -> jax.Array:
        self.check(code_shape)
        e = neuron_direction(_hwc(code_shape), self.channel, position=self.position)
        return e.reshape(tuple(code_shape))


class Channel(Linear):
    """⟨Φ, e⟩ = (1/HW) Σ_{i,j} Φ[i, j, channel]: the channel's spatial mean (`channel_direction`)."""

    name: ClassVar[str] = "channel"
    channel: Any = None

    def check(self, code_shape: Sequence[int]) -> None:
        _check_range(self.channel, _hwc(code_shape)[2], "channel")

    def direction(self, code_shape: Sequence[int]) -> jax.Array:
        self.check(code_shape)
        return channel_direction(_hwc(code_shape), self.channel).reshape(tuple(code_shape))


class Direction(Linear):
    """⟨Φ, e⟩ = Σ_c v_c Φ[row, column, c] at ``position`` (the centre), or its spatial mean with
    ``average`` (`vector_direction`)."""

    name: ClassVar[str] = "direction"
    vector: Any = None
    position: Any = None
    average: bool = struct.field(pytree_node=False, default=False)

    def check(self, code_shape: Sequence[int]) -> None:
        shape = _hwc(code_shape)
        if np.shape(self.vector)[-1:] != (shape[2],):
            raise JaxinvError(f"a direction of shape {np.shape(self.vector)} does not fit the code's {shape[2]}"
                              f" channels; pass a vector of length {shape[2]}")
        _check_position(self.position, shape)

    def direction(self, code_shape: Sequence[int]) -> jax.Array:
        self.check(code_shape)
        e = vector_direction(_hwc(code_shape), self.vector, position=self.position, average=self.average)
        return e.reshape(tuple(code_shape))


class Class(Linear):
    """⟨Φ, e⟩ = class ``index``'s score: the centre neuron of that channel of the class-score code,
    (1, 1, classes) or (classes,); ``layer = "logits"`` tells the host to use that layer."""

    name: ClassVar[str] = "class"
    layer: ClassVar[str | None] = "logits"
    index: Any = None

    def check(self, code_shape: Sequence[int]) -> None:
        _check_range(self.index, _hwc(code_shape)[2], "class")

    def direction(self, code_shape: Sequence[int]) -> jax.Array:
        self.check(code_shape)
        return neuron_direction(_hwc(code_shape), self.index).reshape(tuple(code_shape))


class Caricature(Linear):
    """⟨Φ, e⟩ with e = max(Φ0, 0)/‖max(Φ0, 0)‖² (`caricature_direction`): 1 at the picture's own
    non-negative code Φ0 (IJCV 2016 §3.3, ``exp_enhance.m``)."""

    name: ClassVar[str] = "caricature"
    code: Any = None

    def check(self, code_shape: Sequence[int]) -> None:
        shape, found = tuple(int(s) for s in code_shape), tuple(np.shape(self.code))
        if found[len(found) - len(shape):] != shape:
            raise JaxinvError(f"a caricature of a code of shape {found} does not fit this code's {shape};"
                              " take Φ0 at the same layer and input size")

    def direction(self, code_shape: Sequence[int]) -> jax.Array:
        self.check(code_shape)
        return caricature_direction(self.code)


def neuron(index: Any, *, position: Sequence[int] | None = None) -> Neuron:
    """Raise one neuron: channel ``index`` at ``position`` = (row, column), the centre by default."""
    return Neuron(_index(index, "channel"), _position(position))


def channel(index: Any) -> Channel:
    """Raise channel ``index``'s spatial mean."""
    return Channel(_index(index, "channel"))


def direction(vector: Any, *, position: Sequence[int] | None = None, average: bool = False) -> Direction:
    """Raise ⟨Φ, v⟩ in channel space at ``position`` (the centre), or its spatial mean with ``average``."""
    v = jnp.asarray(vector, jnp.float32)
    if v.ndim != 1:
        raise JaxinvError(f"a direction of shape {v.shape} is not one vector; pass a vector of length C")
    return Direction(v, _position(position), bool(average))


def class_logit(index: Any) -> Class:
    """Raise class ``index``'s score (logit), read at the network's class-score layer."""
    return Class(_index(index, "class"))


def caricature(code: Any) -> Caricature:
    """Raise ⟨Φ(x), e⟩, e = max(Φ0, 0)/‖max(Φ0, 0)‖², with ``code`` = Φ0 the picture's code."""
    return Caricature(jnp.asarray(code, jnp.float32))


def diversity(*, source: str = "code") -> Objective:
    """−1 · `Diversity` (the R copies' mean Gram cosine similarity, of the ``code`` or ``image``):
    raising it pushes the copies apart."""
    if source not in ("code", "image"):
        raise JaxinvError(f"source={source!r}; use 'code' or 'image'")
    return -1.0 * Diversity(source=source)


def _as_objective(objective: Any) -> Objective:
    if isinstance(objective, Objective):
        return objective
    if isinstance(objective, Term):
        return objective.as_objective()
    raise JaxinvError(f"{type(objective).__name__} is not an objective; build one such as channel(3) + neuron(5)")


def linear_direction(objective: Objective | Term, code_shape: Sequence[int]) -> tuple[jax.Array, Objective]:
    """(e, rest): e = Σ_k w_k e_k over the `Linear` pieces, in order, weights as written; rest,
    an `Objective` of the other terms with their weights. Pure: jit it, vmap it over a `stack`."""
    obj = _as_objective(objective)
    e, kept = None, []
    for weight, term in zip(obj.weights, obj.terms):
        if isinstance(term, Linear):
            part = weight * term.direction(code_shape)
            e = part if e is None else e + part
        else:
            kept.append((weight, term))
    if e is None:
        e = jnp.zeros(tuple(code_shape), jnp.float32)
    return e, Objective(tuple(t for _, t in kept), tuple(w for w, _ in kept))


def scaled_by(objective: Objective | Term, scale: Callable[[Linear, Any], Any] | Sequence[Any] | float) -> Objective:
    """The objective with each `Linear` piece's weight w_k multiplied by its own s_k; rest unchanged.

    ``scale`` is ``f(term, weight) -> s`` (e.g. the authors' ``unit_weight(rf, 1, m[term.channel])``,
    m the largest value, or |the smallest| where the weight is negative), or one number per linear
    piece in the objective's order, or one number for all. Pure when f is.
    """
    obj = _as_objective(objective)
    linear = [k for k, term in enumerate(obj.terms) if isinstance(term, Linear)]
    if callable(scale):
        factors = [scale(obj.terms[k], obj.weights[k]) for k in linear]
    elif np.ndim(scale) == 0:
        factors = [scale] * len(linear)
    else:
        factors = list(cast(Sequence[Any], scale))  # not callable, not a scalar: one per piece
        if len(factors) != len(linear):
            raise JaxinvError(f"{len(factors)} scales for {len(linear)} linear pieces; give one per piece")
    weights = list(obj.weights)
    for k, factor in zip(linear, factors):
        weights[k] = weights[k] * factor
    return Objective(obj.terms, tuple(weights))


def _describe(objective: Objective) -> str:
    """The structure of an objective: its terms with their options (static fields, absent leaves)."""
    parts = []
    for term in objective.terms:
        options = [f"{f.name}={getattr(term, f.name)!r}" for f in dataclasses.fields(term)
                   if not f.metadata.get("pytree_node", True) or getattr(term, f.name) is None]
        parts.append(type(term).__name__ + (f"({', '.join(options)})" if options else ""))
    return " + ".join(parts) or "nothing"


def stack(objectives: Sequence[Objective | Term]) -> Objective:
    """B objectives of the same structure as one, every leaf with a leading axis B.

    ``jax.vmap(lambda o: linear_direction(o, shape))(stack([...]))`` then builds the B directions
    in one program. Objectives of other pieces, options or leaf shapes are refused.
    """
    items = [_as_objective(o) for o in objectives]
    if not items:
        raise JaxinvError("no objectives to stack; pass at least one")
    first, shapes = jax.tree.structure(items[0]), [np.shape(x) for x in jax.tree.leaves(items[0])]
    for i, item in enumerate(items[1:], start=1):
        # jaxlib's PyTreeDef (a C++ class) is unresolved to mypy, which calls its != "unsupported"
        other_structure = jax.tree.structure(item) != first  # type: ignore[operator]
        if other_structure or [np.shape(x) for x in jax.tree.leaves(item)] != shapes:
            raise JaxinvError(f"objective {i} ({_describe(item)}) differs from objective 0 ({_describe(items[0])})"
                              " in its pieces, options or shapes; they must run as separate calls")
    return jax.tree.map(lambda *leaves: jnp.stack([jnp.asarray(x) for x in leaves]), *items)


def check_objective(objective: Objective | Term, code_shape: Sequence[int]) -> None:
    """Refuse, before tracing, any concrete index, position, vector or code that does not fit the
    code (one image's shape); works on a `stack` too, whose leaves vmap would trace unchecked."""
    for term in _as_objective(objective).terms:
        if isinstance(term, Linear):
            term.check(code_shape)
