"""The values of priors/parameters.yaml as one typed object (``ParameterValues``).

``schema`` says which keys a parameter file must have and which it may have: fixed groups
(one dataclass each, its fields the keys), groups keyed by the vocabulary's resistance mechanisms,
and open groups keyed by drug class, contraindication or regimen. ``check_keys`` validates a
file's keys against it once, at load; ``ParameterValues.from_flat`` builds the typed object of
one set of values (the means, or one joint draw) without further checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType

from sequencer.vocabulary import Vocabulary, evidence_line


@dataclass(frozen=True)
class Prevalence:
    cps_ge1: float
    cps_ge10_given_ge1: float
    msi_high: float


@dataclass(frozen=True)
class LineEnd:
    death_fraction: float
    discontinuation_given_grade3_ae: float


@dataclass(frozen=True)
class Attrition:
    after_line_1: float
    after_line_2: float
    after_line_3: float

    def after(self, line: int) -> float:
        """Share not fit for another active line after line ``line`` (third or later: 3)."""
        return float(getattr(self, f"after_line_{evidence_line(line)}"))


@dataclass(frozen=True)
class SupportiveCare:
    median_os_months: float


@dataclass(frozen=True)
class Testing:
    ngs_sensitivity: float
    her2_heterogeneity: float
    biopsy_miss_if_heterogeneous: float
    ctdna_sensitivity: float
    ctdna_attrition_relative_risk: float


@dataclass(frozen=True)
class Utility:
    first_line: float
    later_line: float
    supportive_care: float
    grade3_ae_disutility: float
    grade3_ae_duration_months: float

    def on_line(self, line: int) -> float:
        return self.first_line if line == 1 else self.later_line

    @property
    def grade3_ae_qaly_loss(self) -> float:
        """QALYs lost per grade >= 3 AE episode."""
        return self.grade3_ae_disutility * self.grade3_ae_duration_months / 12


@dataclass(frozen=True)
class Costs:
    administration_per_attendance: float
    grade3_ae_episode: float
    supportive_care_per_month: float
    ngs_panel: float
    rebiopsy: float
    ctdna_per_month: float


@dataclass(frozen=True)
class RegimenCost:
    drug_per_month: float
    administrations_per_month: float


@dataclass(frozen=True)
class InvestigationalEfficacy:
    hazard_ratio_vs_paclitaxel: float
    grade3_ae: float


@dataclass(frozen=True)
class Acquisition:
    """Acquired by the first progression on anti-HER2 therapy: HER2 loss (and the share of it
    that is to IHC 0) and each resistance mechanism."""

    her2_loss: float
    her2_loss_to_ihc0: float
    mechanisms: Mapping[str, float]


FIXED_GROUPS: dict[str, type] = {
    "prevalence": Prevalence, "line_end": LineEnd, "attrition": Attrition,
    "supportive_care": SupportiveCare, "testing": Testing, "utility": Utility, "cost": Costs,
}
HER2_LOSS = "her2_loss"
_ACQUISITION_FIXED = ("her2_loss", "her2_loss_to_ihc0")
#: groups with one key per mechanism (``mechanism_modifier`` also has ``her2_loss``)
MECHANISM_GROUPS = ("baseline_alteration", "acquisition", "mechanism_modifier")
#: open groups: keyed by drug class, contraindication and drug class, or regimen
OPEN_GROUPS = ("prior_exposure_modifier", "contraindication_rate", "regimen_cost",
               "grade3_ae_fallback", "investigational")
REGIMEN_FIELDS = {"regimen_cost": RegimenCost, "investigational": InvestigationalEfficacy}


def field_names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def required_keys(vocabulary: Vocabulary) -> list[str]:
    """Every key a parameter file must have for this vocabulary."""
    keys = [f"{group}.{name}" for group, cls in FIXED_GROUPS.items() for name in field_names(cls)]
    mechanisms = vocabulary.mechanism_ids
    keys += [f"baseline_alteration.{m}" for m in mechanisms]
    keys += [f"acquisition.{m}" for m in (*_ACQUISITION_FIXED, *mechanisms)]
    keys += [f"mechanism_modifier.{m}" for m in (HER2_LOSS, *mechanisms)]
    return keys


def key_problem(key: str, vocabulary: Vocabulary, regimens: Iterable[str] | None = None,
                drug_classes: Iterable[str] | None = None) -> str | None:
    """Why ``key`` is not a parameter this vocabulary (and catalogue) knows; ``None`` if it is.
    Regimen ids and drug classes are checked when given."""
    parts = key.split(".")
    group = parts[0]
    regimens = None if regimens is None else set(regimens)
    drug_classes = None if drug_classes is None else set(drug_classes)

    def regimen_ok(name: str) -> str | None:
        if regimens is not None and name not in regimens:
            return f"'{name}' is not a regimen of the catalogue"
        return None

    def drug_class_ok(name: str) -> str | None:
        if drug_classes is not None and name not in drug_classes:
            return f"'{name}' is not a drug class of the catalogue's regimens"
        return None

    if group in FIXED_GROUPS or group in MECHANISM_GROUPS:
        if key in required_keys(vocabulary):
            return None
        if group in MECHANISM_GROUPS:
            return (f"'{parts[-1]}' is not a resistance mechanism of the vocabulary "
                    f"{list(vocabulary.mechanism_ids)}")
        return f"not one of {group}'s keys {field_names(FIXED_GROUPS[group])}"
    if group == "prior_exposure_modifier" and len(parts) == 2:
        return drug_class_ok(parts[1])
    if group == "grade3_ae_fallback" and len(parts) == 2:
        return regimen_ok(parts[1])
    if group == "contraindication_rate" and len(parts) == 3:
        if parts[1] not in vocabulary.contraindication_ids:
            return (f"'{parts[1]}' is not a contraindication of the vocabulary "
                    f"{list(vocabulary.contraindication_ids)}")
        return drug_class_ok(parts[2])
    if group in REGIMEN_FIELDS and len(parts) == 3:
        allowed = field_names(REGIMEN_FIELDS[group])
        if parts[2] not in allowed:
            return f"not one of {allowed}"
        return regimen_ok(parts[1])
    return (f"unknown parameter; groups: {sorted([*FIXED_GROUPS, *MECHANISM_GROUPS, *OPEN_GROUPS])}"
            " (open groups: prior_exposure_modifier.<drug class>, "
            "contraindication_rate.<contraindication>.<drug class>, "
            "regimen_cost.<regimen>.<field>, "
            "grade3_ae_fallback.<regimen>, investigational.<regimen>.<field>)")


def _frozen(mapping: dict) -> Mapping:
    return MappingProxyType(mapping)


@dataclass(frozen=True)
class ParameterValues:
    """One set of values of the parameter file (its means, or one joint draw)."""

    prevalence: Prevalence
    baseline_alteration: Mapping[str, float]
    acquisition: Acquisition
    mechanism_modifier: Mapping[str, float]  # the mechanisms' and "her2_loss"
    line_end: LineEnd
    attrition: Attrition
    supportive_care: SupportiveCare
    testing: Testing
    utility: Utility
    cost: Costs
    prior_exposure_modifier: Mapping[str, float]
    contraindication_rate: Mapping[str, Mapping[str, float]]
    regimen_cost: Mapping[str, RegimenCost]
    grade3_ae_fallback: Mapping[str, float]
    investigational: Mapping[str, InvestigationalEfficacy]
    flat: Mapping[str, float]  # dotted key -> value, in file order (PSA records, EVPPI groups)

    @classmethod
    def from_flat(cls, flat: Mapping[str, float], vocabulary: Vocabulary) -> ParameterValues:
        """The typed values of a flat ``{dotted key: value}`` whose keys ``check_keys`` passed."""
        fixed = {group: kind(**{n: flat[f"{group}.{n}"] for n in field_names(kind)})
                 for group, kind in FIXED_GROUPS.items()}
        mechanisms = vocabulary.mechanism_ids
        open_: dict[str, dict] = {group: {} for group in OPEN_GROUPS}
        for key, value in flat.items():
            parts = key.split(".")
            if parts[0] in ("prior_exposure_modifier", "grade3_ae_fallback"):
                open_[parts[0]][parts[1]] = value
            elif parts[0] == "contraindication_rate" or parts[0] in REGIMEN_FIELDS:
                open_[parts[0]].setdefault(parts[1], {})[parts[2]] = value
        return cls(
            baseline_alteration=_frozen({m: flat[f"baseline_alteration.{m}"] for m in mechanisms}),
            acquisition=Acquisition(flat["acquisition.her2_loss"],
                                    flat["acquisition.her2_loss_to_ihc0"],
                                    _frozen({m: flat[f"acquisition.{m}"] for m in mechanisms})),
            mechanism_modifier=_frozen({m: flat[f"mechanism_modifier.{m}"]
                                        for m in (HER2_LOSS, *mechanisms)}),
            prior_exposure_modifier=_frozen(open_["prior_exposure_modifier"]),
            contraindication_rate=_frozen({c: _frozen(rates) for c, rates
                                           in open_["contraindication_rate"].items()}),
            regimen_cost=_frozen({r: RegimenCost(**v) for r, v in open_["regimen_cost"].items()}),
            grade3_ae_fallback=_frozen(open_["grade3_ae_fallback"]),
            investigational=_frozen({r: InvestigationalEfficacy(**v)
                                     for r, v in open_["investigational"].items()}),
            flat=_frozen(dict(flat)),
            **fixed,
        )
