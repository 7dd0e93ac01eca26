"""The FastAPI application: ``create_app()`` (a factory for uvicorn ``--factory``).

At start-up the service loads the posterior, the parameter file and the evidence, and checks
that they belong together (the posterior's evidence hash). A missing, corrupt or mismatched file
stops the start with a message that says what to run. Every ``/v1`` route needs an API key.
"""

from __future__ import annotations

import gc
import time
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware

from sequencer import __version__
from sequencer.api.deps import require_api_key
from sequencer.api.request_log import LOGGER, RequestContext, configure_logging, flush_logs
from sequencer.api.routes import catalogue, health, jobs, model, page, recommendations, vocabulary
from sequencer.api.schemas import UNAUTHORIZED, validation_error_handler
from sequencer.api.settings import Settings
from sequencer.errors import SequencerError
from sequencer.solve.recommend import Recommender
from sequencer.vocabulary import vocabulary_for


class StartupError(SequencerError):
    """The service cannot start: the message names the file and the command to run."""


def load_model_files(settings: Settings):
    from sequencer.model.load import load_sources

    try:
        return load_sources(settings.priors_dir)
    except SequencerError as exc:
        raise StartupError(f"cannot start: {exc}") from None
    except (OSError, ValueError, KeyError) as exc:  # unreadable or corrupt files
        raise StartupError(
            f"cannot start: the posterior or parameter files in {settings.priors_dir} could not "
            f"be read ({type(exc).__name__}: {exc}); restore them from git, or run "
            "`sequencer fit --seed 2026` to refit the posterior") from None


def _job_runner(settings: Settings, sources):
    from sequencer.api.jobs.runner import JobRunner
    from sequencer.api.jobs.store import JobStore

    try:
        store = JobStore(settings.database_url)
    except Exception as exc:  # noqa: BLE001 - any driver error stops the start with its reason
        raise StartupError(f"cannot start: job database {settings.database_url!r}: {exc}") from None
    settings.jobs_dir.mkdir(parents=True, exist_ok=True)
    return JobRunner(store, sources, settings.jobs_dir, settings.job_workers,
                     ray_address=settings.ray_address)


def create_app(settings: Settings | None = None, sources=None) -> FastAPI:
    """The service app. ``sources`` (a loaded ``ModelSources``) skips loading, for tests."""
    settings = settings or Settings()
    configure_logging()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.sources = sources if sources is not None else load_model_files(settings)
        if getattr(app.state, "recommender", None) is None:  # tests may set a smaller one
            app.state.recommender = Recommender(app.state.sources)
        if settings.precompute and not app.state.recommender.precomputed:
            start = time.perf_counter()
            answered = app.state.recommender.precompute()
            LOGGER.info("precomputed", extra={"fields": {
                "states": answered, "seconds": round(time.perf_counter() - start, 1)}})
        # the loaded model is read-only from here: frozen, the garbage collector stops
        # re-scanning it (full collections took 150-200 ms each under load)
        gc.collect()
        gc.freeze()
        app.state.jobs = _job_runner(settings, app.state.sources)
        app.state.jobs.start()
        LOGGER.info("ready", extra={"fields": {"version": __version__}})
        yield
        app.state.jobs.stop()  # a running job is cancelled and queued again (resumed at start)
        app.state.sources = None
        LOGGER.info("stopped")
        flush_logs()

    app = FastAPI(
        title="sequencer", version=__version__, lifespan=lifespan,
        description="Treatment-sequencing decision support for HER2-positive advanced gastric "
                    "and gastro-oesophageal junction cancer. Decision support, not a "
                    "prescription.",
    )
    app.state.settings = settings
    app.state.sources = None
    app.state.recommender = None
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                       allow_methods=["GET", "POST"], allow_headers=["X-API-Key", "Content-Type"])
    app.add_middleware(RequestContext, max_body_bytes=settings.max_body_bytes)
    # Starlette types a handler as taking any Exception; this one is registered for (and only
    # called with) RequestValidationError
    app.add_exception_handler(RequestValidationError,
                              validation_error_handler)  # type: ignore[arg-type]
    app.include_router(health.router)
    app.include_router(page.router)  # the clinician page; its API calls carry the key
    app.include_router(vocabulary.router, prefix="/v1")  # the page's form, before a key
    secured = [Depends(require_api_key)]
    try:
        terms = (sources.evidence.catalogue.vocabulary if sources is not None
                 else vocabulary_for(settings.priors_dir))
    except SequencerError as exc:
        raise StartupError(f"cannot start: {exc}") from None
    for router in (catalogue.router, model.router, recommendations.make_router(terms),
                   jobs.router):
        app.include_router(router, prefix="/v1", dependencies=secured, responses=UNAUTHORIZED)
    return app
