"""Run a study's shards on Ray (local by default, the cluster at ``address`` when given).

The run directory holds ``spec.json``, one parquet file per finished shard, for draw 0 patient
histories, and ``run_stats.json`` (wall time, peak memory of the driver and of each worker).
Starting a run on a directory that already has the same ``spec.json`` resumes it: finished shards
are skipped, and since each shard's result depends only on the specification and the shard, the end
result equals an uninterrupted run's. A different ``spec.json`` is refused. Each Ray task takes the
pending chunks of one draw (so the draw's model is built once); a task that fails is retried by Ray.

``run_study`` and ``run_trial`` take an optional ``should_stop`` callable, asked at least every
half second while they wait for Ray: when it returns True the outstanding tasks are cancelled
and ``RunCancelled`` is raised. A study's finished shards stay (each is written atomically, a
killed task leaves at most a hidden temporary file), so the next run on the directory resumes.
Both also take an optional ``on_progress(done, total)``, called in the driver each time a Ray
task's result arrives (patient trajectories for a study, draws for a trial).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from sequencer.errors import SequencerError
from sequencer.io import write_text_atomic
from sequencer.model.load import ModelSources, load_sources
from sequencer.simulate.shards import run_draw, shard_path
from sequencer.simulate.study import StudyPlan, StudySpec, plan_study

if TYPE_CHECKING:
    from ray import ObjectRef

    from sequencer.simulate.trial import TrialSpec

RETRIES = 3
CHECK_SECONDS = 0.5  # how often a run with ``should_stop`` asks it while waiting for Ray
CANCEL_SECONDS = 10.0  # how long a stopped run waits for its cancelled tasks to end

DrawDone = tuple[int, int, float, int]  # a study task's draw, patients, peak RSS (MB), worker pid
TrialDrawDone = tuple[int, np.ndarray]  # a trial task's draw and OS (rep, arm, n_max)
_T = TypeVar("_T")


class RunDirectoryError(SequencerError):
    """The run directory belongs to another study specification."""


class RunCancelled(SequencerError):
    """``should_stop`` asked the run to stop; its outstanding Ray tasks were cancelled."""


def prepare_run_dir(spec: StudySpec, run_dir: Path) -> list[tuple[int, int, int]]:
    """Create or check ``run_dir``; return the shards still to do."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    spec_file = run_dir / "spec.json"
    text = spec.to_json()
    if spec_file.exists():
        if StudySpec.from_json(spec_file.read_text()) != spec:
            raise RunDirectoryError(
                f"{run_dir} holds a different study ({spec_file}); use a new --out directory "
                "or the same options to resume")
    else:
        write_text_atomic(spec_file, text)
    return [s for s in spec.shards() if not shard_path(run_dir, s[0], s[1]).exists()]


_WORKER_CACHE: dict[str, ModelSources] = {}  # per worker process: the shared inputs, once


def _shared(boxed: list[ObjectRef[ModelSources]]) -> ModelSources:
    """Ray resolves an ObjectRef argument on every call; wrapped in a list it stays a reference,
    so a worker deserialises the sources (posterior draws, parameters) once, not per task."""
    import ray

    ref = boxed[0]
    key = ref.hex()
    if key not in _WORKER_CACHE:
        _WORKER_CACHE.clear()
        _WORKER_CACHE[key] = ray.get(ref)
        # the sources are read-only from here on; frozen, the cyclic garbage collector stops
        # re-scanning their many objects (measured: 0.10 -> 0.07 s per draw, no 0.25 s pauses)
        gc.collect()
        gc.freeze()
    return _WORKER_CACHE[key]


def _draw_task(sources_box: list[ObjectRef[ModelSources]], spec: StudySpec, draw: int,
               chunks: list[tuple[int, int]], plan: StudyPlan,
               run_dir: str) -> DrawDone:  # runs in a Ray worker
    import numba

    numba.set_num_threads(1)  # one core per task; Ray schedules the cores
    sources = _shared(sources_box)
    done = run_draw(sources, spec, draw, chunks, plan, Path(run_dir))
    return draw, done, _peak_rss_mb(), os.getpid()


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def ray_session(workers: int | None, address: str | None = None) -> Iterator[ModuleType]:
    """Ray for the duration of a run: the cluster at ``address`` if given (the caller's setting:
    the service's ``Settings.ray_address``, the command line's ``RAY_ADDRESS``), else a local
    one with ``workers`` CPUs (default all); an already initialised Ray is used as it is."""
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address or None, num_cpus=None if address else workers,
                 include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        yield ray
    finally:
        if started_here:
            ray.shutdown()


