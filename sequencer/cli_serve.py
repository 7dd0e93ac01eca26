"""``sequencer serve``: the recommendation service on uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from sequencer.cli import _fail, app


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(
        help="bind address (default SEQUENCER_HOST or 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default SEQUENCER_PORT or 8000)")] = None,
    workers: Annotated[int | None, typer.Option(
        help="uvicorn worker processes (default SEQUENCER_WORKERS or 2)")] = None,
) -> None:
    """Start the service (settings from SEQUENCER_* environment variables)."""
    from pydantic import ValidationError

    from sequencer.api.settings import Settings
    from sequencer.api.workers import check_model_files
    from sequencer.api.workers import serve as serve_workers
    from sequencer.errors import SequencerError

    try:
        settings = Settings()
    except ValidationError as exc:
        _fail(exc)
    error = check_model_files(settings)  # fail here, with the message, not inside uvicorn
    if error:
        _fail(SequencerError(error))
    code = serve_workers("sequencer.api.app:create_app", host or settings.host,
                         port or settings.port, workers or settings.workers,
                         log_level="warning", timeout_graceful_shutdown=30)
    if code:
        raise typer.Exit(code=code)
