"""Calibration against the trials: simulate trial-like sequences and compare medians.

Each arm of ``policies/calibration.yaml`` starts where its trial enrolled (line, PD-L1 bands,
regimens already received) and follows the trial's regimen, then its era's subsequent therapy.
For every joint posterior and parameter draw the arm is simulated twice: with many patients,
for the model's median, and with the trial's own number of patients, for the spread a trial of
that size would show. The table gives the reported median (read from the evidence file), the
model's median (mean over draws) with its 95% interval over draws, the 95% predictive interval
of a trial-sized median, the difference, and whether the reported value lies in the predictive
interval. Nothing is tuned here: a miss is reported as a miss (an explicit calibration step
with its own parameters would be a separate, documented change to ``priors/parameters.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml

from sequencer.model.build import build_model
from sequencer.model.load import ModelSources
from sequencer.model.parameter_values import ParameterValues
from sequencer.model.states import InformationStrategy, State, profiles
from sequencer.simulate.engine import simulate
from sequencer.simulate.study import StudySpec, draw_inputs
from sequencer.simulate.tables import policy_tables
from sequencer.solve.strategies import (
    DEFAULT_POLICIES,
    Strategy,
    StrategyError,
    strategy_choice,
)
from sequencer.solve.strategies import strategy_from_dict as _strategy
from sequencer.vocabulary import CPS_BANDS, ids

CALIBRATION_FILE = DEFAULT_POLICIES / "calibration.yaml"
MODEL_PATIENTS = 5_000


@dataclass(frozen=True)
class CalibrationArm:
    trial: str
    arm: str
    regimen: str
    n: int
    start: dict
    info: str  # what the trial tested (e.g. "rebiopsy": HER2 re-confirmed before enrolment)
    strategy: Strategy
    reported: dict  # endpoint -> reported median (months)


def load_calibration(sources: ModelSources, path: Path = CALIBRATION_FILE) -> list[CalibrationArm]:
    """The arms of ``path`` with their reported medians from the evidence files."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    catalogue = sources.evidence.catalogue
    arms = []
    for i, entry in enumerate(raw.get("trials", [])):
        where = f"{path}: trials[{i}]"
        stem = entry.get("evidence")
        record = next((t for f, t in zip(sources.evidence.files, sources.evidence.trials)
                       if Path(f).stem == stem), None)
        if record is None:
            raise StrategyError(f"{where}: evidence: no priors/evidence/{stem}.yaml")
        by_id = {a.id: a for a in record.arms}
        for j, arm in enumerate(entry.get("arms", [])):
            at = f"{where}.arms[{j}]"
            if arm.get("arm") not in by_id:
                raise StrategyError(f"{at}: arm: {arm.get('arm')!r} not among {sorted(by_id)} "
                                    f"of {record.trial}")
            ev = by_id[arm["arm"]]
            if not ev.n:
                raise StrategyError(f"{at}: {record.trial} arm {ev.id} has no n in its evidence")
            strategy = _strategy({"name": f"{record.trial}:{ev.id}", "description": "calibration",
                                  "source": record.trial, "steps": arm["steps"]}, at, catalogue)
            reported = {k: getattr(ev, k).median for k in ("os", "pfs")
                        if getattr(ev, k) is not None and getattr(ev, k).median is not None}
            info = entry.get("info", "none")
            InformationStrategy.parse(info)
            arms.append(CalibrationArm(record.trial, ev.id, ev.regimen, ev.n,
                                       _start(arm.get("start", {}), at), info, strategy,
                                       reported))
    return arms


def _start(start: dict, where: str) -> dict:
    line = start.get("line", 1)
    bands = ids(CPS_BANDS) if start.get("cps", "all") == "all" else list(start["cps"])
    bad = [b for b in bands if b not in ids(CPS_BANDS)]
    if line not in (1, 2) or bad:
        raise StrategyError(f"{where}: start: line must be 1 or 2 and cps 'all' or among "
                            f"{ids(CPS_BANDS)} (got line {line}, cps {start.get('cps')})")
    return {"line": line, "cps": bands, "received": frozenset(start.get("received", [])),
            "progressed_on_her2": bool(start.get("progressed_on_her2", False))}


