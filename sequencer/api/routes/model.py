"""``GET /v1/model``: versions and hashes of everything behind a recommendation."""

from __future__ import annotations

from fastapi import APIRouter

from sequencer.api.deps import SourcesDep
from sequencer.api.schemas import UNAUTHORIZED, ModelOut

router = APIRouter(tags=["model"], responses=UNAUTHORIZED)


@router.get("/model", response_model=ModelOut, summary="Model version, hashes and diagnostics")
def model(sources: SourcesDep) -> ModelOut:
    return ModelOut.from_sources(sources)
