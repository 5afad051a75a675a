"""Image priors by name: a parametrisation and an optimiser over a schedule, any objective.

An image prior is a `Preset`: the variables the optimiser moves, the map from them to the
representation's input, the optimiser run over its schedule, and the inversion objective it
was tuned with; ``prior.with_objective(objective)`` turns it to maximisation and caricatures
(an `InnerProduct` objective of `jaxinv.core.visualization`). ``prior(name, rep, image_shape=shape)``
builds one by name, ``solver(rep, name)`` the `Solver` of one inversion under it. Six
builders, each ``(rep, image_shape, ...)``:

- `paper_prior`: CVPR 2015 (σ-scaled pixels, α-norm + TV^β, heavy-ball momentum), through
  `jaxinv.core.presets.paper_preset`: the same numbers as ``jaxinv.invert(prior="paper")``;
- `ijcv_prior`: IJCV 2016 (B+ ball, jitter, AdaGrad-momentum), through `ijcv_preset`;
- `lucid_prior`: Fourier spectrum (1/f), decorrelated colour, sigmoid, random views
  (Olah et al., "Feature Visualization", Distill 2017), Adam in stages;
- `maco_prior`: MACO's phase-only spectrum with natural amplitude (Fel et al., NeurIPS 2023),
  decorrelated colour and sigmoid, Adam in stages;
- `fast_prior`: the paper's objective and start (`paper_prior`'s, unchanged) reached in fewer
  evaluations: Adam on the spectrum of u, through `jaxinv.core.presets.fast_preset`;
- `dip_prior`: Deep Image Prior (Ulyanov, Vedaldi & Lempitsky, CVPR 2018): an untrained
  generator's weights, Adam.

The schedules and rates of lucid and maco were tuned on pictures 51 and 52 of the shared
ImageNet-100 set (file-name order; the comparison scores pictures 1–10) with
``benchmarks/tune_priors.py``; each builder's docstring gives the measurement behind its
choice. dip's rate is the authors' notebook's, checked against 1e-2 on picture 51. Every
builder takes ``schedule=`` to override it (a `Schedule`, a preset name or [(rate, iterations), …]).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Sequence
from typing import Any


from jaxinv.core.colour import DecorrelatedColour
from jaxinv.core.fourier import Fourier, Maco
from jaxinv.core.output import Bounded, ToInput, input_map
from jaxinv.core.presets import FAST_SCHEDULES, Preset, fast_preset, ijcv_preset, paper_preset, staged_adam
from jaxinv.core.solver import Solver
from jaxinv.core.terms import NormalisedData, Objective, TotalVariation
from jaxinv.core.transforms import Jitter, Pad, Rotate, Scale, Transformed
from jaxinv.errors import JaxinvError
from jaxinv.core.settings import IJCVObjective, PaperObjective
from jaxinv.core.schedules import Schedule, Stage, resolve_schedule

__all__ = ["Prior", "PRIOR_NAMES", "inversion_objective", "paper_prior", "ijcv_prior", "lucid_prior",
           "maco_prior", "dip_prior", "fast_prior", "prior", "prior_options", "check_prior_name", "input_shape", "solver",
           "staged_adam", "fast_schedule", "default_schedule", "LUCID_TV", "LUCID_SCHEDULE", "MACO_SCHEDULE", "DIP_SCHEDULE"]

#: The presets' names, in the order the comparison lists them.
PRIOR_NAMES = ("paper", "ijcv", "lucid", "maco", "dip", "fast")

#: TV² weight of the Fourier priors' inversion objective (input-space units, a 227² picture's
#: TV² is ~1e8: the term is ~1 % of a start's data term; it only steadies the highest frequencies).
LUCID_TV = 1e-10

#: lucid: Adam 0.01 with random views for 200 steps, then 0.01 and 0.001 without views (tuned).
LUCID_SCHEDULE = Schedule((Stage(0.01, 200, jitter=True), Stage(0.01, 100, jitter=False),
                           Stage(0.001, 100, jitter=False)))
#: maco: Adam 0.2 for 200 steps, then 0.02 for 100 (tuned).
MACO_SCHEDULE = Schedule((Stage(0.2, 200), Stage(0.02, 100)))
#: dip: Adam 1e-3 (the authors' inversion notebook; level with 1e-2 on fire5) for 1000 steps, then 1e-4 for 200.
DIP_SCHEDULE = Schedule((Stage(1e-3, 1000), Stage(1e-4, 200)))


def inversion_objective(*, tv: float = 0.0) -> Objective:
    """NormalisedData + tv · TV² on the input-space image (the weight is traced: 0 keeps the TV column)."""
    return NormalisedData() + float(tv) * TotalVariation(beta=2.0)


#: An image prior is a `Preset`: a parametrisation, an optimiser over a schedule, the
#: inversion objective it was tuned with, and its name (``prior.with_objective(...)`` for maximisation).
Prior = Preset


def default_schedule(name: str, of: Any, *, given: Any = None) -> Schedule:
    """The `Schedule` prior ``name`` runs: ``given`` (a `Schedule`, a preset name or [(rate, iterations), …])
    if any, else the prior's own. ``of`` is the representation (or its ``schedule``, the paper
    schedule's name): the paper's prior runs its ``schedule``, the fast prior's depends on it
    (`fast_schedule`). The one rule the builders, the command line, the atlas and the benchmarks share."""
    if given is not None:
        return resolve_schedule(given)
    own = {"paper": getattr(of, "schedule", of), "ijcv": "ijcv", "lucid": LUCID_SCHEDULE, "maco": MACO_SCHEDULE,
           "dip": DIP_SCHEDULE, "fast": fast_schedule(of)}
    return resolve_schedule(own[check_prior_name(name)])


def _three_channels(rep: Any, image_shape: tuple[int, int, int], name: str) -> None:
    if image_shape[-1] != 3:
        raise JaxinvError(f"the {name} prior makes colour pictures; {rep.name} takes {image_shape[-1]} channel(s):"
                          " use --prior paper or ijcv")


def paper_prior(rep: Any, image_shape: tuple[int, int, int], *, schedule: Any = None,
                lambda_tv: float | None = None, lambda_alpha: float | None = None,
                config: PaperObjective | None = None) -> Preset:
    """CVPR 2015 (`paper_preset`, unchanged): the representation's λ_V, λ_α and schedule unless given.

    ``config``, a whole `PaperObjective`, replaces ``lambda_tv`` and ``lambda_alpha``.
    """
    config = _paper_config(rep, config, lambda_tv, lambda_alpha)
    return paper_preset(config, default_schedule("paper", rep, given=schedule), image_shape)


def _paper_config(rep: Any, config: PaperObjective | None, lambda_tv: float | None,
                  lambda_alpha: float | None) -> PaperObjective:
    if config is None:
        return PaperObjective(lambda_tv=rep.lambda_tv if lambda_tv is None else float(lambda_tv),
                              lambda_alpha=rep.lambda_alpha if lambda_alpha is None else float(lambda_alpha))
    if lambda_tv is not None or lambda_alpha is not None:
        raise JaxinvError("pass either config= (a whole PaperObjective) or lambda_tv=/lambda_alpha=, not both")
    return config


def fast_schedule(of: Any) -> Schedule:
    """The fast prior's schedule for ``of``, a representation or its paper schedule's name: the
    representation's own entry in `FAST_SCHEDULES` (by ``name``) if it has one, else ``shallow``'s for
    the ``shallow`` and ``shallow_long`` paper schedules and ``cnn``'s for the others."""
    name = getattr(of, "name", None)
    if isinstance(name, str) and name in FAST_SCHEDULES:
        return FAST_SCHEDULES[name]
    return FAST_SCHEDULES["shallow" if getattr(of, "schedule", of) in ("shallow", "shallow_long") else "cnn"]


