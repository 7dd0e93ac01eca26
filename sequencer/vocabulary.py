"""The domain's vocabulary: every enumeration and predicate the stages share, in one place.

Two kinds of terms:

* fixed ones, which the model's structure depends on and which are defined here: HER2 statuses
  and the consensus rule that gives them from IHC and ISH, PD-L1 CPS bands, lines of therapy and
  the evidence line each one uses, ECOG performance status, objective kinds and their weights
  over the reward parts, evidence levels, the sources of a test result, the drug classes that
  target HER2 and the predicates over regimens built on them;
* open ones, which grow with the evidence and are data: resistance mechanisms and acquired
  contraindications, read from ``priors/vocabulary.yaml`` (``load_vocabulary``).

A ``Vocabulary`` holds the open lists and serves both kinds (``as_json``); the request schema
(``sequencer.api.request_schemas``), the clinician
page (``GET /v1/vocabulary``), the CLI's choices, the parameters a model requires
(``sequencer.model.parameters``) and the catalogue's validation all derive from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sequencer.errors import SequencerError

if TYPE_CHECKING:  # pragma: no cover
    from sequencer.evidence.catalogue import Regimen

DEFAULT_VOCABULARY_FILE = Path(__file__).resolve().parents[1] / "priors" / "vocabulary.yaml"


class VocabularyError(SequencerError):
    """priors/vocabulary.yaml is malformed, or a value is not a term of the vocabulary."""


@dataclass(frozen=True)
class Term:
    """One allowed value: its id (what the API, files and the model use) and its label."""

    id: str
    label: str


# ---- fixed terms ---------------------------------------------------------------------------
Her2Status = Literal["positive", "low", "negative"]
Her2Ihc = Literal["0", "1+", "2+", "3+"]
Her2Ish = Literal["positive", "negative"]
CpsBand = Literal["<1", "1-9", ">=10"]
AlterationSource = Literal["tissue_ngs", "ctdna", "tissue_rebiopsy"]
EvidenceLevel = Literal["guideline", "phase3", "phase2", "early"]
ObjectiveId = Literal["ly", "qaly", "nmb"]


def _terms(kind: object, labels: dict[str, str]) -> tuple[Term, ...]:
    """The terms of a ``Literal`` type, in its order, each with its label (all labelled)."""
    values = get_args(kind)
    if set(values) != set(labels):
        raise VocabularyError(f"labels {sorted(labels)} do not match the terms {list(values)}")
    return tuple(Term(v, labels[v]) for v in values)


HER2_STATUSES = _terms(Her2Status, {
    "positive": "HER2-positive (IHC 3+, or 2+ with ISH amplification)",
    "low": "HER2-low (IHC 1+, or 2+ without amplification)",
    "negative": "HER2-negative (IHC 0)"})
#: the statuses' ids, typed (``ids(HER2_STATUSES)`` as ``Her2Status`` values)
HER2_STATUS_IDS: tuple[Her2Status, ...] = get_args(Her2Status)
HER2_IHC = _terms(Her2Ihc, {v: v for v in get_args(Her2Ihc)})
HER2_ISH = _terms(Her2Ish, {"positive": "positive (amplified)",
                            "negative": "negative (not amplified)"})
#: decision-model PD-L1 CPS bands, each with the lowest CPS it holds
CPS_BANDS = _terms(CpsBand, {"<1": "CPS < 1", "1-9": "CPS 1-9", ">=10": "CPS >= 10"})
CPS_BAND_IDS: tuple[CpsBand, ...] = get_args(CpsBand)  # ``ids(CPS_BANDS)``, typed
_CPS_LOWER = {"<1": 0.0, "1-9": 1.0, ">=10": 10.0}
#: PD-L1 populations trial arms report (the Bayesian model's CPS modifiers, first = reference)
CPS_POPULATIONS: tuple[str, ...] = ("all", ">=1", "<1", ">=10")
# No trial arm in the evidence base reports CPS >= 10, so that band uses the CPS >= 1 estimate
# (the posterior's >= 10 modifier is prior-only).
_CPS_POPULATION_OF_BAND = {"<1": "<1", "1-9": ">=1", ">=10": ">=1"}
LINES: tuple[int, ...] = (1, 2, 3, 4)
MAX_LINE = LINES[-1]
#: the trials' lines: first, second, third or later (a fourth line uses third-line evidence)
EVIDENCE_LINES: tuple[int, ...] = (1, 2, 3)
DEFAULT_MAX_LINES = 3  # active lines a cohort model offers before supportive care
ECOG: tuple[Term, ...] = (
    Term("0", "0: fully active"), Term("1", "1: restricted in strenuous activity"),
    Term("2", "2: ambulatory, up more than half the day"),
    Term("3", "3: capable of limited self-care only"), Term("4", "4: completely disabled"),
)
#: ECOG at or above this: not fit for anticancer therapy (the trials enrolled ECOG 0-1, some 2)
ECOG_UNFIT = 3
ALTERATION_SOURCES = _terms(AlterationSource, {"tissue_ngs": "tissue NGS", "ctdna": "ctDNA",
                                               "tissue_rebiopsy": "tissue re-biopsy"})
#: what is tested: NGS at diagnosis, ctDNA surveillance, tissue re-biopsy at progression
INFORMATION_TESTS: tuple[Term, ...] = (Term("baseline_ngs", "NGS at diagnosis"),
                                       Term("ctdna", "ctDNA surveillance"),
                                       Term("rebiopsy", "tissue re-biopsy at progression"))
EVIDENCE_LEVELS: tuple[str, ...] = get_args(EvidenceLevel)
#: the parts of a line's reward, in the order of ``DecisionModel.reward``'s columns
REWARD_PARTS: tuple[str, ...] = ("ly", "qaly", "cost", "toxicity")
#: the parts a budget may limit (``Budget``), each a reward part
BUDGET_PARTS: tuple[str, ...] = ("toxicity", "cost")


@dataclass(frozen=True)
class ObjectiveKind:
    """An objective: its weights over ``REWARD_PARTS``; ``"wtp"`` stands for the query's
    willingness to pay per QALY."""

    id: str
    label: str
    weights: tuple[float | Literal["wtp"], ...]
    summary: str  # what is maximised; ``{wtp}`` is replaced by the willingness to pay
    uses_wtp: bool = False

    def weight_vector(self, willingness_to_pay: float) -> np.ndarray:
        return np.array([willingness_to_pay if w == "wtp" else float(w) for w in self.weights])


OBJECTIVE_KINDS: tuple[ObjectiveKind, ...] = (  # in the order of ``ObjectiveId``
    ObjectiveKind("ly", "Life-years", (1.0, 0.0, 0.0, 0.0), "discounted life-years"),
    ObjectiveKind("qaly", "Quality-adjusted life-years (QALYs)", (0.0, 1.0, 0.0, 0.0),
                  "discounted QALYs"),
    # net monetary benefit, wtp x QALY - cost (Stinnett and Mullahy, Med Decis Making 1998)
    ObjectiveKind("nmb", "Net monetary benefit", (0.0, "wtp", -1.0, 0.0),
                  "net monetary benefit at {wtp} per QALY", uses_wtp=True),
)

if tuple(o.id for o in OBJECTIVE_KINDS) != get_args(ObjectiveId):
    raise VocabularyError("OBJECTIVE_KINDS and ObjectiveId list different objectives")

# ---- drug classes and regimen predicates ---------------------------------------------------
#: drug classes that target HER2: progression on one is progression on anti-HER2 therapy
HER2_DRUG_CLASSES = frozenset({"anti_her2_antibody", "her2_adc", "her2_tki"})
PD1_DRUG_CLASS = "anti_pd1"
SUPPORTIVE_CARE = "best_supportive_care"


def is_her2_directed(regimen: Regimen) -> bool:
    """The regimen holds a drug that targets HER2 (an antibody, an ADC or a kinase inhibitor)."""
    return bool(HER2_DRUG_CLASSES.intersection(regimen.drug_classes))


def has_trial_her2_effect(regimen: Regimen) -> bool:
    """HER2-directed with its efficacy from the trials: the effect the resistance modifiers and
    HER2 loss act on (a mechanism-directed regimen's efficacy is an assumption of its own)."""
    return is_her2_directed(regimen) and regimen.efficacy == "posterior"


def her2_status(ihc: str, ish: str | None) -> str:
    """HER2 status by the consensus rule for gastric cancer (Bartley et al., J Clin Oncol
    2017;35:446): IHC 3+, or 2+ with ISH amplification, is positive; 2+ without amplification
    or 1+ is low; 0 is negative. IHC 2+ needs an ISH result."""
    allowed = [t.id for t in HER2_IHC]
    if ihc not in allowed:
        raise VocabularyError(f"her2_ihc: {ihc!r} is not one of {allowed}")
    if ihc == "2+" and ish not in ("positive", "negative"):
        raise VocabularyError("her2_ish: required when her2_ihc is 2+ (positive or negative)")
    if ihc == "3+" or (ihc == "2+" and ish == "positive"):
        return "positive"
    if ihc in ("2+", "1+"):
        return "low"
    return "negative"


def cps_band(cps: float) -> str:
    """The decision model's band of a PD-L1 combined positive score."""
    if not cps >= 0:
        raise VocabularyError(f"pdl1_cps: {cps} must be a number >= 0")
    return [band for band, lower in _CPS_LOWER.items() if cps >= lower][-1]


def cps_population(band: str) -> str:
    """The trial population whose estimate a CPS band uses (see ``CPS_POPULATIONS``)."""
    return _CPS_POPULATION_OF_BAND[band]


def evidence_line(line: int) -> int:
    """The trials' line a line of therapy takes its estimates from (third or later: 3)."""
    return min(int(line), EVIDENCE_LINES[-1])


def fit_for_treatment(ecog: int) -> bool:
    """ECOG 0-2: fit for anticancer therapy; 3-4: best supportive care is usually preferred."""
    return ecog < ECOG_UNFIT


def objective_kind(kind: str) -> ObjectiveKind:
    for entry in OBJECTIVE_KINDS:
        if entry.id == kind:
            return entry
    raise VocabularyError(f"objective: {kind!r} is not one of {ids(OBJECTIVE_KINDS)}")


def ids(terms: Iterable[Term | ObjectiveKind]) -> list[str]:
    return [t.id for t in terms]


# ---- the open lists ------------------------------------------------------------------------
class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = Field(min_length=2)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    mechanisms: dict[str, _Entry] = Field(min_length=1)
    contraindications: dict[str, _Entry] = Field(min_length=1)

    @field_validator("mechanisms", "contraindications")
    @classmethod
    def _identifiers(cls, value: dict[str, _Entry]) -> dict[str, _Entry]:
        bad = [k for k in value if not k.isidentifier() or k != k.lower()]
        if bad:
            raise ValueError(f"ids must be lower-case identifiers (letters, digits, _): {bad}")
        if "her2_loss" in value:
            raise ValueError("'her2_loss' is built in (HER2 status), not a mechanism id")
        return value


@dataclass(frozen=True)
class Vocabulary:
    """The open lists (from a vocabulary file) beside the fixed terms of this module."""

    mechanisms: tuple[Term, ...]
    contraindications: tuple[Term, ...]
    path: str = ""

    @property
    def mechanism_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.mechanisms)

    @property
    def contraindication_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.contraindications)

    def as_json(self) -> dict:
        """Every term with its label, for the clinician page and API clients."""
        def terms(seq: Iterable[Term]) -> list[dict[str, str]]:
            return [{"id": t.id, "label": t.label} for t in seq]
        return {
            "her2_ihc": terms(HER2_IHC), "her2_ish": terms(HER2_ISH),
            "her2_statuses": terms(HER2_STATUSES), "cps_bands": terms(CPS_BANDS),
            "lines": [{"id": line, "label": f"{line}" + (" (first line)" if line == 1 else "")}
                      for line in LINES],
            "ecog": [{"id": int(t.id), "label": t.label} for t in ECOG],
            "mechanisms": terms(self.mechanisms),
            "alteration_sources": terms(ALTERATION_SOURCES),
            "contraindications": terms(self.contraindications),
            "objectives": [{"id": o.id, "label": o.label, "uses_willingness_to_pay": o.uses_wtp}
                           for o in OBJECTIVE_KINDS],
            "information_tests": terms(INFORMATION_TESTS),
            "evidence_levels": list(EVIDENCE_LEVELS),
        }


def load_vocabulary(path: str | Path = DEFAULT_VOCABULARY_FILE) -> Vocabulary:
    """Read and validate a vocabulary file; errors name the file and the entry."""
    path = Path(path)
    if not path.exists():
        raise VocabularyError(f"{path}: vocabulary file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = _File.model_validate(raw)
    except yaml.YAMLError as exc:
        raise VocabularyError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors())
        raise VocabularyError(f"{path}: {problems}") from None
    return Vocabulary(
        tuple(Term(k, v.label) for k, v in parsed.mechanisms.items()),
        tuple(Term(k, v.label) for k, v in parsed.contraindications.items()),
        str(path),
    )


@lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    """The vocabulary of the packaged priors (``priors/vocabulary.yaml``)."""
    return load_vocabulary(DEFAULT_VOCABULARY_FILE)


def vocabulary_for(priors_dir: str | Path) -> Vocabulary:
    """The vocabulary of a priors directory: its ``vocabulary.yaml``."""
    return load_vocabulary(Path(priors_dir) / "vocabulary.yaml")
