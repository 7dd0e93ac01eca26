"""Public response schemas of the read-only routes (request schemas live with their routes)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from sequencer.evidence.catalogue import Regimen
from sequencer.evidence.schema import TrialRecord
from sequencer.model.load import ModelSources

CAVEAT = ("Decision support for clinicians, not a prescription. Estimates come from trial-level "
          "evidence and stated assumptions; check each regimen's evidence level.")


class RegimenOut(BaseModel):
    id: str
    name: str
    drugs: list[str]
    drug_classes: list[str]
    lines: list[int]
    evidence_level: str
    standard: bool  # guideline or positive phase III: offered by default
    investigational: bool  # opt-in only
    requires_her2: list[str]
    requires_cps: list[str]
    requires_alteration: str | None
    informed_by: list[str]
    evidence_note: str

    @classmethod
    def from_regimen(cls, r: Regimen) -> RegimenOut:
        return cls(id=r.id, name=r.name, drugs=r.drugs, drug_classes=r.drug_classes,
                   lines=r.lines, evidence_level=r.evidence_level, standard=r.standard,
                   investigational=r.investigational, requires_her2=list(r.requires.her2),
                   requires_cps=list(r.requires.cps), requires_alteration=r.requires.alteration,
                   informed_by=r.informed_by, evidence_note=r.evidence_note)


class EvidenceSummary(BaseModel):
    trial: str
    phase: str
    design: str
    line: int
    regimens: list[str]
    citation: str
    doi: str | None

    @classmethod
    def from_trial(cls, t: TrialRecord) -> EvidenceSummary:
        c = t.citation
        return cls(trial=t.trial, phase=t.phase, design=t.design, line=t.line,
                   regimens=sorted({a.regimen for a in t.arms}),
                   citation=f"{c.authors} {c.title}. {c.journal} {c.year}.",
                   doi=getattr(c, "doi", None))


class TrialOut(EvidenceSummary):
    setting: str
    analysis: str
    arms: list[dict]
    contrasts: list[dict]
    notes: list[str]

    @classmethod
    def from_trial(cls, t: TrialRecord) -> TrialOut:
        base = EvidenceSummary.from_trial(t).model_dump()
        return cls(**base, setting=t.setting, analysis=t.analysis,
                   arms=[a.model_dump(mode="json") for a in t.arms],
                   contrasts=[c.model_dump(mode="json") for c in t.contrasts], notes=t.notes)


class ModelOut(BaseModel):
    model_config = ConfigDict(protected_namespaces=())
    sequencer_version: str
    posterior: str
    posterior_draws: int
    evidence_sha256: str
    model_config_sha256: str
    parameters: str
    parameters_sha256: str
    trials: int
    regimens: int
    caveat: str = CAVEAT

    @classmethod
    def from_sources(cls, sources: ModelSources) -> ModelOut:
        p = sources.provenance()
        p["posterior"] = Path(p["posterior"]).name  # file names, not the server's paths
        p["parameters"] = Path(p["parameters"]).name
        return cls(**p, posterior_draws=sources.posterior.n_draws,
                   trials=len(sources.evidence.trials),
                   regimens=sum(1 for r in sources.evidence.catalogue.regimens.values() if r.lines))