def run_study(spec: StudySpec, run_dir: str | Path, workers: int | None = None,
              sources: ModelSources | None = None, progress: bool = True, *,
              should_stop: Callable[[], bool] | None = None,
              address: str | None = None,
              on_progress: Callable[[int, int], None] | None = None) -> Path:
    """Run (or resume) ``spec`` into ``run_dir`` with ``workers`` local Ray CPUs (default: all;
    ignored when ``address`` names a Ray cluster). ``should_stop``, ``on_progress``: see the
    module doc."""
    sources = sources or load_sources()
    spec = spec.validate(sources.evidence.catalogue.vocabulary)
    run_dir = Path(run_dir).resolve()
    pending = prepare_run_dir(spec, run_dir)
    if not pending:
        return run_dir
    plan = plan_study(sources, spec)
    by_draw: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for draw, chunk, n in pending:
        by_draw[draw].append((chunk, n))
    with ray_session(workers, address) as ray:
        task = ray.remote(num_cpus=1, max_retries=RETRIES, retry_exceptions=True)(_draw_task)
        sources_ref, plan_ref = ray.put(sources), ray.put(plan)
        refs = [task.remote([sources_ref], spec, d, chunks, plan_ref, str(run_dir))
                for d, chunks in sorted(by_draw.items())]
        total = sum(n for _, _, n in pending) * len(spec.all_strategies)
        start = time.perf_counter()
        workers_rss = _wait(refs, total, len(spec.all_strategies), progress, should_stop,
                            on_progress)
        stats = {"wall_seconds": time.perf_counter() - start, "trajectories": total,
                 "driver_peak_rss_mb": _peak_rss_mb(),
                 "worker_peak_rss_mb": {str(pid): mb for pid, mb in workers_rss.items()}}
    write_text_atomic(run_dir / "run_stats.json", json.dumps(stats, indent=2))
    return run_dir


def _trial_task(sources_box: list[ObjectRef[ModelSources]], spec: TrialSpec, draw: int,
                plan: StudyPlan) -> TrialDrawDone:  # runs in a Ray worker
    import numba

    from sequencer.simulate.trial import simulate_draw

    numba.set_num_threads(1)
    return draw, simulate_draw(_shared(sources_box), spec, draw, plan)


def run_trial(spec: TrialSpec, workers: int | None = None, sources: ModelSources | None = None,
              progress: bool = True, *, should_stop: Callable[[], bool] | None = None,
              address: str | None = None,
              on_progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Simulate every replicate of a ``TrialSpec``; returns OS (rep, arm, n_max) in draw
    order, so the result does not depend on which worker finished first. ``should_stop``,
    ``on_progress``: see the module doc; ``address``: a Ray cluster (default a local Ray with
    ``workers`` CPUs)."""
    spec = spec.validate()
    sources = sources or load_sources()
    per = spec.reps // spec.draws
    out = np.empty((spec.reps, 2, spec.n_max))
    with ray_session(workers, address) as ray:
        task = ray.remote(num_cpus=1, max_retries=RETRIES, retry_exceptions=True)(_trial_task)
        sources_ref, plan_ref = ray.put(sources), ray.put(plan_study(sources, spec.study()))
        refs = [task.remote([sources_ref], spec, d, plan_ref) for d in range(spec.draws)]
        remaining, done, start = list(refs), 0, time.perf_counter()
        while remaining:
            ready, remaining = _next_ready(ray, remaining, should_stop)
            for ref in ready:
                draw, os_time = ray.get(ref)
                out[draw * per:(draw + 1) * per] = os_time
                done += 1
            if on_progress is not None:
                on_progress(done, spec.draws)
            if progress:
                sys.stderr.write(f"\r  simulated {done}/{spec.draws} draws "
                                 f"({done * per * 2 * spec.n_max:,} patients) "
                                 f"{time.perf_counter() - start:6.1f} s")
                sys.stderr.flush()
        if progress:
            sys.stderr.write("\n")
    return out


def _next_ready(ray: ModuleType, remaining: list[ObjectRef[_T]],
                should_stop: Callable[[], bool] | None
                ) -> tuple[list[ObjectRef[_T]], list[ObjectRef[_T]]]:
    """``ray.wait`` for one finished task; with ``should_stop``, asked every CHECK_SECONDS, and
    when it says so the outstanding tasks are cancelled and ``RunCancelled`` raised."""
    if should_stop is None:
        return ray.wait(remaining, num_returns=1)
    while True:
        if should_stop():
            for ref in remaining:
                ray.cancel(ref, force=True)  # a cancelled task is not retried
            # cancelling is asynchronous: wait until the tasks are gone (bounded)
            ray.wait(remaining, num_returns=len(remaining), timeout=CANCEL_SECONDS)
            raise RunCancelled(f"stopped on request with {len(remaining)} Ray tasks outstanding")
        ready, rest = ray.wait(remaining, num_returns=1, timeout=CHECK_SECONDS)
        if ready:
            return ready, rest


def _wait(refs: list[ObjectRef[DrawDone]], total: int, per_patient: int, progress: bool,
          should_stop: Callable[[], bool] | None = None,
          on_progress: Callable[[int, int], None] | None = None) -> dict[int, float]:
    import ray

    start, done, remaining = time.perf_counter(), 0, list(refs)
    rss: dict[int, float] = {}
    while remaining:
        ready, remaining = _next_ready(ray, remaining, should_stop)
        for ref in ready:
            _, patients, peak, pid = ray.get(ref)  # raises the task's error after retries
            done += patients * per_patient
            rss[pid] = max(rss.get(pid, 0.0), peak)
        if on_progress is not None:
            on_progress(done, total)
        if progress:
            elapsed = time.perf_counter() - start
            rate = done / elapsed if elapsed > 0 else 0.0
            eta = (total - done) / rate if rate > 0 else float("nan")
            sys.stderr.write(f"\r  simulated {done:,}/{total:,} patient trajectories "
                             f"({100 * done / total:5.1f}%) {elapsed:6.1f} s, eta {eta:6.1f} s")
            sys.stderr.flush()
    if progress:
        sys.stderr.write("\n")
    return rss
