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

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError

from sequencer.api.deps import SourcesDep
from sequencer.api.request_schemas import RecommendationRequest, recommendation_request
from sequencer.api.schemas import (
    BAD_BODY,
    TOO_LARGE,
    UNAUTHORIZED,
    RecommendationOut,
)
from sequencer.evidence.catalogue import Catalogue
from sequencer.model.load import ModelSources
from sequencer.model.states import InformationStrategy, StateError, patient_state
from sequencer.solve.constrained import BudgetInfeasibleError
from sequencer.solve.lp import SolverError
from sequencer.solve.objective import Budget, Objective
from sequencer.solve.recommend import Query, Recommender, answer_key
from sequencer.solve.recommendation import ecog_group, for_patient
from sequencer.vocabulary import Vocabulary, cps_band, her2_status

# request fields by patient-state field, for 422 locations
_REQUEST_FIELD = {"line": "current_line", "her2": "her2_ihc", "cps": "pdl1_cps",
                  "known": "known_alterations", "received": "prior_regimens",
                  "contraindications": "contraindications"}


def to_query(body: RecommendationRequest, catalogue: Catalogue) -> Query:
    """The model's query for a request; a state the catalogue refuses is a 422 naming each
    request field."""
    try:
        state = patient_state(
            catalogue, line=body.current_line, her2=her2_status(body.her2_ihc, body.her2_ish),
            cps=cps_band(body.pdl1_cps), msi_high=body.msi_high,
            known=[a.name for a in body.known_alterations], received=body.prior_regimens,
            contraindications=body.contraindications)
    except StateError as exc:
        raise RequestValidationError([
            {"loc": ("body", _REQUEST_FIELD.get(field, field)), "msg": message,
             "type": "value_error"} for field, message in exc.problems]) from None
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


def make_router(vocabulary: Vocabulary) -> APIRouter:
    """The recommendations router, its request type derived from ``vocabulary``."""
    router = APIRouter(tags=["recommendations"], responses=UNAUTHORIZED)
    request_type = recommendation_request(vocabulary)

    async def recommendations(body: RecommendationRequest, request: Request,
                              sources: SourcesDep) -> Response:
        """Answered from memory when the state was answered before (every state reachable
        from the standard profiles is, from start-up); otherwise solved in a worker thread, so
        the event loop goes on serving other requests."""
        return await _answer(body, request, sources)

    # the body's type is this vocabulary's (annotations are strings in this module)
    recommendations.__annotations__ = {**recommendations.__annotations__,
                                       "body": request_type, "request": Request,
                                       "sources": SourcesDep, "return": Response}
    router.post("/recommendations", response_model=RecommendationOut,
                responses={**BAD_BODY, **TOO_LARGE},
                summary="The optimal adaptive sequence for one patient")(recommendations)
    return router


async def _answer(body: RecommendationRequest, request: Request,
                  sources: ModelSources) -> Response:
    query = to_query(body, sources.evidence.catalogue)
    recommender = _recommender(request, sources)
    key = (answer_key(query), ecog_group(body.ecog))  # the ECOG groups answered alike
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
    return _SOLVERS["heavy" if query.large else "light"]


def _respond(body: RecommendationRequest, query: Query, recommender: Recommender,
             sources) -> bytes:
    """The response body, checked against ``RecommendationOut`` (plan steps omit the keys
    that do not apply)."""
    try:
        answer = recommender.recommend(query)
    except (BudgetInfeasibleError, SolverError) as exc:  # no policy meets the budget(s)
        raise RequestValidationError([{"loc": ("body", "budget"), "msg": str(exc),
                                        "type": "value_error"}]) from None
    rec = for_patient(answer, ecog=body.ecog, include_investigational=query.include_investigational,
                      discount_rate=query.discount_rate, total_draws=len(recommender.draw_index),
                      provenance=sources.provenance())
    payload = {
        "patient_state": rec.patient_state, "her2_status": rec.her2_status,
        "recommended": rec.recommended,
        "alternatives": [a.as_dict() for a in rec.alternatives],
        "plan": rec.plan.as_dict(),
        "evidence": [t.as_dict() for t in rec.evidence],
        "model": {**{k: v for k, v in rec.provenance.items()
                     if k not in ("posterior", "parameters")},
                  "posterior_draws_for_intervals": rec.interval_draws},
        "caveats": list(rec.caveats), "units": rec.units,
    }
    return RecommendationOut.model_validate(payload).model_dump_json(exclude_unset=True).encode()
