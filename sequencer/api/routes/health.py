"""Liveness and readiness (no API key: for load balancers and Kubernetes probes)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="The posterior, parameters and cached models are loaded",
            responses={503: {"description": "still loading"}})
async def readyz(request: Request, response: Response) -> dict:
    ready = getattr(request.app.state, "sources", None) is not None
    if not ready:  # pragma: no cover - the app does not start without them
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"status": "ready" if ready else "loading"}
