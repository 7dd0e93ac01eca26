"""Pydantic schema of one trial's evidence file (see priors/evidence/README.md).

The models check what a single file can check on its own: types, units, that a confidence
interval contains its estimate, proportions in [0, 1], arm ids unique and contrasts naming arms
of the same population. Cross-file checks (regimen ids against the catalogue) live in
``sequencer.evidence.load``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Phase = Literal["1", "1b", "1/2", "2", "2/3", "3"]
Design = Literal["randomised", "single-arm"]
Region = Literal["global", "asia", "china", "japan", "korea", "western"]
Her2Status = Literal["positive", "low", "mixed"]
CpsBand = Literal["all", ">=1", "<1", ">=10"]
Endpoint = Literal["os", "pfs"]
AeDefinition = Literal["treatment-related", "all-cause"]

ENDPOINTS: tuple[Endpoint, ...] = ("pfs", "os")
LINES: tuple[int, ...] = (1, 2, 3)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Citation(_Strict):
    authors: str
    title: str | None = None
    journal: str
    year: int = Field(ge=1990, le=2030)
    doi: str | None = None
    seed: str | None = Field(None, description="where the seed reviews cite this publication")


class Population(_Strict):
    her2: Her2Status = "positive"
    cps: CpsBand = "all"

    @property
    def label(self) -> str:
        return f"her2={self.her2},cps={self.cps}"


def _check_interval(
    estimate: float | None, lower: float | None, upper: float | None, upper_nr: bool = False
) -> None:
    if upper_nr and upper is not None:
        raise ValueError("`upper` given although `upper_not_reached` is true")
    if upper_nr and lower is None:
        raise ValueError("`upper_not_reached` needs the `lower` bound")
    if (lower is None) != (upper is None) and not upper_nr:
        raise ValueError(
            "give both `lower` and `upper` of the 95% CI, or neither (or `lower` with "
            "`upper_not_reached: true`)"
        )
    if lower is None:
        return
    if estimate is None:
        raise ValueError("a 95% CI was given without its estimate")
    if lower > estimate or (upper is not None and estimate > upper):
        raise ValueError(f"95% CI [{lower}, {upper}] does not contain the estimate {estimate}")


class SurvivalSummary(_Strict):
    """Median time to event in months, its 95% CI and the number of events."""

    median: float | None = Field(None, gt=0, le=240, description="months")
    lower: float | None = Field(None, gt=0, le=240, description="months")
    upper: float | None = Field(None, gt=0, le=240, description="months")
    upper_not_reached: bool = Field(False, description="upper CI bound not reached (NE)")
    events: int | None = Field(None, ge=0)
    not_reached: bool = Field(False, description="median not reached at the data cut")

    @model_validator(mode="after")
    def _ci_contains_median(self) -> SurvivalSummary:
        _check_interval(self.median, self.lower, self.upper, self.upper_not_reached)
        if self.not_reached and self.median is not None:
            raise ValueError("`median` given although `not_reached` is true")
        if self.median is None and self.events is None and not self.not_reached:
            raise ValueError("empty survival summary: give a median, events or not_reached")
        return self


class Response(_Strict):
    proportion: float = Field(ge=0, le=1)
    evaluable: int | None = Field(None, gt=0)
    responders: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _counts_agree(self) -> Response:
        if (
            self.responders is not None and self.evaluable is not None
            and self.responders > self.evaluable
        ):
            raise ValueError("responders exceed evaluable patients")
        return self


class AdverseEvents(_Strict):
    proportion: float = Field(ge=0, le=1)
    definition: AeDefinition


class NamedAdverseEvent(_Strict):
    name: str = Field(min_length=2, description="ild | neuropathy | cardiac | other")
    grade: Literal["any", ">=3"] = "any"
    proportion: float = Field(ge=0, le=1)


class Arm(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    regimen: str
    population: Population = Population()
    n: int | None = Field(None, gt=0, description="patients; absent only if unpublished")
    os: SurvivalSummary | None = None
    pfs: SurvivalSummary | None = None
    orr: Response | None = None
    grade3_ae: AdverseEvents | None = None
    named_aes: list[NamedAdverseEvent] = []
    source: str | None = None

    @model_validator(mode="after")
    def _counts_within_n(self) -> Arm:
        for name in ENDPOINTS:
            summary = getattr(self, name)
            if (
                summary is not None and summary.events is not None and self.n is not None
                and summary.events > self.n
            ):
                raise ValueError(f"{name}.events ({summary.events}) exceeds n ({self.n})")
        evaluable = None if self.orr is None else self.orr.evaluable
        if evaluable is not None and self.n is not None and evaluable > self.n:
            raise ValueError(f"orr.evaluable ({evaluable}) exceeds n ({self.n})")
        return self

    def survival(self, endpoint: Endpoint) -> SurvivalSummary | None:
        return getattr(self, endpoint)


class Contrast(_Strict):
    endpoint: Endpoint
    experimental: str
    reference: str
    hr: float = Field(gt=0, le=20)
    lower: float | None = Field(None, gt=0, le=20)
    upper: float | None = Field(None, gt=0, le=20)
    ci_level: float = Field(0.95, gt=0.5, lt=1, description="level of the published CI")
    p_value: float | None = Field(None, gt=0, le=1, description="two-sided, as published")
    source: str | None = None

    @model_validator(mode="after")
    def _ci_contains_hr(self) -> Contrast:
        _check_interval(self.hr, self.lower, self.upper)
        if self.experimental == self.reference:
            raise ValueError("experimental and reference arms are the same")
        return self


class TrialRecord(_Strict):
    trial: str = Field(min_length=2)
    phase: Phase
    design: Design
    line: int = Field(ge=1, le=3, description="1, 2 or 3 (third or later)")
    line_note: str | None = None
    region: Region
    setting: str | None = None
    analysis: str | None = None
    followup_months: float | None = Field(None, gt=0, le=240)
    citation: Citation
    arms: list[Arm] = Field(min_length=1)
    contrasts: list[Contrast] = []
    notes: list[str] = []

    @model_validator(mode="after")
    def _arms_and_contrasts_consistent(self) -> TrialRecord:
        ids = [arm.id for arm in self.arms]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"arm ids must be unique within a trial; repeated: {dupes}")
        by_id = {arm.id: arm for arm in self.arms}
        for k, contrast in enumerate(self.contrasts):
            for role in ("experimental", "reference"):
                arm_id = getattr(contrast, role)
                if arm_id not in by_id:
                    raise ValueError(
                        f"contrasts[{k}].{role}: arm '{arm_id}' is not an arm of this trial "
                        f"(arms: {ids})"
                    )
            exp, ref = by_id[contrast.experimental], by_id[contrast.reference]
            if exp.population != ref.population:
                raise ValueError(
                    f"contrasts[{k}]: arms '{exp.id}' ({exp.population.label}) and '{ref.id}' "
                    f"({ref.population.label}) are not in the same population"
                )
        if self.design == "single-arm" and self.contrasts:
            raise ValueError("a single-arm trial cannot report a randomised contrast")
        return self

    def arm(self, arm_id: str) -> Arm:
        for arm in self.arms:
            if arm.id == arm_id:
                return arm
        raise KeyError(arm_id)
