"""Activation maximisation and caricatures of a network layer, from the host (IJCV 2016).

`maximize` raises objectives that add and scale like numbers (`jaxinv.core.objectives`: a
neuron, a channel's mean, a direction, a class score, diversity, your own terms), one per batch
element, all elements optimised in one compiled program through the one runner
(`jaxinv.runner.run`), each with R seeds, under any image prior. `caricature` exaggerates
what a layer sees in a picture. Results are scored with the network as trained (not leaky)::

    from jaxinv.core.objectives import channel, neuron
    rep = jaxinv.cnn("squeezenet1_1", layer="fire9/expand3x3", weights=PATH)
    out = maximize(rep, [neuron(c) for c in range(8)], key=jax.random.key(0))
    out.images          # (8, 1, S, S, 3) RGB in [0, 255]
    out.relative        # each unit's value / its largest over the 100 ImageNet pictures
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Sequence
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.core import objectives as O
from jaxinv.core import visualization as V
from jaxinv.core.presets import Preset
from jaxinv.core.solver import Solver
from jaxinv.core.priors import prior as named_prior
from jaxinv.errors import JaxinvError
from jaxinv.images import as_picture, resize
from jaxinv.networks import receptive_field
from jaxinv.plan import MaximizationPlan, network_of, plan_maximization
from jaxinv.representation import Representation
from jaxinv.representations.cnn import CNNFeatures, lambda_tv
from jaxinv.runner import Outcome, Progress, RunOptions, check_whole, run
from jaxinv.targets import check_key

__all__ = ["Visualization", "maximize", "caricature"]


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
      energy: per step each term's value (unweighted) and the objective's total, (B, T, K + 1).
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


@jax.jit
def _scores(features_solver: Solver, inputs: jax.Array, units: jax.Array) -> jax.Array:
    """⟨Φ(x), u⟩ per element and copy, with the network of ``features_solver`` (as trained)."""
    def one(images: jax.Array, u: jax.Array) -> jax.Array:
        codes = jax.vmap(features_solver.features, in_axes=(None, 0))(features_solver.params, images)
        return jnp.sum(codes * u[None], axis=tuple(range(1, codes.ndim)))
    return jax.vmap(one)(inputs, units)


def _run(solver: Any, targets: Any, starts: Any, *, progress: Progress, label: str) -> Outcome:
    """The whole schedule through the one runner (`jaxinv.runner.run`): no retries, no snapshots."""
    options = RunOptions(keep_snapshots=False, progress=progress, retries=0, label=label)
    return run(solver, targets, starts=starts, options=options)


def visualization_result(rep: Representation, solver: Solver, outcome: Outcome, units: jax.Array, *,
                         reference: Any, labels: Sequence[str], start: float) -> Visualization:
    """The `Visualization` of a run's ``outcome``: its pictures, and ⟨Φ(x), u⟩ scored with the
    network as trained (relu_slope 0) whatever the solver optimised; ``start`` is the
    `time.perf_counter` its wall time counts from. Module-level for `jaxinv.atlas.layers`."""
    network = cast(CNNFeatures, solver.features)  # a maximisation's solver is always over a network's features
    trained = dataclasses.replace(solver, features=dataclasses.replace(network, relu_slope=0.0))
    values = np.asarray(_scores(trained, jnp.asarray(outcome.images), units), np.float64)
    inputs = outcome.images
    pictures = np.clip(rep.deprocess(inputs), 0, 255).astype(np.float32)
    return Visualization(pictures, inputs, values, np.asarray(reference, np.float64), tuple(labels),
                         outcome.energy, int(inputs.shape[-2]), rep.name, time.perf_counter() - start)


def prior_maximization_preset(rep: Representation, plan: MaximizationPlan, leaky: CNNFeatures, name: str | Preset,
                              *, copies: int, iterations: int | None, schedule: Any) -> Preset:
    """The maximisation preset of the prior ``name`` at the plan's layer and size: −R·⟨Φ(x), e⟩ −
    the objectives' other terms + the prior's regularisers."""
    shape = (plan.image_size, plan.image_size, 3)
    if name == "ijcv":
        if schedule is not None:
            raise JaxinvError("the ijcv maximisation runs `iterations` steps at the IJCV rate; pass iterations=,"
                              " not schedule=")
        base = V.maximization_preset(shape, stride=plan.stride, copies=copies,
                                     iterations=V.MAXIMIZATION_ITERATIONS if iterations is None else iterations)
    else:
        if iterations is not None:
            raise JaxinvError(f"iterations= sets the ijcv prior's steps; the {name} prior runs its own schedule:"
                              " pass schedule= (e.g. [(0.01, 300)]) to change it")
        if isinstance(name, Preset):
            chosen = name
        else:
            at_layer = dataclasses.replace(rep, name=f"{plan.network}:{plan.layer}", features=leaky,
                                           input_shape=shape, stride=plan.stride,
                                           lambda_tv=lambda_tv(plan.network, plan.layer))
            chosen = named_prior(name, at_layer, image_shape=shape,
                                 **({} if schedule is None else {"schedule": schedule}))
        base = V.maximization_from(chosen, copies=copies)
    return base.with_objective(base.objective - plan.rest) if plan.rest.terms else base


def _legacy_objectives(*, channels: Any = None, neuron: Any = None, class_: Any = None, direction: Any = None,
                       average: bool = False, minimize: bool = False, diversity: float | None = None) -> list[Any]:
    """0.1's keywords as objectives (deprecated): channels → `neuron` (or `channel` with
    ``average``), class_ → `class_logit`, direction → `direction`; minimize negates them."""
    warnings.warn("jaxinv.maximize(channels=/class_=/direction=/...) is deprecated; pass objectives from"
                  " jaxinv.core.objectives, e.g. maximize(rep, [neuron(c) for c in channels], key=key)",
                  DeprecationWarning, stacklevel=3)
    if sum(x is not None for x in (channels, class_, direction)) != 1:
        raise JaxinvError("name exactly one of channels=, class_= or direction=")
    position = None if neuron is None else tuple(int(v) for v in neuron)
    if position is not None and len(position) != 2:
        raise JaxinvError(f"neuron={neuron!r}; give its position as (row, column)")
    pieces: list[O.Linear]
    if direction is not None:
        pieces = [O.direction(v, position=position, average=average) for v in np.atleast_2d(direction)]
    elif class_ is not None:
        pieces = [O.class_logit(c) for c in _indices(class_, "class")]
    else:
        pieces = [O.channel(c) if average else O.neuron(c, position=position) for c in _indices(channels, "channel")]
    sign = -1.0 if minimize else 1.0
    if diversity is None:
        return [sign * p for p in pieces]
    return [sign * p + float(diversity) * O.diversity() for p in pieces]


def _indices(values: Any, what: str) -> list[int]:
    items = [values] if np.ndim(values) == 0 else list(values)
    if not items:
        raise JaxinvError(f"no {what} given; name at least one")
    for v in items:
        if isinstance(v, bool) or not float(v).is_integer():
            raise JaxinvError(f"{what} {v!r} is not a whole number; name {what}s by their index")
    return [int(v) for v in items]


def maximize(rep: Representation, objective: Any = None, *, key: jax.Array, prior: str | Preset = "ijcv",
             seeds: int = 1, relu_slope: float = V.LEAKY_SLOPE, iterations: int | None = None,
             schedule: Any = None, image_size: int | None = None, unit_max: Any = None, progress: Progress = None,
             **legacy: Any) -> Visualization:
    """Raise ``objective`` (or each of a list, one batch element each) at a network's layer.

    Args:
      rep: a layer of a network, ``jaxinv.cnn(NETWORK, layer=...)``; objectives of class scores
        (`jaxinv.core.objectives.class_logit`) use the network's class-score layer instead.
      objective: built from `jaxinv.core.objectives` (``neuron(12)``, ``channel(3) - channel(4)``,
        ``class_logit(145) + 0.1 * diversity()``), or a list of such of one structure: one
        element each, all in one compiled program. Each linear piece is weighted by the
        authors' (10000/rf²)/m (`jaxinv.plan`).
      key: a `jax.random` key; every element starts from the same R starts drawn from it, so an
        element's result does not depend on the others in its batch.
      prior: the image prior, ``"ijcv"`` (the authors': ``iterations`` at the IJCV rate), any
        other name of `jaxinv.core.PRIOR_NAMES` (its parametrisation, optimiser and schedule,
        ``schedule=`` to override it, on −⟨Φ(x), e⟩ + its regularisers), or a `Preset`.
        ``"paper"``'s regularisers are unbounded and its rates are inversion's: classes rise
        past the pictures' (10/10 top-1 on both networks), but a fire5 neuron at 64×64 ran away
        (lower its rates, e.g. ``schedule=[(4e-5, 300)]``).
      seeds: R starts per element, optimised jointly (add ``diversity()`` to push them apart).
      relu_slope: the leaky ReLUs during the optimisation (0.05, the authors'; 0 = as trained).
      iterations: the ijcv prior's steps (300, the authors'); other priors take ``schedule=``.
      image_size: the input's side (default `jaxinv.plan.input_size`, the authors' rule).
      unit_max: m of every unit of an element (one number, or one per element) instead of the
        measured extremes (`jaxinv.plan.unit_extremes`; for a direction v, Σ_c |v_c| m_c).
      progress: None (default): a tqdm bar on stderr when stderr is a terminal, nothing otherwise;
        True: a bar always; False: silent; or a callable given the steps done.
      **legacy: 0.1's ``channels``, ``neuron``, ``class_``, ``direction``, ``average``,
        ``minimize``, ``diversity`` (deprecated; translated to objectives).
    """
    start = time.perf_counter()
    check_key(key)
    if legacy:
        unknown = sorted(set(legacy) - {"channels", "neuron", "class_", "direction", "average", "minimize",
                                        "diversity"})
        if unknown or objective is not None:
            raise JaxinvError(f"maximize takes no option {', '.join(unknown or sorted(legacy))} beside an objective;"
                              " build the objective from jaxinv.core.objectives")
        objective = _legacy_objectives(**legacy)
    plan = plan_maximization(rep, objective, image_size=image_size, unit_max=unit_max)
    shape = (plan.image_size, plan.image_size, 3)
    check_whole("seeds", seeds)
    if not 0.0 <= relu_slope < 1.0:
        raise JaxinvError(f"relu_slope = {relu_slope}; use a slope in [0, 1) (0.05 is the authors')")
    leaky = CNNFeatures(plan.network, plan.layer, float(relu_slope))
    preset = prior_maximization_preset(rep, plan, leaky, prior, copies=int(seeds), iterations=iterations,
                                       schedule=schedule)
    solver = preset.solver(leaky, rep.params, image_shape=shape, copies=int(seeds))
    states = jax.vmap(lambda _: solver.init(key))(jnp.arange(len(plan.labels)))
    outcome = _run(solver, plan.targets, states, progress=progress, label=f"maximizing {plan.network}:{plan.layer}")
    return visualization_result(rep, solver, outcome, plan.units, reference=plan.reference, labels=plan.labels,
                                start=start)


def caricature(rep: Representation, picture: Any, *, key: jax.Array, tether: float = 0.0,
               iterations: int = V.MAXIMIZATION_ITERATIONS, image_size: int | None = None,
               progress: Progress = None) -> Visualization:
    """IJCV caricature of ``picture`` at ``rep``'s layer (one element, one seed: B = R = 1).

    Starts from the picture x0 and raises ⟨Φ(x), e⟩ with e = max(Φ0, 0)/‖max(Φ0, 0)‖²
    (``exp_enhance.m``), the network as trained, no mask; ``tether`` > 0 adds the modern
    tether · mean (x − x0)² to the picture. ``image_size`` runs a convolutional layer on an
    S×S input (the picture warped to the network's size, then to S) instead of the network's
    own size (the authors'); `Visualization.reference` is the picture's own ⟨Φ0, e⟩. ``progress``
    as `maximize`'s: by default a bar on stderr when stderr is a terminal, False for none.
    """
    start = time.perf_counter()
    if picture is None:
        raise JaxinvError("caricature needs a picture (an (H, W, 3) array in [0, 255] or a file's pixels)")
    features = network_of(rep, picture_ok=True)
    check_key(key)
    x0 = np.asarray(rep.preprocess(as_picture(picture)), np.float32)
    if image_size is not None and int(image_size) != x0.shape[0]:
        x0 = resize(x0, (int(image_size), int(image_size)))  # linear: commutes with the mean and channel order
    e = V.caricature_direction(features(rep.params, jnp.asarray(x0)))
    stride = receptive_field(features.network)[features.layer][1]
    preset = V.caricature_preset(x0.shape, stride=stride, picture=x0, tether=tether, iterations=iterations)
    solver = preset.solver(features, rep.params, image_shape=x0.shape)
    states = jax.vmap(lambda _: V.start_from(solver, key, x0[None]))(jnp.arange(1))
    outcome = _run(solver, e[None], states, progress=progress, label=f"caricature at {rep.name}")
    own = _scores(solver, jnp.asarray(x0)[None, None], e[None])
    return visualization_result(rep, solver, outcome, e[None], reference=np.asarray(own)[:, 0],
                                labels=["caricature"], start=start)
