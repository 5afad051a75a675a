"""Activation maximisation and caricatures of a network layer, from the host (IJCV 2016).

`maximize` shows what excites units of a layer: one objective per batch element (a channel's
centre neuron, its spatial mean, a class, a direction, or any direction e you build with
`jaxinv.core.visualization`), all elements optimised in one compiled program (`jax.vmap`
over the targets e), each with R seeds. `caricature` exaggerates what a layer sees in a
picture. Both run the authors' presets (`jaxinv.core.visualization`) and score the result
with the network as trained (not leaky)::

    rep = jaxinv.cnn("squeezenet1_1", layer="fire9/expand3x3", weights=PATH)
    out = maximize(rep, channels=range(8), key=jax.random.key(0))
    out.images          # (8, 1, S, S, 3) RGB in [0, 255]
    out.relative        # each unit's value / its largest over the 100 ImageNet pictures
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import json
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.core import visualization as V
from jaxinv.core.priors import prior as named_prior
from jaxinv.core.solver import run_in_chunks
from jaxinv.errors import JaxinvError
from jaxinv.images import as_picture, resize
from jaxinv.networks import receptive_field, spec
from jaxinv.networks.graph import infer_shapes
from jaxinv.representation import Representation
from jaxinv.representations.cnn import CNNFeatures, lambda_tv
from jaxinv.runner import check_whole, finite_energy
from jaxinv.targets import check_key

__all__ = ["Visualization", "MaximizationPlan", "plan_maximization", "maximize", "caricature", "unit_extremes", "logits_layer", "input_size", "code_shape"]


@dataclasses.dataclass(frozen=True)
class Visualization:
    """B visualisations (one objective each) of R seeds.

    Attributes:
      images: pictures in [0, 255] (clipped), RGB, (B, R, H, W, 3).
      inputs: the same in the network's input space, unclipped, (B, R, H, W, 3).
      values: ⟨Φ(x), u⟩ with the network as trained, (B, R): the unit's value (a neuron, a
        channel's mean, a logit, ⟨Φ, v⟩), or for a caricature ⟨Φ(x), e⟩ with
        e = max(Φ0, 0)/‖max(Φ0, 0)‖².
      reference: what a value is compared with, (B,): m, the unit's largest value over the 100
        ImageNet pictures (its smallest when minimised) or the ``unit_max`` given instead, or
        the picture's own ⟨Φ0, e⟩ for a caricature (1 on a non-negative code).
      labels: what each element shows (``channel 12``, ``class 145``, ``caricature``).
      energy: per step [each term's value, total] in the objective's units, (B, T, K + 1).
      image_size: the input's side S; seconds: the run's wall time, compilation included.
    """

    images: np.ndarray
    inputs: np.ndarray
    values: np.ndarray
    reference: np.ndarray
    labels: tuple[str, ...]
    energy: np.ndarray
    image_size: int
    representation: str
    seconds: float

    @property
    def relative(self) -> np.ndarray:
        """values / reference, (B, R): > 1 beats every picture (or the picture itself)."""
        return self.values / self.reference[:, None]


@functools.lru_cache(maxsize=1)
def _extremes() -> dict:
    text = importlib.resources.files("jaxinv").joinpath("data", "channel_extremes.json").read_text()
    return json.loads(text)["networks"]


def unit_extremes(network: str, layer: str) -> dict[str, np.ndarray] | None:
    """{max, min, mean_max, mean_min} per channel of ``layer`` over the 100 ImageNet pictures
    (``scripts/channel_extremes.py``), or None where that layer was not measured."""
    found = _extremes().get(network, {}).get("layers", {}).get(layer)
    return None if found is None else {k: np.asarray(v, np.float32) for k, v in found.items()}


def logits_layer(network: str) -> str:
    """The layer the softmax reads: the class scores (``pool10``, ``loss3/classifier``, ``fc8``)."""
    nodes = {n.name: n for n in spec(network).nodes}
    for node in nodes.values():
        if node.op == "softmax":
            return node.inputs[0]
    raise JaxinvError(f"{network} has no softmax; name the class-score layer as rep's layer and use channels=")


def code_shape(network: str, layer: str, size: int) -> tuple[int, int, int]:
    """The code's (H, W, C) at ``layer`` for a size×size input."""
    return tuple(int(s) for s in infer_shapes(spec(network).nodes, (size, size, 3))[layer])


def input_size(network: str, layer: str, *, count: int = 1) -> int:
    """The authors' input size: the largest square whose code is not larger than the grid of
    `grid_spacing` cells per unit (``exp_maximization.m``), or the network's own size where
    the code is one position whatever the input (classifiers, global pools)."""
    s = spec(network)
    if code_shape(network, layer, s.input_size)[:2] == (1, 1):
        return s.input_size
    field, stride = receptive_field(network)[layer]
    grid = V.grid_spacing(field, stride, count) * int(np.ceil(np.sqrt(count)))
    return V.input_size_for_grid(grid, lambda n: code_shape(network, layer, n)[0])


def _network_of(rep: Any, *, picture_ok: bool = False) -> CNNFeatures:
    if not picture_ok and (isinstance(rep, np.ndarray) or (isinstance(rep, jax.Array) and rep.ndim >= 2)):
        raise JaxinvError("maximize starts from noise and takes a representation, not a picture;"
                          " for a picture use caricature(rep, picture)")
    if not isinstance(rep, Representation) or not isinstance(rep.features, CNNFeatures):
        raise JaxinvError(f"{getattr(rep, 'name', type(rep).__name__)} is not a network layer; pass"
                          " jaxinv.cnn(NETWORK, layer=...) (or NETWORK:LAYER on the command line)")
    return rep.features


def _indices(values: Any, what: str) -> list[int]:
    items = [values] if np.ndim(values) == 0 else list(values)
    if not items:
        raise JaxinvError(f"no {what} given; name at least one")
    for v in items:
        if isinstance(v, bool) or not float(v).is_integer():
            raise JaxinvError(f"{what} {v!r} is not a whole number; name {what}s by their index")
    return [int(v) for v in items]


def _units(shape, *, channels, class_, direction, neuron, average, minimize):
    """(labels, unit directions u (B, H, W, C), stats key, channels for the stats or None)."""
    position = None if neuron is None else tuple(int(v) for v in neuron)
    if position is not None and len(position) != 2:
        raise JaxinvError(f"neuron={neuron!r}; give its position as (row, column)")
    if direction is not None:
        vectors = np.atleast_2d(np.asarray(direction, np.float32))
        u = jnp.stack([V.vector_direction(shape, v, position=position, average=average) for v in vectors])
        return [f"direction {i}" for i in range(len(vectors))], u, vectors
    what = "class" if class_ is not None else "channel"
    picked = _indices(class_ if class_ is not None else channels, what)
    for c in picked:  # concrete checks first: the vmapped builders see tracers
        V._check_index(c, shape[-1], what)
    if position is not None:
        V._spatial(shape, position)
    if average:
        u = jax.vmap(lambda c: V.channel_direction(shape, c))(jnp.asarray(picked))
    else:
        u = jax.vmap(lambda c: V.neuron_direction(shape, c, position=position))(jnp.asarray(picked))
    sign = "min " if minimize else ""
    return [f"{sign}{what} {c}" for c in picked], u, picked


def _scale(stats, picked, *, average: bool, minimize: bool, unit_max: Any, count: int) -> np.ndarray:
    """m per element: the unit's largest value (|smallest| when minimised) over the pictures."""
    if unit_max is not None:
        m = np.broadcast_to(np.asarray(unit_max, np.float32), (count,)).copy()
    elif stats is None:
        raise JaxinvError("no measured maxima for this layer; pass unit_max= (the units' largest value on"
                          " natural pictures, e.g. from scripts/channel_extremes.py)")
    else:
        key = ("mean_" if average else "") + ("min" if minimize else "max")
        table = np.abs(stats[key]) if minimize else stats[key]
        if isinstance(picked, np.ndarray):  # directions: Σ_c |v_c| m_c
            m = np.abs(picked) @ np.abs(stats["mean_max" if average else "max"])
        else:
            m = table[np.asarray(picked)]
    if not np.all(np.isfinite(m) & (m > 0)):
        raise JaxinvError(f"unit maxima {m.tolist()} are not all positive; pass a positive unit_max=")
    return m


@functools.partial(jax.jit, static_argnames=("steps",))
def _advance(solver, states, targets, steps: int):
    return jax.vmap(lambda s, e: solver.advance(s, e, steps))(states, targets)


@jax.jit
def _scores(features_solver, inputs, units):
    """⟨Φ(x), u⟩ per element and copy, with the network of ``features_solver`` (as trained)."""
    def one(images, u):
        codes = jax.vmap(features_solver.features, in_axes=(None, 0))(features_solver.params, images)
        return jnp.sum(codes * u[None], axis=tuple(range(1, codes.ndim)))
    return jax.vmap(one)(inputs, units)


def _run(solver, states, targets, *, progress, label: str) -> tuple[Any, np.ndarray]:
    """The whole schedule in chunks of 25 steps, or 1 (`Solver.stepwise`); a bar or a callable between them."""
    total = solver.schedule.total
    bar = None
    if progress is True:
        from tqdm.auto import tqdm
        bar = tqdm(total=total, desc=label, unit="it", leave=False)
        progress = lambda done: bar.update(done - bar.n)  # noqa: E731
    states, energy = run_in_chunks(lambda states, steps: _advance(solver, states, targets, steps), states, total,
                                   solver.chunk or min(25, total), on_chunk=progress if callable(progress) else None)
    if bar is not None:
        bar.close()
    return states, energy


def _result(rep, solver, states, units, energy, *, reference, labels, start) -> Visualization:
    inputs = jax.vmap(solver.image)(states)
    trained = dataclasses.replace(solver, features=dataclasses.replace(solver.features, relu_slope=0.0))
    values = np.asarray(_scores(trained, inputs, units), np.float64)
    inputs = np.asarray(inputs)
    pictures = np.clip(rep.deprocess(inputs), 0, 255).astype(np.float32)
    return Visualization(pictures, inputs, values, np.asarray(reference, np.float64), tuple(labels),
                         finite_energy(energy), int(inputs.shape[-2]), rep.name, time.perf_counter() - start)


@dataclasses.dataclass(frozen=True)
class MaximizationPlan:
    """What `maximize` will optimise, checked: B objectives at one layer and input size.

    Attributes:
      network, layer: where (the logits layer for classes); image_size: the input's side S.
      labels: one per element; units: the unweighted directions u (B, *code), values are ⟨Φ(x), u⟩;
      targets: e = ±(10000/rf²)/m · u, what the solver raises (B, *code); reference: ±m (B,).
      field, stride: the layer's receptive field (size, stride) in input pixels.
    """

    network: str
    layer: str
    image_size: int
    labels: tuple[str, ...]
    units: jax.Array
    targets: jax.Array
    reference: np.ndarray
    field: int
    stride: int


def plan_maximization(rep: Representation, *, channels: Any = None, neuron: Sequence[int] | None = None,
                      class_: Any = None, direction: Any = None, average: bool = False, minimize: bool = False,
                      image_size: int | None = None, unit_max: Any = None) -> MaximizationPlan:
    """Check `maximize`'s choices and build its objectives without running anything (see `maximize`)."""
    features = _network_of(rep)
    if sum(x is not None for x in (channels, class_, direction)) != 1:
        raise JaxinvError("name exactly one of channels=, class_= or direction=")
    network = features.network
    layer = logits_layer(network) if class_ is not None else features.layer
    size = int(image_size) if image_size is not None else input_size(network, layer)
    shape = code_shape(network, layer, size)
    if min(shape[:2]) < 1:
        raise JaxinvError(f"a {size}x{size} input gives no code at {layer}; use a larger image_size")
    labels, units, picked = _units(shape, channels=channels, class_=class_, direction=direction, neuron=neuron,
                                   average=average, minimize=minimize)
    actual = jax.eval_shape(CNNFeatures(network, layer), rep.params, jax.ShapeDtypeStruct((size, size, 3), jnp.float32))
    units = units.reshape(len(labels), *actual.shape)  # an fc layer's code is (C,), not (1, 1, C)
    stats = unit_extremes(network, layer) if unit_max is None else None
    m = _scale(stats, picked, average=average, minimize=minimize, unit_max=unit_max, count=len(labels))
    field, stride = receptive_field(network)[layer]
    sign = -1.0 if minimize else 1.0
    weights = jnp.asarray(sign * V.unit_weight(field, 1, m), jnp.float32)
    targets = units * weights.reshape(-1, *([1] * (units.ndim - 1)))
    return MaximizationPlan(network, layer, size, tuple(labels), units, targets, sign * m, int(field), int(stride))


def _preset(rep: Representation, plan: MaximizationPlan, leaky: CNNFeatures, name: str, *, copies: int,
            iterations: int, diversity: float | None, schedule: Any) -> Any:
    """The maximisation preset of the prior ``name`` at the plan's layer and size."""
    shape = (plan.image_size, plan.image_size, 3)
    if name == "ijcv":
        if schedule is not None:
            raise JaxinvError("the ijcv maximisation runs `iterations` steps at the IJCV rate; pass iterations=,"
                              " not schedule=")
        return V.maximization_preset(shape, stride=plan.stride, copies=copies, iterations=iterations,
                                     diversity=diversity)
    at_layer = dataclasses.replace(rep, name=f"{plan.network}:{plan.layer}", features=leaky, input_shape=shape,
                                   stride=plan.stride, lambda_tv=lambda_tv(plan.network, plan.layer))
    chosen = named_prior(name, at_layer, shape, **({} if schedule is None else {"schedule": schedule}))
    return V.maximization_from(chosen.preset(), copies=copies, diversity=diversity)


def maximize(rep: Representation, *, key: jax.Array, channels: Any = None, neuron: Sequence[int] | None = None,
             class_: Any = None, direction: Any = None, average: bool = False, minimize: bool = False,
             seeds: int = 1, diversity: float | None = None, relu_slope: float = V.LEAKY_SLOPE,
             iterations: int = V.MAXIMIZATION_ITERATIONS, image_size: int | None = None, unit_max: Any = None,
             prior: str = "ijcv", schedule: Any = None, progress: Any = False) -> Visualization:
    """IJCV activation maximisation of one objective per element, all in one compiled program.

    Args:
      rep: a layer of a network, ``jaxinv.cnn(NETWORK, layer=...)``; with ``class_`` any layer of
        it (the class scores, `logits_layer`, are used).
      key: a `jax.random` key; every element starts from the same R starts drawn from it, so an
        element's result does not depend on the others in its batch.
      channels: a channel or several (one element each); ``class_``: a class or several;
        ``direction``: a vector in channel space or several (B, C). Exactly one of the three.
      neuron: (row, column) of the neuron in the code (default: the centre, the authors' choice).
      average: maximise the channel's (or direction's) spatial mean instead of one neuron.
      minimize: lower the unit instead (e → −e; m is then |the smallest value|).
      seeds: R starts per element, optimised jointly; ``diversity``: the weight of `Diversity`
        across them (None: none, each seed moves as it would alone).
      relu_slope: the leaky ReLUs during the optimisation (0.05, the authors'; 0 = as trained).
      iterations: steps at the IJCV rate (300, the authors'); image_size: the input's side
        (default `input_size`, the authors' rule).
      unit_max: m of `unit_weight` per element (default: the measured extremes, `unit_extremes`;
        for a direction v, Σ_c |v_c| m_c).
      prior: the image prior (`jaxinv.core.priors`): ``"ijcv"``, the authors' (``iterations`` at
        the IJCV rate); any other name runs that prior's parametrisation, optimiser and schedule
        (``schedule=`` to override it) on −⟨Φ(x), e⟩ + its regularisers (`maximization_from`).
        ``"paper"``'s regularisers are unbounded and its rates are inversion's: classes rise
        past the pictures' (10/10 top-1 on both networks), but a fire5 neuron at 64×64 ran away
        (lower its rates, e.g. ``schedule=[(4e-5, 300)]``).
      progress: True for a tqdm bar, or a callable given the steps done.
    """
    start = time.perf_counter()
    check_key(key)
    plan = plan_maximization(rep, channels=channels, neuron=neuron, class_=class_, direction=direction,
                             average=average, minimize=minimize, image_size=image_size, unit_max=unit_max)
    shape = (plan.image_size, plan.image_size, 3)
    check_whole("seeds", seeds)
    if not 0.0 <= relu_slope < 1.0:
        raise JaxinvError(f"relu_slope = {relu_slope}; use a slope in [0, 1) (0.05 is the authors')")
    leaky = CNNFeatures(plan.network, plan.layer, float(relu_slope))
    preset = _preset(rep, plan, leaky, prior, copies=int(seeds), iterations=iterations, diversity=diversity,
                     schedule=schedule)
    solver = preset.solver(leaky, rep.params, image_shape=shape, copies=int(seeds))
    states = jax.vmap(lambda _: solver.init(key))(jnp.arange(len(plan.labels)))
    states, energy = _run(solver, states, plan.targets, progress=progress,
                          label=f"maximizing {plan.network}:{plan.layer}")
    return _result(rep, solver, states, plan.units, energy, reference=plan.reference, labels=plan.labels,
                   start=start)


def caricature(rep: Representation, picture: Any, *, key: jax.Array, tether: float = 0.0,
               iterations: int = V.MAXIMIZATION_ITERATIONS, image_size: int | None = None,
               progress: Any = False) -> Visualization:
    """IJCV caricature of ``picture`` at ``rep``'s layer (one element, one seed: B = R = 1).

    Starts from the picture x0 and raises ⟨Φ(x), e⟩ with e = max(Φ0, 0)/‖max(Φ0, 0)‖²
    (``exp_enhance.m``), the network as trained, no mask; ``tether`` > 0 adds the modern
    tether · mean (x − x0)² to the picture. ``image_size`` runs a convolutional layer on an
    S×S input (the picture warped to the network's size, then to S) instead of the network's
    own size (the authors'); `Visualization.reference` is the picture's own ⟨Φ0, e⟩.
    """
    start = time.perf_counter()
    if picture is None:
        raise JaxinvError("caricature needs a picture (an (H, W, 3) array in [0, 255] or a file's pixels)")
    features = _network_of(rep, picture_ok=True)
    check_key(key)
    x0 = np.asarray(rep.preprocess(as_picture(picture)), np.float32)
    if image_size is not None and int(image_size) != x0.shape[0]:
        x0 = resize(x0, (int(image_size), int(image_size)))  # linear: commutes with the mean and channel order
    e = V.caricature_direction(features(rep.params, jnp.asarray(x0)))
    stride = receptive_field(features.network)[features.layer][1]
    preset = V.caricature_preset(x0.shape, stride=stride, picture=x0, tether=tether, iterations=iterations)
    solver = preset.solver(features, rep.params, image_shape=x0.shape)
    states = jax.vmap(lambda _: V.start_from(solver, key, x0[None]))(jnp.arange(1))
    states, energy = _run(solver, states, e[None], progress=progress, label=f"caricature at {rep.name}")
    own = _scores(solver, jnp.asarray(x0)[None, None], e[None])
    return _result(rep, solver, states, e[None], energy, reference=np.asarray(own)[:, 0], labels=["caricature"],
                   start=start)
