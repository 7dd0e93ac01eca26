"""``POST /v1/recommendations``: the optimal adaptive sequence for one patient.

The request is validated field by field (422 naming each bad field); the answer carries the
recommendation, every eligible alternative with 95% credible intervals, the adaptive plan, the
trials behind the estimates, the model version and the caveats. Nothing from the request is
logged or stored.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sequencer.api.deps import SourcesDep
from sequencer.api.recommend import Query, Recommender, answer_key, her2_status
from sequencer.api.schemas import (
    BAD_BODY,
    CAVEAT,
    TOO_LARGE,
    UNAUTHORIZED,
    RecommendationOut,
)
from sequencer.evidence.catalogue import MAX_LINE
from sequencer.model.inputs import HER2_DRUG_CLASSES, SUPPORTIVE
from sequencer.model.states import InformationStrategy, State
from sequencer.simulate.cohort_csv import cps_band
from sequencer.solve.constrained import BudgetInfeasibleError
from sequencer.solve.lp import SolverError
from sequencer.solve.objective import Budget, Objective

router = APIRouter(tags=["recommendations"], responses=UNAUTHORIZED)

Mechanism = Literal["met_amp", "fgfr2_amp", "pi3k", "erbb2_mut"]
Contraindication = Literal["ild", "neuropathy", "cardiac"]


class Alteration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Mechanism
    source: Literal["tissue_ngs", "ctdna", "tissue_rebiopsy"] = "tissue_ngs"


class ObjectiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["ly", "qaly", "nmb"] = "qaly"
    willingness_to_pay: float = Field(30_000.0, ge=0, le=1e7, description="GBP per QALY (nmb)")


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    toxicity: float | None = Field(None, gt=0, le=10,
                                   description="max expected grade >= 3 AE episodes")
    cost: float | None = Field(None, gt=0, le=1e8, description="max discounted cost (GBP)")


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_investigational: bool = False
    baseline_ngs: bool = False
    ctdna_surveillance: bool = False
    rebiopsy_at_progression: bool = False
    discount_rate: float = Field(0.0, ge=0, le=0.2, description="per year; 0 = undiscounted")


class RecommendationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    her2_ihc: Literal["0", "1+", "2+", "3+"]
    her2_ish: Literal["positive", "negative"] | None = None
    pdl1_cps: float = Field(ge=0, le=100)
    msi_high: bool = False
    known_alterations: list[Alteration] = Field(default_factory=list, max_length=4)
    current_line: int = Field(ge=1, le=MAX_LINE)
    prior_regimens: list[str] = Field(default_factory=list, max_length=MAX_LINE)
    contraindications: list[Contraindication] = Field(default_factory=list, max_length=3)
    ecog: int = Field(ge=0, le=4)
    objective: ObjectiveIn = Field(default_factory=ObjectiveIn)
    budget: BudgetIn = Field(default_factory=BudgetIn)
    options: Options = Field(default_factory=Options)

    @model_validator(mode="after")
    def _ish_when_needed(self) -> RecommendationRequest:
        if self.her2_ihc == "2+" and self.her2_ish is None:
            raise ValueError("her2_ish: required when her2_ihc is 2+ (positive or negative)")
        return self


def _catalogue_errors(body: RecommendationRequest, catalogue) -> list[dict]:
    errors = []
    for i, regimen in enumerate(body.prior_regimens):
        entry = catalogue.regimens.get(regimen)
        where = ("body", "prior_regimens", i)
        if entry is None or not entry.lines:
            known = sorted(r for r, e in catalogue.regimens.items() if e.lines)
            errors.append({"loc": where, "msg": f"unknown regimen id {regimen!r}; allowed: "
                           f"{', '.join(known)}", "type": "value_error"})
        elif min(entry.lines) >= body.current_line:
            errors.append({"loc": where, "msg": f"{regimen!r} is given from line "
                           f"{min(entry.lines)}, so it cannot precede line {body.current_line}",
                           "type": "value_error"})
    if len(body.prior_regimens) > body.current_line - 1:
        errors.append({"loc": ("body", "prior_regimens"), "msg": f"{len(body.prior_regimens)} "
                       f"prior regimens but current_line is {body.current_line}",
                       "type": "value_error"})
    if len(set(body.prior_regimens)) != len(body.prior_regimens):
        errors.append({"loc": ("body", "prior_regimens"), "msg": "a regimen is listed twice",
                       "type": "value_error"})
    return errors


def to_query(body: RecommendationRequest, catalogue) -> Query:
    errors = _catalogue_errors(body, catalogue)
    if errors:
        raise RequestValidationError(errors)
    received = frozenset(body.prior_regimens)
    her2_treated = any(HER2_DRUG_CLASSES & set(catalogue.regimens[r].drug_classes)
                       for r in received)
    state = State(line=body.current_line, her2=her2_status(body.her2_ihc, body.her2_ish),
                  cps=cps_band(body.pdl1_cps), msi_high=body.msi_high,
                  known=frozenset(a.name for a in body.known_alterations), received=received,
                  contraindications=frozenset(body.contraindications),
                  resistance="assessed" if her2_treated else "pending")
    o = body.options
    return Query(state, Objective(body.objective.kind, body.objective.willingness_to_pay),
                 Budget(body.budget.toxicity, body.budget.cost), o.include_investigational,
                 InformationStrategy(o.baseline_ngs, o.ctdna_surveillance,
                                     o.rebiopsy_at_progression), o.discount_rate)


def _recommender(request: Request, sources) -> Recommender:
    rec = getattr(request.app.state, "recommender", None)
    if rec is None or rec.sources is not sources:
        rec = request.app.state.recommender = Recommender(sources)
    return rec


@router.post("/recommendations", response_model=RecommendationOut,
             responses={**BAD_BODY, **TOO_LARGE},
             summary="The optimal adaptive sequence for one patient")
async def recommendations(body: RecommendationRequest, request: Request,
                          sources: SourcesDep) -> Response:
    """Answered from memory when the state was answered before (every state reachable from the
    standard profiles is, from start-up); otherwise solved in a worker thread, so the event loop
    goes on serving other requests."""
    query = to_query(body, sources.evidence.catalogue)
    recommender = _recommender(request, sources)
    key = (answer_key(query), 3 if body.ecog >= 3 else max(body.ecog, 1))
    content = recommender.responses.get(key)
    if content is None:
        if recommender.answered(query):  # serialising takes about 1 ms: no thread hand-off
            content = _respond(body, query, recommender, sources)
        else:
            content = await asyncio.get_running_loop().run_in_executor(
                _solver(query), partial(_respond, body, query, recommender, sources))
        recommender.responses.put(key, content)
    return Response(content, media_type="application/json")


# Solves run one at a time, in arrival order, on a thread of their own (they hold the GIL, so
# more threads would only contend for it and starve some requests): one queue for ordinary
# requests and one for the slow kind, so it never holds up the others: the option sets whose
# models have ~70,000 states (investigational regimens with ctDNA or re-biopsy, 10-30 s each).
# Budgets are ordinary: the branch and bound takes 2 ms typically, about 0.1 s at most from a
# first-line state.
_SOLVERS = {"light": ThreadPoolExecutor(1, thread_name_prefix="sequencer-solve"),
            "heavy": ThreadPoolExecutor(1, thread_name_prefix="sequencer-solve-large")}


def _solver(query: Query) -> ThreadPoolExecutor:
    heavy = query.include_investigational and query.info.tests_at_progression
    return _SOLVERS["heavy" if heavy else "light"]


def _respond(body: RecommendationRequest, query: Query, recommender: Recommender,
             sources) -> bytes:
    """The response body, checked against ``RecommendationOut`` (plan steps omit the keys
    that do not apply)."""
    try:
        answer = recommender.recommend(query)
    except (BudgetInfeasibleError, SolverError) as exc:  # no policy meets the budget(s)
        raise RequestValidationError([{"loc": ("body", "budget"), "msg": str(exc),
                                        "type": "value_error"}]) from None
    caveats = [CAVEAT]
    recommended = answer["recommended"]
    if body.ecog >= 3:
        caveats.append("ECOG performance status 3-4: the trials behind these estimates enrolled "
                       "ECOG 0-1 (occasionally 2); best supportive care is usually preferred.")
        recommended = SUPPORTIVE
    elif body.ecog == 2:
        caveats.append("ECOG 2: most trials enrolled ECOG 0-1; expect less benefit and more "
                       "toxicity than estimated.")
    if not body.options.include_investigational:
        caveats.append("Only guideline-backed regimens or regimens whose phase III trial met its "
                       "primary endpoint are considered; investigational options are opt-in.")
    if answer["interval_draws"] < len(recommender.draw_index):
        caveats.append(f"Credible intervals use {answer['interval_draws']} of "
                       f"{len(recommender.draw_index)} posterior draws: with these options the "
                       f"model from this state has {answer['model_states']:,} states.")
    if answer["budget_status"]:
        caveats.append(f"Budget: {answer['budget_status']}; alternatives' values assume the "
                       "unconstrained plan after this line.")
    payload = {
        "patient_state": query.state.label(),
        "her2_status": query.state.her2,
        "recommended": recommended,
        "alternatives": answer["alternatives"],
        "plan": answer["plan"],
        "evidence": answer["trials"],
        "model": {**{k: v for k, v in sources.provenance().items()
                     if k not in ("posterior", "parameters")},
                  "posterior_draws_for_intervals": answer["interval_draws"]},
        "caveats": caveats,
        "units": {"life_years": "years" + (" (discounted)" if body.options.discount_rate else ""),
                  "qalys": "QALYs" + (" (discounted)" if body.options.discount_rate else ""),
                  "median_months_on_line": "months", "probability_grade3_ae": "per line"},
    }
    return RecommendationOut.model_validate(payload).model_dump_json(exclude_unset=True).encode()
