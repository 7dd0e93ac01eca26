"""``GET /v1/model``: versions and hashes of everything behind a recommendation."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from sequencer.api.deps import SourcesDep
from sequencer.api.schemas import UNAUTHORIZED, ModelOut, cached_json

router = APIRouter(tags=["model"], responses=UNAUTHORIZED)


@router.get("/model", response_model=ModelOut, summary="Model version, hashes and diagnostics")
async def model(request: Request, sources: SourcesDep) -> Response:
    return cached_json(request, sources, "model", ModelOut, lambda: ModelOut.from_sources(sources))