def fast_prior(rep: Any, image_shape: tuple[int, int, int], *, schedule: Any = None, decay: float = 1.0,
               smooth: bool = True, lambda_tv: float | None = None, lambda_alpha: float | None = None,
               config: PaperObjective | None = None) -> Preset:
    """The paper's objective and start (`paper_prior`'s energy, λ's and u) with Adam on u's spectrum.

    Same function, same start, other path (`jaxinv.core.parametrisations.SpectralPixels`; on
    hard-binned HOG, bilinear binning's derivative, `jaxinv.core.presets.smooth_descent`, unless
    ``smooth=False``): use it where the paper's error is wanted in fewer steps; keep ``paper`` to
    reproduce the paper's numbers (its iterates, not only its energy). Measured on the first 10
    shared pictures against the paper's final error: docs/results/speed.md#fast-preset
    (`benchmarks/time_to_quality.py`).
    """
    config = _paper_config(rep, config, lambda_tv, lambda_alpha)
    chosen = default_schedule("fast", rep, given=schedule)
    return fast_preset(config, chosen, image_shape, decay=decay, smooth=smooth)


def ijcv_prior(rep: Any, image_shape: tuple[int, int, int], *, schedule: Any = None, data_weight: float | None = None,
               config: IJCVObjective | None = None) -> Preset:
    """IJCV 2016 (`ijcv_preset`, unchanged): C = ``data_weight`` (1), J = max(round(stride/4), 1)."""
    if config is None:
        config = IJCVObjective(data_weight=1.0 if data_weight is None else float(data_weight))
    elif data_weight is not None:
        raise JaxinvError("pass either config= (a whole IJCVObjective) or data_weight=, not both")
    return ijcv_preset(config, default_schedule("ijcv", rep, given=schedule), image_shape,
                       jitter=config.jitter_for(rep.stride))


