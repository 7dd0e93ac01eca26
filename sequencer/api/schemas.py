"""Public response schemas (request schemas live with their routes) and the error responses
the routes declare in OpenAPI."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, TypeAdapter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sequencer.evidence.catalogue import Regimen
from sequencer.evidence.formatting import citation_text
from sequencer.evidence.schema import TrialRecord
from sequencer.model.load import ModelSources
from sequencer.solve.recommendation import CAVEAT
from sequencer.vocabulary import Her2Status


def cached_json(request: Request, sources: ModelSources, key: str, schema: Any,
                make: Callable[[], Any]) -> Response:
    """A response that depends only on the loaded model (catalogue, evidence, versions): made,
    checked against ``schema`` and serialised once, then served as bytes."""
    cache: dict[str, bytes]  # key -> serialised response
    owner, cache = getattr(request.app.state, "static_json", None) or (None, {})
    if owner is not sources:
        owner, cache = sources, {}
        request.app.state.static_json = (owner, cache)
    content = cache.get(key)
    if content is None:
        adapter = TypeAdapter(schema)
        content = cache[key] = adapter.dump_json(adapter.validate_python(make()))
    return Response(content, media_type="application/json")


class TermOut(BaseModel):
    id: str
    label: str


class LineTerm(BaseModel):
    id: int
    label: str


class ObjectiveTerm(TermOut):
    uses_willingness_to_pay: bool


class VocabularyOut(BaseModel):
    """Every value a request may use, with the label to show for it."""

    her2_ihc: list[TermOut]
    her2_ish: list[TermOut]
    her2_statuses: list[TermOut]
    cps_bands: list[TermOut]
    lines: list[LineTerm]
    ecog: list[LineTerm]
    mechanisms: list[TermOut]
    alteration_sources: list[TermOut]
    contraindications: list[TermOut]
    objectives: list[ObjectiveTerm]
    information_tests: list[TermOut]
    evidence_levels: list[str]


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
                   citation=citation_text(c),
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


class ErrorOut(BaseModel):
    detail: str


# extra OpenAPI responses of a route, as FastAPI types its ``responses`` argument
Responses = dict[int | str, dict[str, Any]]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


BAD_BODY: Responses = {400: _error("the body could not be decoded (not UTF-8 JSON)")}
UNAUTHORIZED: Responses = {401: _error("missing or unknown X-API-Key header")}
NOT_FOUND: Responses = {404: _error("no such item; the message lists the known ones")}
TOO_LARGE: Responses = {413: _error("request body larger than the configured limit")}


def _json_safe(value: Any) -> Any:
    """Non-finite floats as text and lone surrogates escaped: what strict JSON can carry."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_json_safe(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 answer, but one that can always be rendered: the default echoes each bad
    ``input`` and fails (500) on NaN, Infinity or a lone surrogate such as ``"\\ud800"``."""
    return JSONResponse(status_code=422,
                        content={"detail": _json_safe(jsonable_encoder(exc.errors()))})


class Interval(BaseModel):
    """A point estimate (posterior and parameter means) and a 95% credible interval."""
    estimate: float
    lower: float
    upper: float
    draws: int


class AlternativeOut(BaseModel):
    regimen: str
    name: str
    recommended: bool
    evidence_level: str
    objective_value: float
    life_years: Interval
    qalys: Interval
    median_months_on_line: Interval
    probability_grade3_ae: Interval
    evidence: str


class PlanNode(BaseModel):
    """One step of the adaptive plan. ``probability`` (of reaching this step from its parent)
    is absent at the root; the per-line probabilities are absent at the last step shown."""
    probability: float | None = None
    line: int
    state: str
    regimen: str
    then: list[PlanNode]
    probability_death_on_line: float | None = None
    probability_supportive_care_after: float | None = None


class TrialRef(BaseModel):
    trial: str
    phase: str
    line: int
    citation: str
    doi: str | None
    regimens: list[str]


class RecommendationModel(BaseModel):
    model_config = ConfigDict(protected_namespaces=())
    sequencer_version: str
    evidence_sha256: str
    model_config_sha256: str
    parameters_sha256: str
    posterior_draws_for_intervals: int


class Units(BaseModel):
    life_years: str
    qalys: str
    median_months_on_line: str
    probability_grade3_ae: str


class RecommendationOut(BaseModel):
    patient_state: str
    her2_status: Her2Status
    recommended: str
    alternatives: list[AlternativeOut]
    plan: PlanNode
    evidence: list[TrialRef]
    model: RecommendationModel
    caveats: list[str]
    units: Units
