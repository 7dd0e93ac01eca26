"""Explain one state: every regimen offered at its line, eligible or not, with the value of
giving it now and continuing optimally, and the parts of that value, so a user sees why the
winner wins. The evidence trail names the trials (or parameter sources) behind each row."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sequencer.model.build import DecisionModel, build_model
from sequencer.model.inputs import ModelInputs
from sequencer.model.line import line_outcome
from sequencer.model.states import State
from sequencer.solve.backward import Sweep, sweep
from sequencer.solve.objective import Objective
from sequencer.vocabulary import EVIDENCE_LINES, REWARD_PARTS, evidence_line


@dataclass(frozen=True)
class ExplainRow:
    regimen: str
    eligible: bool
    reason: str  # why not eligible ("" when eligible)
    value: float | None  # objective: this regimen now, the optimal policy afterwards
    parts: dict[str, float] | None  # discounted LY, QALY, cost, grade >= 3 AE episodes
    months_on_line: float | None
    p_events: dict[str, float] | None  # death / progression / toxicity ending this line
    evidence_level: str
    sources: str
    best: bool = False

    def estimates(self) -> tuple[float, dict[str, float], float, dict[str, float]]:
        """``(value, parts, months_on_line, p_events)`` of an eligible row; ``ValueError`` for
        an ineligible one, which has none."""
        if (self.value is None or self.parts is None or self.months_on_line is None
                or self.p_events is None):
            raise ValueError(f"regimen {self.regimen}: not eligible ({self.reason}), no estimates")
        return self.value, self.parts, self.months_on_line, self.p_events


def evidence_sources(inputs: ModelInputs, regimen: str, line: int) -> str:
    """Where a regimen's estimates at ``line`` come from: its trials (and any borrowing rule),
    or the parameter file."""
    entry = inputs.catalogue.regimens[regimen]
    if entry.efficacy == "supportive":
        return "parameters: supportive_care.median_os_months (REGARD placebo arm)"
    if entry.efficacy == "parameters":
        return (f"assumption: investigational.{regimen} (priors/parameters.yaml), relative to "
                f"paclitaxel ({', '.join(inputs.catalogue.regimens['paclitaxel'].informed_by)})")
    text = ", ".join(entry.informed_by)
    borrowed = inputs.parameters.borrowed.get((regimen, evidence_line(line)))
    if borrowed:
        text += f" (borrowed: {borrowed})"
    if regimen in inputs.values.grade3_ae_fallback:
        ps = inputs.parameters
        i = ps.regimens.index(regimen)
        if not ps.informed[i, EVIDENCE_LINES.index(evidence_line(line)), 3]:
            text += f"; grade>=3 AE from parameters grade3_ae_fallback.{regimen}"
    return text


def explain_state(inputs: ModelInputs, state: State, objective: Objective,
                  model: DecisionModel | None = None, solved: Sweep | None = None
                  ) -> list[ExplainRow]:
    """Rows for every regimen the catalogue offers at ``state.line``, best first. ``model``
    (built from ``inputs``, with ``state`` in it) and its ``solved`` sweep for ``objective``
    may be given to avoid building and solving again."""
    model = model or build_model(inputs, {state: 1.0})
    if solved is None:
        solved = sweep(model, model.objective_reward(objective.weights()))
    root = model.index(state)
    by_regimen = {model.regimens[model.pair_regimen[p]]: p for p in model.pairs(root)}
    best_pair = solved.choice[root]
    continuation = solved.require_parts()
    rows = []
    for regimen, entry in inputs.catalogue.regimens.items():
        if state.line not in entry.lines:
            continue
        level = "guideline/phase III" if entry.standard else f"{entry.evidence_level} (opt-in)"
        if regimen not in by_regimen:
            reason = inputs.ineligibility(regimen, state) or "not eligible"
            rows.append(ExplainRow(regimen, False, reason, None, None, None, None, level,
                                   evidence_sources(inputs, regimen, state.line)))
            continue
        p = by_regimen[regimen]
        lo, hi = model.succ_ptr[p], model.succ_ptr[p + 1]
        succ, w = model.succ_state[lo:hi], model.succ_weight[lo:hi]
        parts = model.reward[p] + (w[:, None] * continuation[succ]).sum(axis=0)
        outcome = line_outcome(inputs, state, regimen)
        rows.append(ExplainRow(
            regimen, True, "", float(solved.q[p]),
            dict(zip(REWARD_PARTS, parts.tolist())),
            outcome.months, dict(outcome.p_events), level,
            evidence_sources(inputs, regimen, state.line),
            best=bool(p == best_pair),
        ))
    rows.sort(key=lambda r: (not r.eligible, -(r.value if r.value is not None else -np.inf)))
    return rows