def lucid_prior(rep: Any, image_shape: tuple[int, int, int], *, schedule: Any = None, pad: int = 2,
                scale: float = 0.01, degrees: float = 1.0, tv: float = LUCID_TV) -> Preset:
    """Fourier (1/f) + decorrelated colour + sigmoid + random views (pad, jitter, scale, rotate).

    Tuned with ``benchmarks/tune_priors.py --count 2 --shorten 0.5`` (SqueezeNet fire5,
    pictures 51–52, every stage at half length: 100 + 50 + 50 steps; mean final error
    ‖Φ(x) − Φ0‖²/‖Φ0‖², start 0.91):

    - rate: with views of pad 4, scale 0.02, 2°, Adam 0.1 ends at 0.81, 0.05 at 0.29, 0.02
      at 0.044, 0.01 at 0.029; with small views (below) 0.02 ends at 0.035, 0.01 at 0.024,
      0.005 at 0.029. Adam's first steps have the rate's size on every coefficient, and the
      √(HW)-scaled spectrum turns a coefficient step of 0.05 into tens of grey levels at low
      frequencies: the larger rates overshoot. 0.01 is the best measured;
    - views: those of the visualisation literature (pad 8, scale 0.05, 5°) end at 0.37 at
      0.05, and at 1.35 when kept on to the end; small views (pad 2 then jitter 5, scale
      0.01, 1°) cost almost nothing against none (0.035 against 0.034 at 0.02) and keep the
      prior's point, a picture that still matches under small shifts; views are off in the
      last two stages, where the picture itself is fitted.
    """
    shape = (*image_shape,)  # a tuple, as given (H, W, C)
    _three_channels(rep, shape, "lucid")
    picture = ToInput(Bounded(DecorrelatedColour(Fourier())), input_map(rep))
    parametrisation = Transformed(picture, (Pad(pad), Jitter(2 * pad + 1), Scale(scale), Rotate(degrees)))
    chosen = default_schedule("lucid", rep, given=schedule)
    return Preset(inversion_objective(tv=tv), parametrisation, staged_adam, chosen, name="lucid")


def maco_prior(rep: Any, image_shape: tuple[int, int, int], *, schedule: Any = None, tv: float = LUCID_TV) -> Preset:
    """MACO: the phase of a spectrum with natural pictures' amplitude, decorrelated colour, sigmoid.

    Tuned as `lucid_prior` (fire5, pictures 51–52, half-length stages; start 1.20): Adam 0.05
    then 0.005 ends at 0.115, 0.1/0.01 at 0.092, 0.2/0.02 at 0.085 (lower on both pictures:
    0.058 and 0.113 against 0.061 and 0.123). The phase variables are scale-free (Z/|Z|), so
    rates far above the Fourier prior's work; the gain flattens from 0.1 to 0.2, so larger
    ones were not tried. No random views: a fixed natural amplitude already rules out the
    high-frequency patterns views are there to stop.
    """
    shape = (*image_shape,)  # a tuple, as given (H, W, C)
    _three_channels(rep, shape, "maco")
    parametrisation = ToInput(Bounded(DecorrelatedColour(Maco())), input_map(rep))
    chosen = default_schedule("maco", rep, given=schedule)
    return Preset(inversion_objective(tv=tv), parametrisation, staged_adam, chosen, name="maco")


