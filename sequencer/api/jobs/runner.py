"""Runs the service's long jobs (cohort studies, trial simulations) one at a time on a
background thread, through Ray like the command line does. Job records live in ``JobStore``;
cohort studies write their run directory under ``jobs_dir/<job id>``.

Several service processes may share one database (``sequencer serve --workers N``). Every
process accepts jobs (``submit`` writes a 'queued' record); exactly one runs them: the one
holding the database's ``RunnerLock``. The others retry the lock every LOCK_RETRY_SECONDS, so
when the runner process stops or dies another takes over. The runner polls the database for the
oldest queued job every POLL_SECONDS (at once when its own process submits one) and claims it
atomically ('queued' -> 'running', one more attempt), so no job runs twice.

On taking the lock, the runner re-queues the jobs left 'running' (holding the lock proves that
the process that ran them is gone); a job whose runs were cut short MAX_ATTEMPTS times is marked
'interrupted' instead. ``stop()`` is graceful: the running job's Ray tasks are cancelled and it
goes back to 'queued' without counting the attempt, the thread ends (up to STOP_SECONDS) and the
lock is released. Whoever runs the job next starts it again: cohort studies resume from their
finished shards, and results depend only on the request (seeded), not on interruptions.

Two hooks let a caller follow a runner without polling: ``on_progress(job_id, share)`` is called
on the runner's thread after each finished draw of a running job, and ``wait_until(predicate)``
blocks until ``predicate()`` holds, re-checking it each time this runner takes the lock or records
a job's new status.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from sequencer.api.jobs.requests import CohortStudyRequest, TrialRequest
from sequencer.api.jobs.store import JobStore
from sequencer.model.load import ModelSources

LOGGER = logging.getLogger("sequencer.api")
MAX_ATTEMPTS = 3
POLL_SECONDS = 0.5  # how often the runner looks for queued jobs
LOCK_RETRY_SECONDS = 2.0  # how often a process that is not the runner tries to become it
STOP_SECONDS = 30.0  # how long stop() waits for the running job to be put back


class JobRunner:
    """Runs the jobs of ``store``: ``workers`` local Ray CPUs, or the Ray cluster at
    ``ray_address`` (the service passes ``Settings.ray_address``; None: a local Ray)."""

    def __init__(self, store: JobStore, sources: ModelSources, jobs_dir: Path,
                 workers: int | None = None, ray_address: str | None = None,
                 on_progress: Callable[[str, float], None] | None = None) -> None:
        self.store, self.sources, self.workers = store, sources, workers
        self.ray_address = ray_address
        self.jobs_dir = Path(jobs_dir)
        self.on_progress = on_progress
        self._lock = store.runner_lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="sequencer-jobs", daemon=True)

    @property
    def is_runner(self) -> bool:
        """Whether this process holds the runner lock (runs the database's jobs)."""
        return self._lock.held

    def start(self) -> None:
        """Try the runner lock once (re-queueing what a dead runner left), then start the
        thread that runs jobs, or keeps trying the lock."""
        self._take_lock()
        self._thread.start()

    def submit(self, kind: str, request: dict):
        job = self.store.create(kind, request)
        self._wake.set()
        return job

    def request_stop(self) -> None:
        """Ask the thread to stop (the running job is cancelled at its next check) and return at
        once; ``stop()`` also waits for the thread and releases the lock."""
        self._stop.set()
        self._wake.set()

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Cancel the running job (back to 'queued', the attempt not counted), end the thread,
        release the lock."""
        self.request_stop()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():  # keep the lock: the job may still be running
            LOGGER.warning("job runner did not stop", extra={"fields": {"seconds": timeout}})
            return
        self._lock.release()

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` is true, re-checked whenever this runner takes the lock or
        records a job's status; False if ``timeout`` seconds pass first."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def progress(self, job) -> float:
        """Finished share of a job: shard files written, for a running cohort study."""
        if job.status != "running" or job.kind != "cohort-study":
            return job.progress
        total = len(CohortStudyRequest(**job.request).spec().shards())
        shards = self.jobs_dir / job.id / "shards"
        done = len(list(shards.glob("*.parquet"))) if shards.exists() else 0
        return min(0.99, done / total) if total else 0.0

    def _take_lock(self) -> bool:
        if self._lock.held or not self._lock.acquire():
            return self._lock.held
        LOGGER.info("job runner lock taken",
                    extra={"fields": {"database": self.store.url.split(":")[0]}})
        for job in self.store.unfinished():  # no other runner is alive: 'running' is stale
            if job.status != "running":
                continue
            if job.attempts >= MAX_ATTEMPTS:
                self.store.update(job.id, status="interrupted",
                                  error=f"stopped {job.attempts} times while running; submit it "
                                        "again")
            else:
                self.store.update(job.id, status="queued")
        self._notify()
        return True

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    if not self._take_lock():
                        self._stop.wait(LOCK_RETRY_SECONDS)
                        continue
                    self._wake.clear()
                    job = self._claim_next()
                    if job is None:
                        self._wake.wait(POLL_SECONDS)
                    else:
                        self._run(job)
                except Exception as exc:  # noqa: BLE001 - e.g. the database is unreachable
                    LOGGER.error("job runner error", extra={"fields": {
                        "error": type(exc).__name__}})
                    # no job runs now: let go, so that whoever takes the lock next (maybe this
                    # process) re-queues a job this error left 'running'
                    self._lock.release()
                    self._stop.wait(LOCK_RETRY_SECONDS)
        finally:
            self._lock.release()

    def _claim_next(self):
        while (job_id := self.store.next_queued()) is not None:
            if not self._lock.check():  # lost (PostgreSQL connection gone): try again later
                return None
            job = self.store.claim(job_id)
            if job is not None:
                return job
        return None

    def _run(self, job) -> None:
        try:
            self._record_outcome(job)
        finally:
            self._notify()

    def _record_outcome(self, job) -> None:
        from sequencer.simulate.runner import RunCancelled

        try:
            result = self._execute(job)
        except RunCancelled:
            self.store.unclaim(job.id)
            LOGGER.info("job put back in the queue", extra={"fields": {"job": job.id}})
            return
        except Exception as exc:  # noqa: BLE001 - the job fails, the service goes on
            LOGGER.error("job failed", extra={"fields": {"job": job.id, "kind": job.kind,
                                                         "error": type(exc).__name__}})
            self.store.update(job.id, status="failed", error=_message(exc))
            return
        self.store.update(job.id, status="succeeded", progress=1.0, result=result)

    def _progress_hook(self, job) -> Callable[[int, int], None] | None:
        if self.on_progress is None:
            return None
        on_progress = self.on_progress
        return lambda done, total: on_progress(job.id, done / total if total else 1.0)

    def _execute(self, job) -> dict:
        from sequencer.reports.cohort import clean_json

        stop, hook = self._stop.is_set, self._progress_hook(job)
        if job.kind == "cohort-study":
            from sequencer.reports.cohort import finish_study
            from sequencer.simulate.runner import run_study
            spec = CohortStudyRequest(**job.request).spec().validate()
            run_dir = run_study(spec, self.jobs_dir / job.id, workers=self.workers,
                                sources=self.sources, progress=False, should_stop=stop,
                                address=self.ray_address, on_progress=hook)
            summary = finish_study(run_dir, spec, self.sources, job.request.get("reference"))
            return summary.model_dump(mode="json")  # the run directory's summary.json
        from sequencer.simulate.runner import run_trial
        from sequencer.simulate.trial import summarise_trial

        trial = TrialRequest(**job.request).spec().validate()
        os_time = run_trial(trial, self.workers, self.sources, progress=False, should_stop=stop,
                            address=self.ray_address, on_progress=hook)
        result = summarise_trial(os_time, trial)
        return clean_json({"provenance": self.sources.provenance(), **asdict(result)})


def _message(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if not isinstance(exc, ValueError):  # an unexpected error: keep its location for support
        text += " | " + traceback.format_exc(limit=3).splitlines()[-1]
    return text[:2000]
