"""What `jaxinv.maximize` will optimise, checked: B objectives at one layer and input size.

An objective (`jaxinv.core.objectives`: ``channel(12) - 0.5 * neuron(3) + 0.1 * diversity()``)
is raised. Its linear pieces become one direction e per batch element, each piece weighted
by the authors' (10000/rf²)/m (``exp_maximization.m``; `jaxinv.core.unit_weight`), m the
unit's largest value over the 100 shared ImageNet pictures (|its smallest| where the piece's
weight is negative), read from ``data/channel_extremes.json`` (``scripts/channel_extremes.py``)
or given as ``unit_max``. Its other terms (diversity, your own) join the prior's regularisers.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import json
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.core import objectives as O
from jaxinv.core import visualization as V
from jaxinv.core.terms import Objective, Term
from jaxinv.errors import JaxinvError
from jaxinv.networks import receptive_field, spec
from jaxinv.networks.graph import infer_shapes
from jaxinv.representation import Representation
from jaxinv.representations.cnn import CNNFeatures

__all__ = ["MaximizationPlan", "plan_maximization", "unit_extremes", "logits_layer", "input_size", "code_shape",
           "layer_channels", "network_of"]


@functools.lru_cache(maxsize=1)
def _extremes() -> dict[str, Any]:
    text = importlib.resources.files("jaxinv").joinpath("data", "channel_extremes.json").read_text()
    return dict(json.loads(text)["networks"])


def unit_extremes(network: str, layer: str) -> dict[str, np.ndarray] | None:
    """{max, min, mean_max, mean_min} per channel of ``layer`` over the 100 ImageNet pictures
    (``scripts/channel_extremes.py``), or None where that layer was not measured."""
    found = _extremes().get(network, {}).get("layers", {}).get(layer)
    return None if found is None else {k: np.asarray(v, np.float32) for k, v in found.items()}


def logits_layer(network: str) -> str:
    """The layer the softmax reads: the class scores (``pool10``, ``loss3/classifier``, ``fc8``)."""
    for node in spec(network).nodes:
        if node.op == "softmax":
            return str(node.inputs[0])
    raise JaxinvError(f"{network} has no softmax; name the class-score layer as rep's layer and use channel()")


def code_shape(network: str, layer: str, size: int) -> tuple[int, int, int]:
    """The code's (H, W, C) at ``layer`` for a size×size input."""
    h, w, c = (int(s) for s in infer_shapes(spec(network).nodes, (size, size, 3))[layer])
    return h, w, c


def layer_channels(network: str, layer: str) -> int:
    """The units (channels) of ``network``'s ``layer``: its code's depth at the network's own input size."""
    return code_shape(network, layer, spec(network).input_size)[-1]


def input_size(network: str, layer: str, *, count: int = 1) -> int:
    """The authors' input size: the largest square whose code is not larger than the grid of
    `grid_spacing` cells per unit (``exp_maximization.m``), or the network's own size where
    the code is one position whatever the input (classifiers, global pools)."""
    s = spec(network)
    if code_shape(network, layer, s.input_size)[:2] == (1, 1):
        return int(s.input_size)
    field, stride = receptive_field(network)[layer]
    grid = V.grid_spacing(field, stride, count=count) * int(np.ceil(np.sqrt(count)))
    return V.input_size_for_grid(grid, lambda n: code_shape(network, layer, n)[0])


def network_of(rep: Any, *, picture_ok: bool = False) -> CNNFeatures:
    """The network layer behind ``rep``, refused in one line if it is not one."""
    if not picture_ok and (isinstance(rep, np.ndarray) or (isinstance(rep, jax.Array) and rep.ndim >= 2)):
        raise JaxinvError("maximize starts from noise and takes a representation, not a picture;"
                          " for a picture use caricature(rep, picture)")
    if not isinstance(rep, Representation) or not isinstance(rep.features, CNNFeatures):
        raise JaxinvError(f"{getattr(rep, 'name', type(rep).__name__)} is not a network layer; pass"
                          " jaxinv.cnn(NETWORK, layer=...) (or NETWORK:LAYER on the command line)")
    return rep.features


@dataclasses.dataclass(frozen=True)
class MaximizationPlan:
    """B objectives at one layer and input size, their directions built and scaled.

    Attributes:
      network, layer: where (the logits layer for classes); image_size: the input's side S.
      labels: one per element; units: the objectives' unscaled directions u = Σ_k w_k e_k
        (B, *code): `Visualization.values` are ⟨Φ(x), u⟩; targets: e = Σ_k w_k (10000/rf²)/m_k e_k,
        what the solver raises (B, *code); reference: Σ_k |w_k| m_k (B,), what a value is
        compared with; rest: the objectives' other terms (shared by the batch), raised too.
      field, stride: the layer's receptive field (size, stride) in input pixels.
    """

    network: str
    layer: str
    image_size: int
    labels: tuple[str, ...]
    units: jax.Array
    targets: jax.Array
    reference: np.ndarray
    rest: Objective
    field: int
    stride: int


def _objectives(objective: Any) -> list[Objective]:
    items = list(objective) if isinstance(objective, (list, tuple)) else [objective]
    if not items:
        raise JaxinvError("no objective given; pass one, e.g. jaxinv.core.objectives.channel(3), or a list")
    for item in items:
        if not isinstance(item, (Term, Objective)):
            raise JaxinvError(f"{type(item).__name__} is not an objective; build one from"
                              " jaxinv.core.objectives (channel(3) + neuron(5), class_logit(145), ...)")
    return [O._as_objective(item) for item in items]


