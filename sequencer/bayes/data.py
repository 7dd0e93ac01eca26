"""Flatten the evidence base into the arrays the Bayesian model consumes.

Observation rules (DESIGN.md section 2; written here because this is where they are applied):

* log-median: ``y = ln(median)``; SE from the 95% CI, ``(ln U - ln L) / 3.92``; else from the
  events, ``1 / (ln 2 * sqrt(d))``: a published median is a Kaplan-Meier (sample) median, whose
  asymptotic variance under exponential survival is ``1 / (n f(m)^2 m^2) = 1 / (n (ln 2)^2)``
  with ``f(m) = lambda / 2`` (the parametric ``1 / sqrt(d)`` would understate it by ~30%); else
  the stated rule ``1 / (ln 2 * sqrt(f * n))`` with ``f = ModelConfig.median_event_fraction``.
  Medians marked not-reached are not used.
* log-HR: ``y = ln(HR)``, SE ``(ln U - ln L) / (2 z)`` with ``z`` the normal quantile of the
  published CI level (1.96 for 95%); else from a two-sided p-value, ``|ln HR| / z(1 - p/2)``
  (Tierney et al., Trials 2007); else the contrast is not used.
* Simplification: an arm's log-median and a log-HR of the same trial come from the same
  patients but are treated as independent (their correlation is not reported); the HR carries
  the comparative information and the trial effect absorbs shared population differences.
* An observation the rules cannot weigh (no CI, events or n) is not used; ``ModelData.unused``
  lists every such observation with the reason, and the fit report prints it.
* Correlation within a trial: two contrasts sharing an arm (multi-arm trials) covary by the
  variance of the shared arm's log-hazard (``1/d`` of that arm, else its median's SE squared,
  else half the contrast's variance: equal arms); a subgroup and the whole population of the
  same comparison covary by the variance of the whole-population estimate (the whole-population
  estimate is the inverse-variance mix of the subgroup and its complement). The same nesting
  rule applies to log-medians of one regimen in nested populations.
* Binomial outcomes (ORR, grade >= 3 AE): responders = the published count, else
  ``round(proportion * evaluable)`` (``n`` when evaluable is absent). A CPS subgroup's count is
  not used when the trial reports the same outcome for the whole population of the same
  regimen (no double counting).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from sequencer.evidence.load import EvidenceBase
from sequencer.evidence.schema import ENDPOINTS, Arm, Contrast, Endpoint, TrialRecord
from sequencer.vocabulary import CPS_POPULATIONS, PD1_DRUG_CLASS, evidence_line, is_her2_directed

OUTCOMES: tuple[str, ...] = ("pfs", "os", "orr", "ae")
_ENDPOINT_OF_OUTCOME: dict[int, Endpoint] = {OUTCOMES.index(e): e for e in ENDPOINTS}
LN2 = float(np.log(2.0))


def line_index(line: int) -> int:
    """Line of therapy 1, 2, 3+ -> index 0, 1, 2 (the evidence line's position)."""
    return evidence_line(line) - 1


@dataclass(frozen=True)
class ArmTable:
    """One row per arm record (arm x population) with the indices of the linear predictor."""

    label: list[str]
    trial: np.ndarray
    regimen: np.ndarray
    line: np.ndarray
    cps_band: np.ndarray
    her2_low: np.ndarray


@dataclass(frozen=True)
class GaussianObs:
    """Normal observations ``y ~ MvNormal(f(eta), cov)``; ``cov`` is block-diagonal by trial."""

    label: list[str]
    y: np.ndarray
    se: np.ndarray
    cov: np.ndarray
    outcome: np.ndarray  # index into OUTCOMES (0 = pfs, 1 = os)
    arm: np.ndarray  # median: arm row; HR: experimental arm row
    ref_arm: np.ndarray  # HR: reference arm row (-1 for medians)
    trial_name: list[str]


@dataclass(frozen=True)
class BinomialObs:
    label: list[str]
    k: np.ndarray
    n: np.ndarray
    outcome: np.ndarray  # 2 = orr, 3 = ae
    arm: np.ndarray
    all_cause: np.ndarray  # AE definition flag (1 = all-cause)
    trial_name: list[str]


@dataclass(frozen=True)
class ModelData:
    """Everything the PyMC model needs, with the coordinate labels for named dims."""

    trials: list[str]
    regimens: list[str]
    effect_classes: list[str]
    regimen_class: np.ndarray
    regimen_pd1: np.ndarray
    regimen_her2: np.ndarray
    arms: ArmTable
    medians: GaussianObs
    hrs: GaussianObs
    binomial: BinomialObs
    unused: list[str] = field(default_factory=list)

    def informed_cells(self) -> set[tuple[str, int, str]]:
        """(regimen, line 1-3, outcome) triples that at least one used observation informs."""
        arms, cells = self.arms, set()

        def add(row: int, outcome: int) -> None:
            line = int(arms.line[row]) + 1
            cells.add((self.regimens[arms.regimen[row]], line, OUTCOMES[outcome]))

        for obs in (self.medians, self.hrs):
            for k in range(len(obs.y)):
                add(obs.arm[k], obs.outcome[k])
                if obs.ref_arm[k] >= 0:
                    add(obs.ref_arm[k], obs.outcome[k])
        for k in range(len(self.binomial.k)):
            add(self.binomial.arm[k], self.binomial.outcome[k])
        return cells


def _ci_se(lower: float | None, upper: float | None, level: float = 0.95) -> float | None:
    if lower is None or upper is None:
        return None
    return (np.log(upper) - np.log(lower)) / (2.0 * norm.ppf(0.5 + level / 2.0))


def median_se(arm: Arm, endpoint: Endpoint, event_fraction: float) -> tuple[float | None, str]:
    """SE of ln(median) for one arm and the rule that produced it (None: cannot be weighed)."""
    summary = arm.survival(endpoint)
    if summary is None:
        return None, f"no {endpoint} reported"
    se = _ci_se(summary.lower, summary.upper)
    if se is not None and se > 0:
        return se, "ci"
    if summary.events:
        return 1.0 / (LN2 * np.sqrt(summary.events)), "events"
    if arm.n:
        return 1.0 / (LN2 * np.sqrt(event_fraction * arm.n)), "rule"
    return None, "no CI, events or n"


def contrast_se(contrast: Contrast) -> tuple[float | None, str]:
    """SE of ln(HR) from the CI at its level, else from the two-sided p-value."""
    se = _ci_se(contrast.lower, contrast.upper, contrast.ci_level)
    if se is not None and se > 0:
        return se, "ci"
    if contrast.p_value is not None and contrast.hr != 1.0 and contrast.p_value < 1.0:
        return abs(np.log(contrast.hr)) / norm.ppf(1.0 - contrast.p_value / 2.0), "p-value"
    return None, "no CI or p-value"


def _arm_log_hazard_var(arm: Arm, endpoint: Endpoint, event_fraction: float) -> float | None:
    summary = arm.survival(endpoint)
    if summary is None:
        return None
    if summary.events:
        return 1.0 / summary.events  # variance of an arm's log-rate estimate, as in a log-HR
    if summary.median is not None and not summary.not_reached:
        se = median_se(arm, endpoint, event_fraction)[0]
        return None if se is None else se**2
    return None


def _is_nested(a: Arm, b: Arm) -> bool:
    """True when one arm record is a PD-L1 CPS subgroup of the other's whole population.

    HER2-low cohorts are separate cohorts, never subsets of a HER2-positive population.
    """
    if a.population.her2 != b.population.her2 or a.population.cps == b.population.cps:
        return False
    return "all" in (a.population.cps, b.population.cps)


def _make_psd(cov: np.ndarray) -> np.ndarray:
    """Shrink off-diagonal terms until the matrix is positive definite (approximate covariances
    built from reported CIs can be slightly inconsistent)."""
    diag = np.diag(np.diag(cov))
    off = cov - diag
    for _ in range(50):
        try:
            np.linalg.cholesky(diag + off)
            return diag + off
        except np.linalg.LinAlgError:
            off = off * 0.9
    return diag


class _Builder:
    def __init__(self, evidence: EvidenceBase, event_fraction: float) -> None:
        self.evidence = evidence
        self.event_fraction = event_fraction
        self.trials = [t.trial for t in evidence.trials]
        used = sorted({arm.regimen for t in evidence.trials for arm in t.arms})
        self.regimens = used
        cat = evidence.catalogue
        classes = sorted({cat.regimens[r].effect_class for r in used} - {"chemotherapy"})
        self.effect_classes = ["chemotherapy", *classes]
        # One row per arm record, in file order: every observation block indexes into this.
        self.arm_rows: list[tuple[TrialRecord, Arm]] = [
            (record, arm) for record in evidence.trials for arm in record.arms
        ]
        self.unused: list[str] = []

    def arm_table(self) -> ArmTable:
        trial_index = {id(record): k for k, record in enumerate(self.evidence.trials)}
        rows = self.arm_rows
        return ArmTable(
            label=[f"{record.trial}:{arm.id}" for record, arm in rows],
            trial=np.array([trial_index[id(record)] for record, _ in rows], dtype=int),
            regimen=np.array([self.regimens.index(arm.regimen) for _, arm in rows], dtype=int),
            line=np.array([line_index(record.line) for record, _ in rows], dtype=int),
            cps_band=np.array([CPS_POPULATIONS.index(arm.population.cps) for _, arm in rows],
                              dtype=int),
            her2_low=np.array([1.0 if arm.population.her2 == "low" else 0.0 for _, arm in rows]),
        )

    def medians(self) -> GaussianObs:
        label, y, se, outcome, arm_idx, trial_name = [], [], [], [], [], []
        for row, (record, arm) in enumerate(self.arm_rows):
            for endpoint in ENDPOINTS:
                summary = arm.survival(endpoint)
                if summary is None or summary.median is None or summary.not_reached:
                    continue
                name = f"{record.trial}:{arm.id}:{endpoint}"
                arm_se, rule = median_se(arm, endpoint, self.event_fraction)
                if arm_se is None:
                    self.unused.append(f"median {name}: {rule}")
                    continue
                label.append(name)
                y.append(np.log(summary.median))
                se.append(arm_se)
                outcome.append(OUTCOMES.index(endpoint))
                arm_idx.append(row)
                trial_name.append(record.trial)
        se_arr = np.array(se)
        cov = np.diag(se_arr**2)
        for i in range(len(y)):
            for j in range(i + 1, len(y)):
                ri, rj = self.arm_rows[arm_idx[i]], self.arm_rows[arm_idx[j]]
                same = ri[0] is rj[0] and outcome[i] == outcome[j]
                if same and ri[1].regimen == rj[1].regimen and _is_nested(ri[1], rj[1]):
                    cov[i, j] = cov[j, i] = min(cov[i, i], cov[j, j])
        return GaussianObs(
            label, np.array(y), se_arr, _make_psd(cov), np.array(outcome, dtype=int),
            np.array(arm_idx, dtype=int), np.full(len(y), -1, dtype=int), trial_name,
        )

    def hazard_ratios(self) -> GaussianObs:
        row_of = {(id(rec), arm.id): k for k, (rec, arm) in enumerate(self.arm_rows)}
        label, y, se, outcome, exp_idx, ref_idx, trial_name = [], [], [], [], [], [], []
        for record in self.evidence.trials:
            for c in record.contrasts:
                name = f"{record.trial}:{c.experimental}/{c.reference}:{c.endpoint}"
                c_se, rule = contrast_se(c)
                if c_se is None:
                    self.unused.append(f"hazard ratio {name}: {rule}")
                    continue
                label.append(name)
                y.append(np.log(c.hr))
                se.append(c_se)
                outcome.append(OUTCOMES.index(c.endpoint))
                exp_idx.append(row_of[(id(record), c.experimental)])
                ref_idx.append(row_of[(id(record), c.reference)])
                trial_name.append(record.trial)
        se_arr = np.array(se, dtype=float)
        cov = np.diag(se_arr**2)
        for i in range(len(y)):
            for j in range(i + 1, len(y)):
                if trial_name[i] != trial_name[j] or outcome[i] != outcome[j]:
                    continue
                cov[i, j] = cov[j, i] = self._hr_cov(i, j, exp_idx, ref_idx, outcome, cov)
        return GaussianObs(
            label, np.array(y), se_arr, _make_psd(cov), np.array(outcome, dtype=int),
            np.array(exp_idx, dtype=int), np.array(ref_idx, dtype=int), trial_name,
        )

    def _hr_cov(self, i: int, j: int, exp_idx: list[int], ref_idx: list[int],
                outcome: list[int], cov: np.ndarray) -> float:
        endpoint = _ENDPOINT_OF_OUTCOME[outcome[i]]  # a hazard ratio's outcome is pfs or os
        ei, ri = self.arm_rows[exp_idx[i]][1], self.arm_rows[ref_idx[i]][1]
        ej, rj = self.arm_rows[exp_idx[j]][1], self.arm_rows[ref_idx[j]][1]
        if (ei.regimen, ri.regimen) == (ej.regimen, rj.regimen) and _is_nested(ei, ej):
            return min(cov[i, i], cov[j, j])
        shared = {ei.id, ri.id} & {ej.id, rj.id}
        if len(shared) != 1:
            return 0.0
        arm_id = shared.pop()
        arm = next(a for a in (ei, ri) if a.id == arm_id)
        var = _arm_log_hazard_var(arm, endpoint, self.event_fraction)
        if var is None:
            var = 0.5 * min(cov[i, i], cov[j, j])
        # Sign: + when the shared arm has the same role in both contrasts, - otherwise.
        sign = 1.0 if (arm_id == ri.id) == (arm_id == rj.id) else -1.0
        return sign * min(var, 0.95 * np.sqrt(cov[i, i] * cov[j, j]))

    def binomial(self) -> BinomialObs:
        label, k, n, outcome, arm_idx, all_cause, trial_name = [], [], [], [], [], [], []
        for row, (record, arm) in enumerate(self.arm_rows):
            # A CPS subgroup whose whole population reports the same outcome would count the
            # same patients twice: only the whole population is used then.
            wholes = [o for o in record.arms if o.regimen == arm.regimen and _is_nested(arm, o)
                      and o.population.cps == "all"]
            if any(o.orr is not None for o in wholes):
                arm = arm.model_copy(update={"orr": None})
            if any(o.grade3_ae is not None for o in wholes):
                arm = arm.model_copy(update={"grade3_ae": None})
            total = None if arm.orr is None else arm.orr.evaluable or arm.n
            if arm.orr is not None and not total:
                self.unused.append(f"ORR {record.trial}:{arm.id}: no n or evaluable count")
            elif arm.orr is not None and total:
                count = arm.orr.responders
                if count is None:
                    count = round(arm.orr.proportion * total)
                label.append(f"{record.trial}:{arm.id}:orr")
                k.append(count)
                n.append(total)
                outcome.append(2)
                arm_idx.append(row)
                all_cause.append(0.0)
                trial_name.append(record.trial)
            if arm.grade3_ae is not None and not arm.n:
                self.unused.append(f"grade>=3 AE {record.trial}:{arm.id}: no n")
            elif arm.grade3_ae is not None and arm.n:
                label.append(f"{record.trial}:{arm.id}:ae")
                k.append(round(arm.grade3_ae.proportion * arm.n))
                n.append(arm.n)
                outcome.append(3)
                arm_idx.append(row)
                all_cause.append(1.0 if arm.grade3_ae.definition == "all-cause" else 0.0)
                trial_name.append(record.trial)
        return BinomialObs(
            label, np.array(k, dtype=int), np.array(n, dtype=int), np.array(outcome, dtype=int),
            np.array(arm_idx, dtype=int), np.array(all_cause), trial_name,
        )


def build_model_data(evidence: EvidenceBase, median_event_fraction: float = 0.6) -> ModelData:
    """Convert the evidence base into index arrays and observation blocks."""
    builder = _Builder(evidence, median_event_fraction)
    arms = builder.arm_table()
    cat = evidence.catalogue
    regimen_class = np.array(
        [builder.effect_classes.index(cat.regimens[r].effect_class) for r in builder.regimens]
    )
    pd1 = np.array([float(PD1_DRUG_CLASS in cat.regimens[r].drug_classes)
                    for r in builder.regimens])
    her2 = np.array([float(is_her2_directed(cat.regimens[r])) for r in builder.regimens])
    medians, hrs, binomial = builder.medians(), builder.hazard_ratios(), builder.binomial()
    return ModelData(
        trials=builder.trials,
        regimens=builder.regimens,
        effect_classes=builder.effect_classes,
        regimen_class=regimen_class,
        regimen_pd1=pd1,
        regimen_her2=her2,
        arms=arms,
        medians=medians,
        hrs=hrs,
        binomial=binomial,
        unused=builder.unused,
    )