def arm_roots(arm: CalibrationArm, values: ParameterValues) -> dict[State, float]:
    """Enrolled states weighted by the profile prevalences within the trial's PD-L1 bands."""
    chosen = [p for p in profiles(values) if p.cps in arm.start["cps"]]
    total = sum(p.prevalence for p in chosen)
    return {State(line=arm.start["line"], cps=p.cps, msi_high=p.msi_high,
                  received=arm.start["received"],
                  progressed_on_her2=arm.start["progressed_on_her2"]):
            p.prevalence / total for p in chosen}


def calibrate(sources: ModelSources, draws: int, seed: int,
              arms: list[CalibrationArm] | None = None) -> list[dict]:
    """One row per (trial, arm, endpoint) with the comparison described in the module doc."""
    arms = arms if arms is not None else load_calibration(sources)
    spec = StudySpec(("guideline",), draws=draws, patients=1, seed=seed)
    model_med = np.zeros((len(arms), 2, draws))
    trial_med = np.zeros((len(arms), 2, draws))
    specs = {info: replace(spec, info=info) for info in {a.info for a in arms}}
    for d in range(draws):
        inputs_by_info = {info: draw_inputs(sources, s, d) for info, s in specs.items()}
        for k, arm in enumerate(arms):
            inputs = inputs_by_info[arm.info]
            model = build_model(inputs, arm_roots(arm, inputs.values))
            tables = policy_tables(model, strategy_choice(model, arm.strategy), arm.arm)
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(d, k)))
            big = simulate(tables, MODEL_PATIENTS, rng)
            small = simulate(tables, arm.n, rng)
            for e, col in enumerate(("os", "pfs")):
                model_med[k, e, d] = np.median(big.column(col))
                trial_med[k, e, d] = np.median(small.column(col))
    rows = []
    for k, arm in enumerate(arms):
        for e, endpoint in enumerate(("os", "pfs")):
            if endpoint not in arm.reported:
                continue
            reported = arm.reported[endpoint]
            lo, hi = np.quantile(trial_med[k, e], [0.025, 0.975])
            m = model_med[k, e]
            rows.append({
                "trial": arm.trial, "arm": arm.arm, "regimen": arm.regimen, "n": arm.n,
                "endpoint": endpoint, "reported_median": reported,
                "model_median": float(m.mean()), "model_lower": float(np.quantile(m, 0.025)),
                "model_upper": float(np.quantile(m, 0.975)),
                "trial_sized_lower": float(lo), "trial_sized_upper": float(hi),
                "difference": float(m.mean() - reported),
                "reported_in_interval": bool(lo <= reported <= hi),
            })
    return rows


def format_calibration(rows: list[dict]) -> str:
    head = (f"{'trial':<18} {'arm':<18} {'end':<4} {'n':>4} {'reported':>8} {'model':>6} "
            f"{'model 95%':>12} {'trial-sized 95%':>16} {'diff':>6}  in?")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['trial']:<18} {r['arm']:<18} {r['endpoint']:<4} {r['n']:>4} "
            f"{r['reported_median']:>8.1f} {r['model_median']:>6.1f} "
            f"{r['model_lower']:>5.1f}-{r['model_upper']:<6.1f} "
            f"{r['trial_sized_lower']:>7.1f}-{r['trial_sized_upper']:<8.1f} "
            f"{r['difference']:>+6.1f}  {'yes' if r['reported_in_interval'] else 'NO'}")
    inside = sum(r["reported_in_interval"] for r in rows)
    lines.append(f"{inside} of {len(rows)} reported medians lie in the 95% interval of a "
                 "simulated trial of the same size (model medians: mean over draws)")
    return "\n".join(lines)
