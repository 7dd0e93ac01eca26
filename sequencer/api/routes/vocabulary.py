"""``GET /v1/vocabulary``: every value a request may use, with its label.

The clinician page builds its form from it, before an API key is entered, so it is the one
``/v1`` route that needs no key: it holds the domain's terms only (no patient data, no model
results)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from sequencer.api.deps import SourcesDep
from sequencer.api.schemas import VocabularyOut, cached_json

router = APIRouter(tags=["vocabulary"])


@router.get("/vocabulary", response_model=VocabularyOut,
            summary="HER2 and PD-L1 terms, lines, mechanisms, contraindications, objectives")
async def vocabulary(request: Request, sources: SourcesDep) -> Response:
    return cached_json(request, sources, "vocabulary", VocabularyOut,
                       sources.evidence.catalogue.vocabulary.as_json)