def dip_prior(rep: Any, image_shape: tuple[int, int, int], *, schedule: Any = None, levels: int = 5,
              width: float = 0.5) -> Preset:
    """Deep Image Prior: a reduced skip generator (``levels`` levels, widths × ``width``), Adam.

    Adam 1e-3 is the authors' feature-inversion notebook's rate; the data term alone, as in
    the notebook (the generator is the prior). Energy curves (``benchmarks/dip_energy.py``:
    this generator, SqueezeNet fire5, tuning picture 51, 1200 steps at one rate): from 1.03,
    1e-3 reaches 0.108 at step 200, 0.035 at 600, 0.021 at 1000, 0.016 at 1200; 1e-2 reads
    0.123, 0.035, 0.020, 0.020, lower at 10 of the 24 readings (an earlier run on another machine:
    at none). The error still falls to 0.58× from 600 to 1000 steps, hence 1000 at 1e-3, then
    200 at 1e-4 to settle. The generator is reduced (5 levels at half width) for CPU cost:
    0.23–0.25 s a step on two AMD EPYC cores, stepped from the host (`DeepImagePrior.stepwise`).
    Measured on 2×2 average pooling of a 32×32 picture (the test bed): error 1.07 at the start,
    0.13 after 100 steps, 0.0061 after 300, 5e-4 after 600, 1e-4 after 1000, 4.5e-5 after the 1200.
    """
    from jaxinv.core.generator import DeepImagePrior  # the generator pulls flax.linen in: only when asked

    shape = (*image_shape,)  # a tuple, as given (H, W, C)
    _three_channels(rep, shape, "dip")
    parametrisation = DeepImagePrior.reduced(levels=levels, width=width, input_map=input_map(rep))
    chosen = default_schedule("dip", rep, given=schedule)
    # The data term alone: a zero-weighted TV column would still run a second generator pass.
    return Preset(NormalisedData().as_objective(), parametrisation, staged_adam, chosen, name="dip")


_BUILDERS: dict[str, Callable[..., Preset]] = {"paper": paper_prior, "ijcv": ijcv_prior, "lucid": lucid_prior,
                                               "maco": maco_prior, "dip": dip_prior, "fast": fast_prior}


def prior_options(name: str) -> tuple[str, ...]:
    """The keyword options the prior ``name`` takes (``schedule`` for all of them)."""
    builder = _BUILDERS[check_prior_name(name)]
    return tuple(p.name for p in inspect.signature(builder).parameters.values() if p.kind is p.KEYWORD_ONLY)


def check_prior_name(name: Any) -> str:
    """``name`` if it is one of `PRIOR_NAMES`; else a `JaxinvError` listing them."""
    if name not in _BUILDERS:
        raise JaxinvError(f"unknown prior {name!r}; use one of {', '.join(PRIOR_NAMES)}")
    return str(name)


def prior(name: str, rep: Any, *, image_shape: Sequence[int] | None = None, **options: Any) -> Preset:
    """The prior ``name`` (one of `PRIOR_NAMES`) for ``rep`` at ``image_shape`` (default its input's).

    ``options`` are the builder's (`prior_options`); one it does not take is refused by name.
    """
    allowed = prior_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise JaxinvError(f"the {name} prior takes no option {', '.join(unknown)}; it takes {', '.join(allowed)}")
    return _BUILDERS[name](rep, input_shape(rep, image_shape=image_shape), **options)


def input_shape(rep: Any, *, image_shape: Sequence[int] | None = None) -> tuple[int, int, int]:
    """``image_shape`` (H, W, C), or the representation's own input shape, checked against ``rep``."""
    shape = image_shape if image_shape is not None else rep.input_shape
    if shape is None:
        raise JaxinvError(f"{rep.name} takes any size: pass image_shape=(H, W, C)")
    rep.check_input(tuple(shape))
    h, w, c = (int(s) for s in shape)
    return h, w, c


def solver(rep: Any, name: str, *, image_shape: Sequence[int] | None = None, copies: int = 1,
           **options: Any) -> Solver:
    """The `Solver` of one inversion of ``rep`` under the prior ``name``: jit, vmap, grad it.

        solver = jaxinv.core.solver(rep, "paper")
        states, energies = jax.jit(jax.vmap(solver.run, in_axes=(0, None)))(keys, target)
    """
    shape = input_shape(rep, image_shape=image_shape)
    return prior(name, rep, image_shape=shape, **options).solver(rep.features, rep.params, image_shape=shape,
                                                                 copies=copies)


def paper(rep: Any, *, image_shape: Sequence[int] | None = None, copies: int = 1, **options: Any) -> Solver:
    """Deprecated in 0.2 (removed in 0.3): ``solver(rep, "paper", ...)``."""
    warnings.warn("jaxinv.core.paper is deprecated; use jaxinv.core.solver(rep, 'paper', ...)", DeprecationWarning,
                  stacklevel=2)
    return solver(rep, "paper", image_shape=image_shape, copies=copies, **options)


def ijcv(rep: Any, *, image_shape: Sequence[int] | None = None, copies: int = 1, **options: Any) -> Solver:
    """Deprecated in 0.2 (removed in 0.3): ``solver(rep, "ijcv", ...)``."""
    warnings.warn("jaxinv.core.ijcv is deprecated; use jaxinv.core.solver(rep, 'ijcv', ...)", DeprecationWarning,
                  stacklevel=2)
    return solver(rep, "ijcv", image_shape=image_shape, copies=copies, **options)
