"""``GET /v1/regimens`` and ``GET /v1/evidence[/{trial}]``: the catalogue and the trials."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, HTTPException, Request, Response, status

from sequencer.api.deps import SourcesDep
from sequencer.api.schemas import (
    NOT_FOUND,
    UNAUTHORIZED,
    EvidenceSummary,
    RegimenOut,
    TrialOut,
    cached_json,
)

router = APIRouter(tags=["evidence"], responses=UNAUTHORIZED)


@router.get("/regimens", response_model=list[RegimenOut],
            summary="Every regimen that can be recommended, with its evidence level")
async def regimens(request: Request, sources: SourcesDep) -> Response:
    return cached_json(request, sources, "regimens", list[RegimenOut], lambda: [
        RegimenOut.from_regimen(r) for r in sources.evidence.catalogue.regimens.values()
        if r.lines])


@router.get("/evidence", response_model=list[EvidenceSummary],
            summary="The trials in the evidence base")
async def evidence(request: Request, sources: SourcesDep) -> Response:
    return cached_json(request, sources, "evidence", list[EvidenceSummary],
                       lambda: [EvidenceSummary.from_trial(t) for t in sources.evidence.trials])


@router.get("/evidence/{trial}", response_model=TrialOut, responses=NOT_FOUND,
            summary="One trial: arms, hazard ratios, citation and notes")
async def trial(trial: str, request: Request, sources: SourcesDep) -> Response:
    for record in sources.evidence.trials:
        if record.trial.lower() == trial.lower():
            return cached_json(request, sources, f"trial/{record.trial}", TrialOut,
                               partial(TrialOut.from_trial, record))
    known = ", ".join(t.trial for t in sources.evidence.trials)
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"trial: {trial!r} is not one of: {known}")
