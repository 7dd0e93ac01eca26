"""Runs the service's long jobs (cohort studies, trial simulations) one at a time on a
background thread, through Ray like the command line does. Job records live in ``JobStore``;
cohort studies write their run directory under ``jobs_dir/<job id>`` and resume from its
finished shards when the service restarts."""

from __future__ import annotations

import logging
import queue
import threading
import traceback
from dataclasses import asdict
from pathlib import Path

from sequencer.api.jobs.requests import CohortStudyRequest, TrialRequest
from sequencer.api.jobs.store import JobStore
from sequencer.model.load import ModelSources

LOGGER = logging.getLogger("sequencer.api")
MAX_ATTEMPTS = 3
_STOP = object()


class JobRunner:
    def __init__(self, store: JobStore, sources: ModelSources, jobs_dir: Path,
                 workers: int | None = None) -> None:
        self.store, self.sources, self.workers = store, sources, workers
        self.jobs_dir = Path(jobs_dir)
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="sequencer-jobs", daemon=True)

    def start(self) -> None:
        """Re-queue what a stopped service left unfinished, then start the worker thread."""
        for job in self.store.unfinished():
            if job.attempts >= MAX_ATTEMPTS:
                self.store.update(job.id, status="interrupted",
                                  error=f"stopped {job.attempts} times while running; submit it "
                                        "again")
                continue
            self.store.update(job.id, status="queued")
            self._queue.put(job.id)
        self._thread.start()

    def submit(self, kind: str, request: dict):
        job = self.store.create(kind, request)
        self._queue.put(job.id)
        return job

    def stop(self) -> None:
        self._queue.put(_STOP)

    def progress(self, job) -> float:
        """Finished share of a job: shard files written, for a running cohort study."""
        if job.status != "running" or job.kind != "cohort-study":
            return job.progress
        total = len(CohortStudyRequest(**job.request).spec().shards())
        shards = self.jobs_dir / job.id / "shards"
        done = len(list(shards.glob("*.parquet"))) if shards.exists() else 0
        return min(0.99, done / total) if total else 0.0

    def _loop(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is _STOP:
                return
            job = self.store.get(job_id)
            if job is None or job.status not in ("queued",):
                continue
            self.store.update(job_id, status="running", attempts=job.attempts + 1)
            try:
                result = self._execute(job)
            except Exception as exc:  # noqa: BLE001 - the job fails, the service goes on
                LOGGER.error("job failed", extra={"fields": {"job": job_id, "kind": job.kind,
                                                             "error": type(exc).__name__}})
                self.store.update(job_id, status="failed", error=_message(exc))
                continue
            self.store.update(job_id, status="succeeded", progress=1.0, result=result)

    def _execute(self, job) -> dict:
        from sequencer.reports.cohort import clean_json

        if job.kind == "cohort-study":
            from sequencer.reports.cohort import finish_study
            from sequencer.simulate.runner import run_study
            spec = CohortStudyRequest(**job.request).spec().validate()
            run_dir = run_study(spec, self.jobs_dir / job.id, workers=self.workers,
                                sources=self.sources, progress=False)
            summary = finish_study(run_dir, spec, self.sources, job.request.get("reference"))
            return clean_json({"provenance": self.sources.provenance(), **summary})
        from sequencer.simulate.runner import run_trial
        from sequencer.simulate.trial import summarise_trial

        spec = TrialRequest(**job.request).spec().validate()
        result = summarise_trial(run_trial(spec, self.workers, self.sources, progress=False), spec)
        return clean_json({"provenance": self.sources.provenance(), **asdict(result)})


def _message(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if not isinstance(exc, ValueError):  # an unexpected error: keep its location for support
        text += " | " + traceback.format_exc(limit=3).splitlines()[-1]
    return text[:2000]
