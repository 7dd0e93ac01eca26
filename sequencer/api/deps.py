"""Dependencies of the routes, as ``Annotated`` aliases: settings, the loaded model, API key."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from sequencer.api.settings import Settings
from sequencer.model.load import ModelSources

_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                           description="one of the keys in SEQUENCER_API_KEYS")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_sources(request: Request) -> ModelSources:
    sources = getattr(request.app.state, "sources", None)
    if sources is None:  # pragma: no cover - the app does not start without them
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "model not loaded")
    return sources


SettingsDep = Annotated[Settings, Depends(get_settings)]
SourcesDep = Annotated[ModelSources, Depends(get_sources)]


async def require_api_key(settings: SettingsDep,
                          key: Annotated[str | None, Security(_key_header)]) -> None:
    # bytes: compare_digest refuses non-ASCII str, and header values may be any latin-1 text
    if key is None or not any(hmac.compare_digest(key.encode(), k.encode())
                              for k in settings.api_keys):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or unknown X-API-Key header",
                            headers={"WWW-Authenticate": "APIKey"})
