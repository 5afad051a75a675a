"""What the command line says and writes: the errors by name, the schedules, ``summary.json``.

Every number in a ``summary.json`` sits under a key that says what it is, and the file carries
a ``definitions`` map (key → one line) that matches the README's and docs/METRICS.md's names:
the squared normalised error ‖Φ(x)−Φ0‖²/‖Φ0‖², the IJCV error (its square root) and, when a
set normaliser N₁ is given, the paper's printed metric ‖Φ(x)−Φ0‖/N₁.

Parsing the command line imports no JAX, so the schedules that ``--help`` lists are written
out here (`STAGES`, `PRESET_NAMES`); tests/test_cli.py compares them with `jaxinv.core.priors`
and `jaxinv.core.schedules`. `jaxinv.cli` and `jaxinv.cli_visualize` both use this module; it
imports neither.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

__all__ = ["DEFINITIONS", "VISUALIZATION_DEFINITIONS", "PRESET_NAMES", "STAGES", "schedule_text", "prior_help",
           "stretched", "schedule_record", "write_inversion", "error_line"]

#: The schedule presets' names (`jaxinv.core.schedules.PRESETS`), written out.
PRESET_NAMES = ("cnn", "shallow", "shallow_long", "receptive_field", "ijcv", "code_default")

#: The default schedules as (learning rate, iterations) stages, written out: the two presets a
#: representation runs under paper (``cnn``, ``shallow``), ijcv's, and lucid's, maco's and dip's own
#: (`jaxinv.core.priors.LUCID_SCHEDULE`, `MACO_SCHEDULE`, `DIP_SCHEDULE`).
STAGES: dict[str, tuple[tuple[float, int], ...]] = {
    "cnn": ((0.004, 100), (0.0004, 200), (0.00004, 100)),
    "shallow": ((0.004, 200), (0.0004, 200), (0.00004, 200), (0.000004, 200)),
    "ijcv": ((1.0, 300), (0.1, 50)),
    "lucid": ((0.01, 200), (0.01, 100), (0.001, 100)),
    "maco": ((0.2, 200), (0.02, 100)),
    "dip": ((0.001, 1000), (0.0001, 200)),
    "fast_shallow": ((5e-5, 70), (5e-6, 50), (1e-6, 40), (2e-7, 40)),
    "fast_cnn": ((5e-5, 75), (5e-6, 75)),
}

_PRIOR_WORDS = {"paper": "CVPR 2015", "ijcv": "IJCV 2016", "lucid": "Fourier, decorrelated colour, random views",
                "maco": "phase-only Fourier", "dip": "Deep Image Prior",
                "fast": "the paper's objective, Adam on its pixels' 1/f spectrum"}

#: What a schedule's rates are, per prior (summary.json's ``schedule.rates``).
_RATES = {"paper": "step sizes of the paper's heavy-ball momentum",
          "ijcv": "multipliers of the IJCV base rate 0.05·B²·HW/α (AdaGrad-momentum)",
          "lucid": "Adam's learning rates", "maco": "Adam's learning rates", "dip": "Adam's learning rates",
          "fast": "Adam's learning rates on the spectrum of u = x/σ"}

#: summary.json's keys of ``jaxinv invert``, one line each.
DEFINITIONS = {
    "prior": "the image prior that ran (--prior; --method is its alias for paper and ijcv)",
    "schedule": "the stages that ran: learning rate and iterations each; 'rates' says what the rates are",
    "iterations": "optimisation steps run (the schedule's total)",
    "squared_normalised_error": "‖Φ(x)−Φ0‖²/‖Φ0‖², the data term the optimiser minimises"
                                " (jaxinv.metrics.normalized_error)",
    "ijcv_error": "√(‖Φ(x)−Φ0‖²/‖Φ0‖²), the IJCV 2016 relative error (jaxinv.metrics.ijcv_error)",
    "paper_printed_error": "‖Φ(x)−Φ0‖/N₁, the metric the CVPR 2015 tables print (jaxinv.metrics."
                           "paper_printed_errors); null without --set-normaliser: one picture has no set",
    "set_normaliser": "N₁, the mean distance ‖Φ0_i−Φ0_j‖ between the representation's codes of a picture set,"
                      " all ordered pairs, diagonal included (jaxinv.metrics.mean_pairwise_distance)",
    "psnr": "PSNR in dB of reconstruction_S.png against original.png; null when they are identical",
    "ssim": "mean SSIM of reconstruction_S.png against original.png (pictures of at least 7x7)",
    "learning_rate_scale": "the factor the schedule's rates ran at (below 1 after retries of a diverged run)",
    "diverged": "true where steps overflowed even after the retries (lower the rates)",
}

#: summary.json's keys of ``jaxinv maximize`` and ``jaxinv caricature``, one line each.
VISUALIZATION_DEFINITIONS = {
    "prior": "the image prior that ran (--prior)",
    "schedule": "the stages that ran: learning rate and iterations each; 'rates' says what the rates are",
    "iterations": "optimisation steps run (the schedule's total)",
    "values": "⟨Φ(x), u⟩ per seed: the objective's value as written, u = Σ_k w_k e_k (a raised unit's response;"
              " minus the response of a lowered one, --minimize)",
    "reference": "Σ_k |w_k| m_k, m_k the unit's extreme over the 100 ImageNet pictures (caricature: the picture's"
                 " own ⟨Φ(x0), e⟩)",
    "relative": "values / reference",
}


def schedule_text(name: str) -> str:
    """``"400 = 100+200+100"`` for a schedule of `STAGES`, with the rates for Adam's priors."""
    stages = STAGES[name]
    text = f"{sum(n for _, n in stages)} = {'+'.join(str(n) for _, n in stages)}"
    if name in ("lucid", "maco", "dip", "fast_shallow", "fast_cnn"):
        text = f"Adam {text} at {', '.join(f'{lr:g}' for lr, _ in stages)}"
    return text