def _layer_of(network: str, own: str, objectives: list[Objective]) -> str:
    """The rep's own layer, or the class scores when the objectives' pieces all name them."""
    named = {getattr(term, "layer", None) for obj in objectives for term in obj.terms if isinstance(term, O.Linear)}
    if named == {"logits"}:
        return logits_layer(network)
    if len(named) > 1:
        raise JaxinvError("an objective mixes class scores with units of the representation's layer; maximise"
                          " them in separate calls (one layer each)")
    return own


def _unit_max(term: O.Linear, weight: float, stats: dict[str, np.ndarray] | None) -> float:
    """m of one linear piece: its largest value over the pictures (|its smallest| when lowered)."""
    low = float(np.asarray(weight)) < 0
    if stats is None or isinstance(term, O.Caricature) or type(term) not in (O.Neuron, O.Channel, O.Class,
                                                                             O.Direction):
        raise JaxinvError("no measured maxima for this layer or piece; pass unit_max= (the unit's largest value on"
                          " natural pictures, e.g. from scripts/channel_extremes.py)")
    if isinstance(term, O.Direction):  # Σ_c |v_c| m_c
        table = stats["mean_max" if term.average else "max"]
        return float(np.abs(np.asarray(term.vector)) @ np.abs(table))
    assert isinstance(term, (O.Class, O.Neuron, O.Channel))  # the other pieces are refused above
    index = int(np.asarray(term.index if isinstance(term, O.Class) else term.channel))
    key = ("mean_" if isinstance(term, O.Channel) else "") + ("min" if low else "max")
    value = float(stats[key][index])
    return abs(value) if low else value


def _scales(obj: Objective, stats: dict[str, np.ndarray] | None, unit_max: float | None) -> list[float]:
    scales = [float(unit_max) if unit_max is not None else _unit_max(term, weight, stats)
              for weight, term in zip(obj.weights, obj.terms) if isinstance(term, O.Linear)]
    if not scales:
        raise JaxinvError("the objective has no unit to raise; add one, e.g. channel(3)")
    if not all(np.isfinite(m) and m > 0 for m in scales):
        raise JaxinvError(f"unit maxima {scales} are not all positive; pass a positive unit_max=")
    return scales


def _label(obj: Objective) -> str:
    """``channel 12``, ``min neuron 3``, ``class 145``, ``channel 1 + 0.5 neuron 2``."""
    parts = []
    for weight, term in zip(obj.weights, obj.terms):
        if not isinstance(term, O.Linear):
            continue
        index = getattr(term, "index", getattr(term, "channel", None))
        what = term.name + ("" if index is None else f" {int(np.asarray(index))}")
        w = float(np.asarray(weight))
        parts.append(what if w == 1 else f"min {what}" if w == -1 else f"{w:g} {what}")
    return " + ".join(parts)


def _same_rest(rests: list[Objective]) -> Objective:
    first = rests[0]
    for other in rests[1:]:
        # jaxlib's PyTreeDef (a C++ class) is unresolved to mypy, which calls its == "unsupported"
        same = jax.tree.structure(other) == jax.tree.structure(first) and all(  # type: ignore[operator]
            np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(jax.tree.leaves(other),
                                                                        jax.tree.leaves(first)))
        if not same:
            raise JaxinvError("the objectives' non-linear terms (diversity, your own) differ across the batch;"
                              " give every objective the same ones, or run them in separate calls")
    return first


def plan_maximization(rep: Representation, objective: Any, *, image_size: int | None = None,
                      unit_max: Sequence[float] | float | None = None) -> MaximizationPlan:
    """Check `maximize`'s objectives and build their directions without running anything.

    ``objective``: one objective or a list (one batch element each). ``unit_max``: m of every
    linear piece of element b (one number, or one per element) instead of the measured maxima.
    """
    features = network_of(rep)
    objectives = _objectives(objective)
    network = features.network
    layer = _layer_of(network, features.layer, objectives)
    size = int(image_size) if image_size is not None else input_size(network, layer)
    shape = code_shape(network, layer, size)
    if min(shape[:2]) < 1:
        raise JaxinvError(f"a {size}x{size} input gives no code at {layer}; use a larger image_size")
    actual = jax.eval_shape(CNNFeatures(network, layer), rep.params,
                            jax.ShapeDtypeStruct((size, size, 3), jnp.float32)).shape
    given = [None] * len(objectives) if unit_max is None else np.broadcast_to(np.asarray(unit_max, np.float64),
                                                                               (len(objectives),)).tolist()
    stats = unit_extremes(network, layer)
    field, stride = receptive_field(network)[layer]
    units, targets, reference, rests = [], [], [], []
    for obj, m in zip(objectives, given):
        O.check_objective(obj, shape)
        scales = _scales(obj, stats, m)
        u, rest = O.linear_direction(obj, shape)
        e, _ = O.linear_direction(O.scaled_by(obj, [V.unit_weight(field, 1, s) for s in scales]), shape)
        linear_weights = [abs(float(np.asarray(w))) for w, t in zip(obj.weights, obj.terms) if isinstance(t, O.Linear)]
        units.append(u.reshape(actual))
        targets.append(e.reshape(actual))
        reference.append(float(np.dot(linear_weights, scales)))
        rests.append(rest)
    return MaximizationPlan(network, layer, size, tuple(_label(o) for o in objectives), jnp.stack(units),
                            jnp.stack(targets), np.asarray(reference, np.float64), _same_rest(rests), int(field),
                            int(stride))
