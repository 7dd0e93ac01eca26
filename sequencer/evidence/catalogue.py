"""The regimen catalogue (priors/regimens.yaml): ids, drugs, classes and borrowing rules."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, cast

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sequencer.errors import EvidenceError
from sequencer.evidence.formatting import format_validation_error
from sequencer.vocabulary import (
    CPS_BANDS,
    EVIDENCE_LINES,
    HER2_STATUSES,
    MAX_LINE,
    CpsBand,
    EvidenceLevel,
    Her2Status,
    Vocabulary,
    default_vocabulary,
    ids,
)

BorrowRule = Literal["same_regimen_adjacent_line"]


def _vocabulary(info: ValidationInfo) -> Vocabulary:
    """The vocabulary a catalogue is validated against (``load_catalogue`` passes the priors
    directory's; a catalogue built in code uses the packaged one)."""
    context = info.context or {}
    return context.get("vocabulary") or default_vocabulary()


class Borrowing(BaseModel):
    """Permission to use a regimen's estimate at a line its evidence does not cover."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    to_line: int = Field(ge=1, le=EVIDENCE_LINES[-1])
    from_line: int = Field(ge=1, le=EVIDENCE_LINES[-1])
    rule: BorrowRule
    reason: str = Field(min_length=5)

    @model_validator(mode="after")
    def _adjacent(self) -> Borrowing:
        if abs(self.to_line - self.from_line) != 1:
            raise ValueError("same_regimen_adjacent_line borrows from an adjacent line only")
        return self


class Requirements(BaseModel):
    """Biomarker state a patient must have for the regimen to be eligible."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # every status and band by default (the terms are made from these Literal types, but
    # ``ids`` is typed list[str])
    her2: list[Her2Status] = cast(list[Her2Status], ids(HER2_STATUSES))
    cps: list[CpsBand] = cast(list[CpsBand], ids(CPS_BANDS))
    msi_high_overrides_cps: bool = Field(
        default=False, description="MSI-high tumours are eligible whatever their CPS"
    )
    alteration: str | None = Field(
        default=None, description="a known (tested) alteration the regimen is directed at"
    )

    @field_validator("alteration")
    @classmethod
    def _mechanism(cls, value: str | None, info: ValidationInfo) -> str | None:
        allowed = _vocabulary(info).mechanism_ids
        if value is not None and value not in allowed:
            raise ValueError(f"{value!r} is not a mechanism of the vocabulary {list(allowed)}")
        return value


class Regimen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    name: str
    drugs: list[str]
    drug_classes: list[str] = Field(min_length=1)
    effect_class: str
    informed_by: list[str] = Field(
        default_factory=list, description="trial ids whose arms use this regimen"
    )
    borrowing: list[Borrowing] = []
    # Decision-model fields. A regimen with no `lines` is an evidence-only record, never an action.
    lines: list[int] = Field(default_factory=list, description="lines at which it may be given")
    requires: Requirements = Requirements()
    creates: list[str] = Field(
        default_factory=list, description="contraindications it may cause (rates in parameters)"
    )
    excluded_by: list[str] = []
    evidence_level: EvidenceLevel = "early"
    primary_endpoint_met: bool | None = Field(
        default=None, description="for phase III backing: did the pivotal trial meet it"
    )
    evidence_note: str = ""
    investigational: bool = Field(
        default=False, description="mechanism-directed option whose efficacy is an assumption"
    )
    efficacy: Literal["posterior", "parameters", "supportive"] = "posterior"

    @field_validator("creates", "excluded_by")
    @classmethod
    def _contraindications(cls, value: list[str], info: ValidationInfo) -> list[str]:
        allowed = _vocabulary(info).contraindication_ids
        bad = [c for c in value if c not in allowed]
        if bad:
            raise ValueError(f"{bad} not among the vocabulary's contraindications {list(allowed)}")
        return value

    @model_validator(mode="after")
    def _decision_fields(self) -> Regimen:
        bad = [line for line in self.lines if not 1 <= line <= MAX_LINE]
        if bad:
            raise ValueError(f"lines: {bad} outside 1..{MAX_LINE}")
        if self.evidence_level == "phase3" and self.primary_endpoint_met is None and self.lines:
            raise ValueError("primary_endpoint_met: required (true/false) for a phase3 regimen")
        if self.investigational and self.efficacy != "parameters":
            raise ValueError("efficacy: an investigational regimen takes its efficacy from "
                             "priors/parameters.yaml ('parameters')")
        return self

    @property
    def standard(self) -> bool:
        """Guideline-backed, or backed by a phase III trial that met its primary endpoint."""
        if self.investigational:
            return False
        return self.evidence_level == "guideline" or (
            self.evidence_level == "phase3" and bool(self.primary_endpoint_met)
        )


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    effect_classes: dict[str, str]
    regimens: dict[str, Regimen]
    vocabulary: Vocabulary = Field(default_factory=default_vocabulary, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _inject_ids(cls, data: dict) -> dict:
        regimens = data.get("regimens") if isinstance(data, dict) else None
        if isinstance(regimens, dict):
            data = dict(data)
            data["regimens"] = {
                key: ({"id": key, **value} if isinstance(value, dict) else value)
                for key, value in regimens.items()
            }
        return data

    @model_validator(mode="after")
    def _classes_known(self) -> Catalogue:
        for regimen in self.regimens.values():
            if regimen.effect_class not in self.effect_classes:
                raise ValueError(
                    f"regimen '{regimen.id}': effect_class '{regimen.effect_class}' is not one of "
                    f"{sorted(self.effect_classes)}"
                )
        if "chemotherapy" not in self.effect_classes:
            raise ValueError("effect_classes must include 'chemotherapy' (the reference class)")
        return self

    def regimen(self, regimen_id: str) -> Regimen:
        try:
            return self.regimens[regimen_id]
        except KeyError:
            raise EvidenceError(
                f"unknown regimen '{regimen_id}'; known regimens: {sorted(self.regimens)}"
            ) from None


def load_catalogue(path: str | Path, vocabulary: Vocabulary | None = None) -> Catalogue:
    """Read and validate the regimen catalogue against ``vocabulary`` (default: the packaged
    one); errors name the file and the field."""
    path = Path(path)
    if not path.exists():
        raise EvidenceError(f"{path}: regimen catalogue not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EvidenceError(f"{path}: not valid YAML: {exc}") from None
    try:
        vocabulary = vocabulary or default_vocabulary()
        if isinstance(raw, dict):
            raw = {**raw, "vocabulary": vocabulary}
        return Catalogue.model_validate(raw, context={"vocabulary": vocabulary})
    except ValidationError as exc:
        raise EvidenceError(format_validation_error(path, exc, raw)) from None