def prior_help(command: str) -> str:
    """``--prior``'s help for ``invert`` or ``maximize``: every prior with the schedule it runs."""
    own = ", ".join(f"{name} ({_PRIOR_WORDS[name]}; {schedule_text(name)}"
                    + (", views in the first 200)" if name == "lucid" else ")") for name in ("lucid", "maco", "dip"))
    paper = (f"paper ({_PRIOR_WORDS['paper']}; the representation's schedule: shallow {schedule_text('shallow')}"
             f" for hog, hogb, dsift, avgpool; cnn {schedule_text('cnn')} for network layers)")
    if command == "maximize":
        return (f"image prior and what it runs (default ijcv, the authors'): ijcv (--iterations steps at the IJCV"
                f" rate, default 300), paper (cnn {schedule_text('cnn')}), {own}; see --iterations")
    fast = (f"fast ({_PRIOR_WORDS['fast']}; shallow {schedule_text('fast_shallow')},"
            f" network layers {schedule_text('fast_cnn')})")
    return (f"image prior and the schedule it runs (default paper): {paper}, ijcv ({_PRIOR_WORDS['ijcv']};"
            f" ijcv {schedule_text('ijcv')}), {own}, {fast}")


def stretched(schedule: Any, total: int, *, name: str) -> Any:
    """``schedule`` with each stage's length scaled by ``total / schedule.total``, adding up to ``total``.

    Each stage gets its share rounded down, the steps left over go one each to the stages with
    the largest remainders (the earlier on a tie), and a stage left with 0 takes one from the
    longest; rates and views are kept. Fewer steps than stages is refused, naming ``name``.
    """
    from jaxinv.errors import JaxinvError

    stages = schedule.stages
    if total < len(stages):
        raise JaxinvError(f"--iterations {total} is fewer than the {len(stages)} stages of {name}'s schedule;"
                          f" use at least {len(stages)}")
    shares = [s.iterations * total / schedule.total for s in stages]
    counts = [int(share) for share in shares]
    by_remainder = sorted(range(len(stages)), key=lambda i: counts[i] - shares[i])
    for i in by_remainder[:total - sum(counts)]:
        counts[i] += 1
    for i in range(len(stages)):
        while counts[i] < 1:
            counts[max(range(len(stages)), key=counts.__getitem__)] -= 1
            counts[i] += 1
    return type(schedule)(tuple(dataclasses.replace(s, iterations=n) for s, n in zip(stages, counts)))


def schedule_record(schedule: Any, prior: str) -> dict:
    """summary.json's ``schedule``: its total, its stages and what the rates are for ``prior``.

    ``jitter`` is kept for the priors that read it (ijcv's jitter, lucid's random views).
    """
    stages = []
    for stage in schedule.stages:
        row = {"learning_rate": float(stage.learning_rate), "iterations": int(stage.iterations)}
        if prior in ("ijcv", "lucid"):
            row["jitter"] = bool(stage.jitter)
        stages.append(row)
    return {"total": int(schedule.total), "stages": stages, "rates": _RATES[prior]}


def write_inversion(out: pathlib.Path, rep: Any, picture: Any, result: Any, *,
                    set_normaliser: float | None = None) -> list[dict]:
    """The PNGs of one inversion and a summary row per seed, each error under its own name.

    The stretched copy is the paper's display: the unclipped input-space reconstruction,
    min-max stretched (`vl_imsc`), so it differs from the clipped picture wherever the
    reconstruction leaves [0, 255].
    """
    import numpy as np

    from jaxinv import images, metrics

    reference = np.clip(rep.deprocess(rep.preprocess(picture)), 0, 255)
    images.save_png(out / "original.png", reference)
    rows = []
    for s, rec in enumerate(result.images):
        images.save_png(out / f"reconstruction_{s}.png", rec)
        images.save_png(out / f"reconstruction_{s}_stretched.png", rep.deprocess(result.inputs[s]), stretch=True)
        psnr = metrics.psnr(rec, reference)
        error = float(result.errors[s])
        printed = None if set_normaliser is None else float(
            metrics.paper_printed_errors([result.codes[s]], [result.targets], normaliser=set_normaliser)[0])
        row = {"seed": s, "squared_normalised_error": error, "ijcv_error": float(np.sqrt(error)),
               "paper_printed_error": printed,
               "psnr": psnr if np.isfinite(psnr) else None,  # identical pictures: no finite PSNR
               "learning_rate_scale": float(result.learning_rate_scale[s]),
               "diverged": bool(result.diverged[s])}
        if min(rec.shape[:2]) >= 7:
            row["ssim"] = metrics.ssim(rec, reference)
        rows.append(row)
    return rows


def error_line(row: dict) -> str:
    """One seed's line: each error named as the README and docs/METRICS.md name it."""
    said = (f"seed {row['seed']}: squared normalised error ‖Φ(x)−Φ0‖²/‖Φ0‖² = {row['squared_normalised_error']:.4f},"
            f" IJCV error {100 * row['ijcv_error']:.1f}%")
    if row.get("paper_printed_error") is not None:
        said += f", paper's printed error ‖Φ(x)−Φ0‖/N₁ = {100 * row['paper_printed_error']:.1f}%"
    said += ", PSNR " + ("∞ (identical)" if row["psnr"] is None else f"{row['psnr']:.2f} dB")
    if "ssim" in row:
        said += f", SSIM {row['ssim']:.3f}"
    if row["learning_rate_scale"] != 1:
        said += f", run at {row['learning_rate_scale']:g}x the learning rates"
    return said
