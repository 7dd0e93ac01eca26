"""The regimen catalogue (priors/regimens.yaml): ids, drugs, classes and borrowing rules."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sequencer.errors import EvidenceError
from sequencer.evidence.formatting import format_validation_error

BorrowRule = Literal["same_regimen_adjacent_line"]


class Borrowing(BaseModel):
    """Permission to use a regimen's estimate at a line its evidence does not cover."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    to_line: int = Field(ge=1, le=3)
    from_line: int = Field(ge=1, le=3)
    rule: BorrowRule
    reason: str = Field(min_length=5)

    @model_validator(mode="after")
    def _adjacent(self) -> Borrowing:
        if abs(self.to_line - self.from_line) != 1:
            raise ValueError("same_regimen_adjacent_line borrows from an adjacent line only")
        return self


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


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    effect_classes: dict[str, str]
    regimens: dict[str, Regimen]

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


def load_catalogue(path: str | Path) -> Catalogue:
    """Read and validate the regimen catalogue; errors name the file and the field."""
    path = Path(path)
    if not path.exists():
        raise EvidenceError(f"{path}: regimen catalogue not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EvidenceError(f"{path}: not valid YAML: {exc}") from None
    try:
        return Catalogue.model_validate(raw)
    except ValidationError as exc:
        raise EvidenceError(format_validation_error(path, exc, raw)) from None
