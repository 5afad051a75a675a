"""One program per layer: many units of a layer maximised together, dead starts started again.

`maximize_units` raises ``neuron(c)`` (the centre neuron of channel c; `jaxinv.core.objectives`)
for every channel c asked for, all in one compiled program through the one runner
(`jaxinv.runner.run`), as `jaxinv.maximize` does: the same preset, the same R starts drawn from
``key`` for every unit, so that a unit's picture does not depend on the others in its batch
(batch equals loop). Before optimising, each unit's gradient at the start is measured
(`jaxinv.atlas.dead.start_gradients`); a unit whose gradient is exactly zero (dead ReLUs) first
runs ``redirect_steps`` steps through redirected ReLUs (lucid's, Olah et al. 2017, Distill) and
then the whole schedule, from there, with the network as optimised. A unit whose value with the
network as trained is still ≤ 0 for every seed is *flat*: no picture excites it from these
starts, and the atlas says so.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.atlas.dead import RedirectedFeatures, start_gradients
from jaxinv.core.objectives import neuron
from jaxinv.core.schedules import Schedule
from jaxinv.core.solver import Solver
from jaxinv.errors import JaxinvError
from jaxinv.plan import plan_maximization
from jaxinv.representation import Representation
from jaxinv.representations.cnn import CNNFeatures
from jaxinv.runner import Progress, RunOptions, run
from jaxinv.targets import check_key
from jaxinv.visualize import (
    Visualization,
    prior_maximization_preset,
    visualization_result,
)

__all__ = ["REDIRECT_STEPS", "LayerPictures", "maximize_units"]

#: Steps run through redirected ReLUs before the schedule, for a unit dead at the start.
REDIRECT_STEPS = 20


@dataclasses.dataclass(frozen=True)
class LayerPictures:
    """B units of one layer maximised together.

    Attributes:
      channels: the channels c, one per unit (the unit is ``neuron(c)``, the channel's centre).
      visualization: the pictures and values (`jaxinv.Visualization`; values with the network
        as trained).
      start_gradient: ‖∇ₓ⟨Φ(x₀), u⟩‖ at the start, (B,): 0 for a unit dead at the start.
      redirected: whether the unit first ran through redirected ReLUs (dead at the start), (B,).
      starts: the R start images every unit began from, in the input space, (R, H, W, 3).
    """

    channels: tuple[int, ...]
    visualization: Visualization
    start_gradient: np.ndarray
    redirected: np.ndarray
    starts: np.ndarray

    @property
    def flat(self) -> np.ndarray:
        """(B,): True where no seed's picture excites the unit (its value ≤ 0 for every seed)."""
        return np.all(self.visualization.values <= 0, axis=1)


def _first_steps(schedule: Schedule, steps: int) -> Schedule:
    """The first ``steps`` steps of ``schedule`` (its stages cut there)."""
    stages, left = [], steps
    for stage in schedule.stages:
        if left <= 0:
            break
        stages.append(dataclasses.replace(stage, iterations=min(stage.iterations, left)))
        left -= stages[-1].iterations
    return Schedule(tuple(stages))


def _restart(solver: Solver, targets: jax.Array, states: Any, dead: np.ndarray, *, steps: int,
             options: RunOptions) -> Any:
    """``states`` with the dead units' variables moved by ``steps`` redirected steps (their
    optimiser state started afresh, their step keys kept)."""
    network = solver.features
    assert isinstance(network, CNNFeatures)  # built by maximize_units
    index = np.flatnonzero(dead)
    redirected = dataclasses.replace(solver, features=RedirectedFeatures(network.network, network.layer),
                                     schedule=_first_steps(solver.schedule, steps))
    picked = jax.tree.map(lambda a: a[index], states)
    moved = run(redirected, np.asarray(targets)[index], starts=picked,
                options=dataclasses.replace(options, label=f"{options.label} (dead starts, redirected ReLUs)"))

    def again(variables: Any, state: Any) -> Any:
        return state._replace(variables=variables, opt_state=solver.optimizer.init(variables), snapshot=variables)

    fresh = jax.vmap(again)(jax.tree.map(jnp.asarray, moved.variables), picked)
    return jax.tree.map(lambda whole, part: jnp.asarray(whole).at[index].set(part), states, fresh)


def maximize_units(rep: Representation, channels: Sequence[int], *, key: jax.Array, prior: str = "ijcv",
                   seeds: int = 1, relu_slope: float = 0.0, iterations: int | None = None, schedule: Any = None,
                   image_size: int | None = None, unit_max: Sequence[float] | float | None = None,
                   redirect_steps: int = REDIRECT_STEPS, progress: Progress = None,
                   memory_budget: int | str | None = None, vmap_width: int | str | None = "auto") -> LayerPictures:
    """Maximise ``neuron(c)`` for each of ``channels`` of ``rep``'s layer in one program.

    Args:
      rep: a layer of a network, ``jaxinv.cnn(NETWORK, layer=...)``.
      channels: the channels, one unit each (at least one).
      key: a `jax.random` key; every unit starts from the same R starts drawn from it.
      prior, seeds, iterations, schedule, image_size, unit_max: as `jaxinv.maximize`'s.
      relu_slope: the ReLUs' slope while optimising: 0 (default) is the network as trained,
        whose dead units `redirect_steps` starts again; `jaxinv.maximize`'s 0.05 leaks instead.
      redirect_steps: the steps a unit dead at the start runs through redirected ReLUs first.
      progress: as `jaxinv.maximize`'s; memory_budget: the runner's (`jaxinv.runner.RunOptions`):
        units that do not fit run in groups that do; vmap_width: the runner's, the units vectorised
        together inside the program ("auto": `jaxinv.program.default_vmap_width`; None: all).
    """
    start = time.perf_counter()
    check_key(key)
    if not channels:
        raise JaxinvError("no channels given; name at least one unit of the layer")
    if redirect_steps < 1:
        raise JaxinvError(f"redirect_steps = {redirect_steps}; pass a number of steps >= 1")
    plan = plan_maximization(rep, [neuron(int(c)) for c in channels], image_size=image_size, unit_max=unit_max)
    shape = (plan.image_size, plan.image_size, 3)
    leaky = CNNFeatures(plan.network, plan.layer, float(relu_slope))
    preset = prior_maximization_preset(rep, plan, leaky, prior, copies=int(seeds), iterations=iterations,
                                       schedule=schedule)
    solver = preset.solver(leaky, rep.params, image_shape=shape, copies=int(seeds))
    starts = solver.image(solver.init(key))
    gradients = start_gradients(leaky, rep.params, starts, plan.units)
    dead = gradients == 0
    states = jax.vmap(lambda _: solver.init(key))(jnp.arange(len(channels)))
    options = RunOptions(keep_snapshots=False, progress=progress, retries=0, memory_budget=memory_budget,
                         vmap_width=vmap_width, label=f"maximizing {len(channels)} units of {plan.network}:{plan.layer}")
    if dead.any():
        states = _restart(solver, plan.targets, states, dead, steps=int(redirect_steps), options=options)
    outcome = run(solver, plan.targets, starts=states, options=options)
    result = visualization_result(rep, solver, outcome, plan.units, reference=plan.reference, labels=plan.labels,
                                  start=start)
    return LayerPictures(tuple(int(c) for c in channels), result, gradients, dead, np.asarray(starts))
