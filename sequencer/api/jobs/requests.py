"""Request bodies of the jobs, and how each becomes a study or trial specification."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sequencer.simulate.study import StudySpec
from sequencer.simulate.trial import TrialSpec
from sequencer.vocabulary import INFORMATION_TESTS, ObjectiveId, ids


class CohortStudyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strategies: list[str] = Field(["optimal", "guideline"], min_length=1, max_length=8)
    draws: int = Field(200, ge=1, le=5000)
    patients: int = Field(10_000, ge=1, le=100_000)
    seed: int = Field(2026, ge=0, le=2**32 - 1)
    chunk: int = Field(10_000, ge=100, le=100_000)
    objective: ObjectiveId = "qaly"
    wtp: float = Field(30_000.0, ge=0, le=1e7)
    baseline_ngs: bool = False
    ctdna: bool = False
    rebiopsy: bool = False
    investigational: bool = False
    reference: str | None = None

    def spec(self) -> StudySpec:
        info = ",".join(n for n in ids(INFORMATION_TESTS) if getattr(self, n))
        return StudySpec(tuple(self.strategies), self.draws, self.patients, self.seed,
                         self.chunk, self.objective, self.wtp, info or "none",
                         self.investigational, histories=1000)


class TrialRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    arm_a: str
    arm_b: str
    n_per_arm: int = Field(300, ge=2, le=5000)
    accrual_months: float = Field(24.0, gt=0, le=240)
    follow_up_months: float = Field(12.0, gt=0, le=240)
    reps: int = Field(2000, ge=1, le=20_000)
    draws: int = Field(100, ge=1, le=2000)
    alpha: float = Field(0.05, gt=0, lt=1)
    target_power: float = Field(0.8, gt=0, lt=1)
    n_max: int = Field(1000, ge=2, le=5000)
    seed: int = Field(2026, ge=0, le=2**32 - 1)

    def spec(self) -> TrialSpec:
        return TrialSpec(self.arm_a, self.arm_b, self.n_per_arm, self.accrual_months,
                         self.follow_up_months, self.reps, self.seed, self.draws, self.alpha,
                         self.target_power, max(self.n_max, self.n_per_arm))
