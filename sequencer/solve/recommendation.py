"""The typed answer for one patient (``Recommendation``) and the clinical rules applied to it.

``Recommender.recommend`` (``recommend.py``) gives an ``Answer``: what the model says for a
state, objective, budget and options, cached per state and never per patient. ``for_patient``
turns it into the ``Recommendation`` for one patient: performance status (ECOG 3-4 is not fit
for anticancer therapy: best supportive care), the caveats every answer carries, the units and
the model's provenance. The service serialises a ``Recommendation`` and decides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sequencer.model.states import State
from sequencer.vocabulary import SUPPORTIVE_CARE, fit_for_treatment

CAVEAT = ("Decision support for clinicians, not a prescription. Estimates come from trial-level "
          "evidence and stated assumptions; check each regimen's evidence level.")
ECOG_TRIALS = 2  # trials enrolled ECOG 0-1, some also 2
ECOG_UNFIT_GROUP = 4


@dataclass(frozen=True)
class Estimate:
    """A point estimate (posterior and parameter means) and a 95% credible interval over
    ``draws`` posterior and parameter draws."""

    estimate: float
    lower: float
    upper: float
    draws: int


@dataclass(frozen=True)
class Alternative:
    regimen: str
    name: str
    recommended: bool
    evidence_level: str
    objective_value: float
    life_years: Estimate
    qalys: Estimate
    median_months_on_line: Estimate
    probability_grade3_ae: Estimate
    evidence: str

    def as_dict(self) -> dict[str, object]:
        """JSON-ready data (``dataclasses.asdict`` without its deep copies: this is on the
        service's path for every answer it has not serialised before)."""
        out = dict(vars(self))
        for name in ("life_years", "qalys", "median_months_on_line", "probability_grade3_ae"):
            out[name] = dict(vars(out[name]))
        return out


@dataclass(frozen=True)
class PlanStep:
    """One step of the adaptive plan. ``probability`` (of reaching it from its parent) is
    ``None`` at the root; the per-line probabilities are ``None`` at the last step shown."""

    line: int
    state: str
    regimen: str
    then: tuple[PlanStep, ...] = ()
    probability: float | None = None
    probability_death_on_line: float | None = None
    probability_supportive_care_after: float | None = None

    def as_dict(self) -> dict:
        """The step as JSON-ready data, leaving out what does not apply (``None``)."""
        out: dict = {"line": self.line, "state": self.state, "regimen": self.regimen,
                     "then": [step.as_dict() for step in self.then]}
        for name in ("probability", "probability_death_on_line",
                     "probability_supportive_care_after"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True)
class TrialRef:
    trial: str
    phase: str
    line: int
    citation: str
    doi: str | None
    regimens: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {**vars(self), "regimens": list(self.regimens)}


@dataclass(frozen=True)
class Answer:
    """What the model says for one state and question (no patient-specific rule applied)."""

    state: State
    recommended: str
    alternatives: tuple[Alternative, ...]
    plan: PlanStep
    trials: tuple[TrialRef, ...]
    interval_draws: int
    model_states: int
    budget_status: str | None = None


@dataclass(frozen=True)
class Recommendation:
    """The answer for one patient, with the caveats that apply and the model's provenance."""

    patient_state: str
    her2_status: str
    recommended: str
    alternatives: tuple[Alternative, ...]
    plan: PlanStep
    evidence: tuple[TrialRef, ...]
    caveats: tuple[str, ...]
    provenance: dict[str, str]
    interval_draws: int
    discounted: bool
    units: dict[str, str] = field(default_factory=dict)


def ecog_group(ecog: int) -> int:
    """Performance statuses ``for_patient`` treats alike (0-1, 2, 3-4), by their largest."""
    if not fit_for_treatment(ecog):
        return ECOG_UNFIT_GROUP
    return max(ecog, 1)


def for_patient(answer: Answer, *, ecog: int, include_investigational: bool,
                discount_rate: float, total_draws: int,
                provenance: dict[str, str]) -> Recommendation:
    """The patient's recommendation: a patient not fit for anticancer therapy (ECOG 3-4) is
    recommended best supportive care; the caveats say what limits the estimates."""
    caveats = [CAVEAT]
    recommended = answer.recommended
    if not fit_for_treatment(ecog):
        caveats.append("ECOG performance status 3-4: the trials behind these estimates enrolled "
                       "ECOG 0-1 (occasionally 2); best supportive care is usually preferred.")
        recommended = SUPPORTIVE_CARE
    elif ecog == ECOG_TRIALS:
        caveats.append("ECOG 2: most trials enrolled ECOG 0-1; expect less benefit and more "
                       "toxicity than estimated.")
    if not include_investigational:
        caveats.append("Only guideline-backed regimens or regimens whose phase III trial met its "
                       "primary endpoint are considered; investigational options are opt-in.")
    if answer.interval_draws < total_draws:
        caveats.append(f"Credible intervals use {answer.interval_draws} of {total_draws} "
                       f"posterior draws: with these options the model from this state has "
                       f"{answer.model_states:,} states.")
    if answer.budget_status:
        caveats.append(f"Budget: {answer.budget_status}; alternatives' values assume the "
                       "unconstrained plan after this line.")
    discounted = bool(discount_rate)
    return Recommendation(
        patient_state=answer.state.label(), her2_status=answer.state.her2,
        recommended=recommended, alternatives=answer.alternatives, plan=answer.plan,
        evidence=answer.trials, caveats=tuple(caveats), provenance=dict(provenance),
        interval_draws=answer.interval_draws, discounted=discounted,
        units={"life_years": "years" + (" (discounted)" if discounted else ""),
               "qalys": "QALYs" + (" (discounted)" if discounted else ""),
               "median_months_on_line": "months", "probability_grade3_ae": "per line"})
