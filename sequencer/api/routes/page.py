"""``GET /``: the clinician page, and ``GET /static/{name}``: its script and style sheet.

The page is static (no templating, no third-party assets: it works offline) and needs no API
key; it calls the ``/v1`` routes with the key the clinician types in. Only the files directly in
``sequencer/api/static`` with a known type are served: no subfolders, no path traversal. A
strict Content-Security-Policy allows only this origin's script, style and API, and blocks
native form submission, so patient data can never end up in a URL.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["page"])


def _static_files() -> dict[str, Path]:
    """The servable files, by name: regular files directly in STATIC_DIR with a known type."""
    if not STATIC_DIR.is_dir():  # pragma: no cover - a broken install
        return {}
    return {p.name: p for p in STATIC_DIR.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix in MEDIA_TYPES}


def _serve(name: str) -> FileResponse:
    path = _static_files().get(name)  # a lookup by exact name: "..", "a/b" never match
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=SECURITY_HEADERS)


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return _serve("index.html")


@router.get("/static/{name}", include_in_schema=False)
def static(name: str) -> FileResponse:
    return _serve(name)
