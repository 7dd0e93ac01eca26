"""ModelInputs: everything one decision model reads, resolved for one posterior draw.

It joins the regimen catalogue (eligibility rules), a ``ParameterSet`` (line-specific hazards
and AE probabilities from the trials) and the values of ``priors/parameters.yaml`` (mechanisms,
attrition, utilities, costs), and it checks up front that every regimen the catalogue offers at
a line can be priced and has an efficacy source, so that a model never fails half-built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from itertools import product
from typing import TypedDict, Unpack

import numpy as np

from sequencer.errors import NotInformedError, SequencerError
from sequencer.evidence.catalogue import Catalogue, Regimen
from sequencer.model.cache import EligibilityCache, LineCache
from sequencer.model.parameter_set import ParameterSet
from sequencer.model.parameter_values import ParameterValues
from sequencer.model.states import InformationStrategy, State
from sequencer.vocabulary import (
    DEFAULT_MAX_LINES,
    LINES,
    SUPPORTIVE_CARE,
    Vocabulary,
    cps_population,
    has_trial_her2_effect,
)

SUPPORTIVE = SUPPORTIVE_CARE


class ModelError(SequencerError):
    """The catalogue, posterior and parameters cannot be joined into a decision model."""


class ModelOptions(TypedDict, total=False):
    """The analysis options of ``ModelInputs`` a caller chooses (``ModelSources.inputs``)."""

    info: InformationStrategy
    discount_rate: float
    max_lines: int
    include_investigational: bool


class InputOptions(ModelOptions, total=False):
    """Every optional field of ``ModelInputs.create``: the options plus the provenance and the
    eligibility cache the draws of one ``ModelSources`` share."""

    provenance: dict[str, str]
    eligibility: EligibilityCache


@dataclass(frozen=True)
class ModelInputs:
    catalogue: Catalogue
    parameters: ParameterSet
    values: ParameterValues
    info: InformationStrategy = field(default_factory=InformationStrategy)
    discount_rate: float = 0.035
    max_lines: int = DEFAULT_MAX_LINES
    include_investigational: bool = False
    provenance: dict[str, str] = field(default_factory=dict)
    # eligibility depends on the catalogue and options only: the draws of one ModelSources
    # share this cache (its keys hold the catalogue's identity and the options)
    eligibility: EligibilityCache = field(default_factory=EligibilityCache, compare=False,
                                          repr=False)
    # what these inputs computed about lines: created empty with them (also by replace())
    line_cache: LineCache = field(init=False, default_factory=LineCache, compare=False,
                                  repr=False)

    @classmethod
    def create(cls, catalogue: Catalogue, parameters: ParameterSet, values: ParameterValues,
               **options: Unpack[InputOptions]) -> ModelInputs:
        """Build and validate (all regimen x line cells resolvable, options in range)."""
        inputs = cls(catalogue, parameters, values, **options)
        if not 0 <= inputs.discount_rate <= 0.2:
            raise ModelError(f"discount_rate: {inputs.discount_rate} outside [0, 0.2] per year")
        if inputs.max_lines not in LINES:
            raise ModelError(f"max_lines: {inputs.max_lines} is not one of {list(LINES)}")
        if SUPPORTIVE not in catalogue.regimens:
            raise ModelError(f"the catalogue has no '{SUPPORTIVE}' regimen")
        probe = State(line=1)
        for regimen in catalogue.regimens.values():
            for line in regimen.lines:
                if regimen.id == SUPPORTIVE:
                    continue
                for her2 in regimen.requires.her2:
                    state = State(line=line, her2=her2, cps=">=10", received=probe.received)
                    try:
                        inputs.base_rates(regimen.id, state)
                        inputs.monthly_cost(regimen.id)
                        inputs.contraindication_outcomes(regimen.id, state)
                    except (NotInformedError, KeyError) as exc:
                        raise ModelError(
                            f"regimen '{regimen.id}' is offered at line {line} (HER2 {her2}) in "
                            f"priors/regimens.yaml but cannot be valued: {exc}"
                        ) from None
        return inputs

    # ---- rates -----------------------------------------------------------------------------
    @cached_property
    def monthly_discount(self) -> float:
        return float(np.log1p(self.discount_rate) / 12)

    @property
    def supportive_id(self) -> str:
        return SUPPORTIVE

    @property
    def vocabulary(self) -> Vocabulary:
        return self.catalogue.vocabulary

    @cached_property
    def test_sensitivity(self) -> float:
        """Chance that testing at the first anti-HER2 progression finds a present alteration."""
        testing, info = self.values.testing, self.info
        miss_tissue = testing.her2_heterogeneity * testing.biopsy_miss_if_heterogeneous
        miss = (1 - testing.ctdna_sensitivity if info.ctdna else 1.0) * (
            miss_tissue if info.rebiopsy else 1.0
        )
        return 1 - miss

    @staticmethod
    def her2_directed(entry: Regimen) -> bool:
        """Whether the resistance modifiers act on the regimen (``has_trial_her2_effect``)."""
        return has_trial_her2_effect(entry)

    def population(self, state: State) -> tuple[str, str]:
        if state.her2 == "positive":
            return "positive", cps_population(state.cps)
        return "low", "all"

    def base_rates(self, regimen: str, state: State) -> tuple[float, float]:
        """(progression-free hazard per month, P(grade >= 3 AE)) before alteration modifiers."""
        entry = self.catalogue.regimens[regimen]
        line = state.line  # the ParameterSet maps it to its evidence line
        her2, cps = self.population(state)
        ps, v = self.parameters, self.values
        if entry.efficacy == "parameters":
            reference = ps.value("pfs_hazard", "paclitaxel", line, her2, cps)
            assumed = v.investigational[regimen]
            hazard = assumed.hazard_ratio_vs_paclitaxel * reference
            p_ae = assumed.grade3_ae
        else:
            hazard = ps.value("pfs_hazard", regimen, line, her2, cps)
            try:
                p_ae = ps.value("grade3_ae", regimen, line, her2, cps)
            except NotInformedError:
                if regimen not in v.grade3_ae_fallback:
                    raise KeyError(f"grade3_ae_fallback.{regimen} (no trial arm informs its "
                                   "grade >= 3 AE probability)") from None
                p_ae = v.grade3_ae_fallback[regimen]
        received_classes = {
            c for r in state.received for c in self.catalogue.regimens[r].drug_classes
        }
        for drug_class in entry.drug_classes:
            if drug_class in received_classes and drug_class in v.prior_exposure_modifier:
                hazard *= v.prior_exposure_modifier[drug_class]
        return hazard, p_ae

    def mechanism_factor(self, mechanism: str, present: bool) -> float:
        """Hazard factor on HER2-directed therapy, normalised so that the mixture at the baseline
        prevalence equals the trial-population hazard: M/(1-p+pM) if present, 1/(1-p+pM) if not."""
        modifier = self.values.mechanism_modifier[mechanism]
        prevalence = self.values.baseline_alteration[mechanism]
        norm = 1 - prevalence + prevalence * modifier
        return (modifier if present else 1.0) / norm

    def her2_loss_factor(self, regimen: str, line: int) -> float:
        """HER2 ADCs: the posterior HER2-low over HER2-positive hazard ratio; other HER2-directed
        therapy: the assumed ``mechanism_modifier.her2_loss``."""
        entry = self.catalogue.regimens[regimen]
        t_dxd = "trastuzumab_deruxtecan"
        if "her2_adc" in entry.drug_classes and t_dxd in self.parameters.regimens:
            low = self.parameters.value("pfs_hazard", t_dxd, line, "low", "all")
            pos = self.parameters.value("pfs_hazard", t_dxd, line, "positive", "all")
            return low / pos
        return self.values.mechanism_modifier["her2_loss"]

    def attrition(self, line: int) -> float:
        share = self.values.attrition.after(line)
        if self.info.ctdna:
            share *= self.values.testing.ctdna_attrition_relative_risk
        return float(min(max(share, 0.0), 1.0))

    def monthly_cost(self, regimen: str) -> float:
        v = self.values
        if regimen not in v.regimen_cost:
            raise KeyError(f"regimen_cost.{regimen} (no drug and administration costs)")
        price = v.regimen_cost[regimen]
        cost = (price.drug_per_month
                + price.administrations_per_month * v.cost.administration_per_attendance)
        return cost + (v.cost.ctdna_per_month if self.info.ctdna else 0.0)

    def contraindication_outcomes(self, regimen: str, state: State
                                  ) -> list[tuple[frozenset[str], float]]:
        """[(new contraindications, probability)] after a line on ``regimen``."""
        entry = self.catalogue.regimens[regimen]
        rates: list[tuple[str, float]] = []
        for contra in entry.creates:
            if contra in state.contraindications:
                continue
            by_class = self.values.contraindication_rate.get(contra, {})
            found = [by_class[c] for c in entry.drug_classes if c in by_class]
            if not found:
                raise KeyError(f"no contraindication_rate.{contra}.<drug class> for any of "
                               f"{entry.drug_classes}")
            rates.append((contra, max(found)))
        out: list[tuple[frozenset[str], float]] = []
        for flags in product((False, True), repeat=len(rates)):
            prob = 1.0
            for (_, r), flag in zip(rates, flags):
                prob *= r if flag else 1 - r
            out.append((frozenset(c for (c, _), flag in zip(rates, flags) if flag), prob))
        return out

    @cached_property
    def supportive_reward(self) -> np.ndarray:
        """Discounted (LY, QALY, cost, toxicity) of supportive care until death (terminal)."""
        v = self.values
        hazard = np.log(2) / v.supportive_care.median_os_months
        time = 1.0 / (hazard + self.monthly_discount)
        return np.array([time / 12, v.utility.supportive_care * time / 12,
                         v.cost.supportive_care_per_month * time, 0.0])

    # ---- eligibility -----------------------------------------------------------------------
    def ineligibility(self, regimen: str, state: State) -> str | None:
        """Why ``regimen`` cannot be given in ``state`` (``None`` if it can)."""
        entry = self.catalogue.regimens[regimen]
        req = entry.requires
        if regimen == SUPPORTIVE:
            return None
        if state.line not in entry.lines or state.line > self.max_lines:
            return f"not offered at line {state.line} (lines {entry.lines})"
        if regimen in state.received:
            return "already received"
        if not (entry.standard or self.include_investigational):
            return f"evidence level {entry.evidence_level}: opt-in (include investigational)"
        if state.her2 not in req.her2:
            return f"needs HER2 {'/'.join(req.her2)}"
        if state.cps not in req.cps and not (req.msi_high_overrides_cps and state.msi_high):
            return f"needs PD-L1 CPS {'/'.join(req.cps)}"
        if req.alteration and req.alteration not in state.known:
            return f"needs a known {req.alteration}"
        blocked = sorted(set(entry.excluded_by) & state.contraindications)
        if blocked:
            return f"contraindicated ({', '.join(blocked)})"
        return None

    def eligible(self, state: State) -> list[str]:
        """Eligible regimens in catalogue order; supportive care is always last."""
        key = (id(self.catalogue), self.include_investigational, self.max_lines, state.line,
               state.her2, state.cps, state.msi_high, state.known, state.contraindications)

        def open_regimens() -> tuple[str, ...]:  # eligible before excluding regimens received
            probe = state.derive(received=frozenset())
            ids = [r for r in self.catalogue.regimens if r != SUPPORTIVE and r in self._offered]
            return tuple(r for r in ids if self.ineligibility(r, probe) is None)

        open_ = self.eligibility.entries.get(key)  # the common case, without a closure call
        if open_ is None:
            open_ = self.eligibility.get_or_make(key, open_regimens)
        return [r for r in open_ if r not in state.received] + [SUPPORTIVE]

    @cached_property
    def _offered(self) -> frozenset[str]:
        return frozenset(r.id for r in self.catalogue.regimens.values() if r.lines)
