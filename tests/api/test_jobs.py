"""Jobs: cohort studies and trial simulations through the service, their records in SQLite
(and PostgreSQL when the server binaries are installed), and a restart. Reference for the
results: the same study run through the command-line path (``run_study`` + ``finish_study``)."""

from __future__ import annotations

import shutil
import subprocess
import threading

import pytest
from fastapi.testclient import TestClient

from sequencer.api.app import create_app
from sequencer.api.jobs.store import JobStore
from sequencer.api.settings import Settings
from sequencer.simulate.summary_schema import StudySummary
from tests.api.conftest import KEY

# every job here runs on the session's Ray (tests/conftest.py); a stopped job's tasks must
# then be really cancelled, or they would go on writing shards after the stop
pytestmark = pytest.mark.usefixtures("shared_ray")

STUDY = {"strategies": ["guideline", "toga-era"], "draws": 2, "patients": 300, "chunk": 150,
         "seed": 3}
TRIAL = {"arm_a": "toga-era", "arm_b": "guideline", "n_per_arm": 20, "reps": 4, "draws": 2,
         "n_max": 30, "seed": 5}


FINAL = ("succeeded", "failed", "interrupted")


def _record(runner, job_id, timeout=180.0):
    """The job's record once ``runner`` has recorded it finished: woken by the runner each time
    it records a status (``JobRunner.wait_until``); the timeout is only a safety net."""
    finished = runner.wait_until(lambda: runner.store.get(job_id).status in FINAL, timeout)
    job = runner.store.get(job_id)
    assert finished, f"job {job_id} not finished after {timeout} s: {job}"
    return job


def _wait(client, href, timeout=180.0):
    """The job as the service shows it, once the app's runner has finished it."""
    _record(client.app.state.jobs, href.rsplit("/", 1)[-1], timeout)
    return client.get(href).json()


def test_a_cohort_study_job_equals_the_command_line_result(client, sources, tmp_path):
    from sequencer.reports.cohort import finish_study
    from sequencer.simulate.runner import run_study
    from sequencer.simulate.study import StudySpec

    r = client.post("/v1/cohort-studies", json=STUDY)
    assert r.status_code == 202 and r.json()["status"] in ("queued", "running")
    job = _wait(client, r.json()["href"])
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"] == 1.0
    spec = StudySpec(("guideline", "toga-era"), 2, 300, 3, 150, histories=1000).validate()
    reference = finish_study(run_study(spec, tmp_path / "cli", workers=1, sources=sources,
                                       progress=False), spec, sources)
    for name in ("guideline", "toga-era"):
        assert job["result"]["strategies"][name]["qaly_disc"] == pytest.approx(
            reference.strategies[name].qaly_disc.model_dump(), rel=1e-12)
    assert job["result"]["provenance"]["evidence_sha256"] == sources.provenance()[
        "evidence_sha256"]
    # the result is the run directory's summary.json: the same typed, versioned model
    result = StudySummary.model_validate(job["result"])
    assert result.spec == spec and result.schema_version == reference.schema_version


def test_openapi_documents_the_cohort_study_result(client):
    schema = client.get("/openapi.json").json()
    job = schema["paths"]["/v1/cohort-studies/{job_id}"]["get"]["responses"]["200"]
    ref = job["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    result = schema["components"]["schemas"][ref]["properties"]["result"]
    assert {"$ref": "#/components/schemas/StudySummary"} in result["anyOf"]
    summary = schema["components"]["schemas"]["StudySummary"]
    assert {"schema_version", "strategies", "incremental", "ceac", "evpi"} <= set(
        summary["required"])


def test_a_stored_result_of_another_schema_is_refused_by_name(client):
    store = client.app.state.jobs.store
    job = store.create("cohort-study", {**STUDY, "draws": 1})
    # an older service stored the summary without a schema version; claimed here, so the
    # runner does not run it (or, if it claimed it first, after it has finished)
    if store.claim(job.id) is None:
        _record(store, job.id)
    store.update(job.id, status="succeeded", progress=1.0, result={"strategies": {}})
    got = client.get(f"/v1/cohort-studies/{job.id}").json()
    assert got["status"] == "succeeded" and got["result"] is None
    assert "schema_version" in got["error"] and "submit the study again" in got["error"]


def test_a_trial_simulation_job(client):
    r = client.post("/v1/trial-simulations", json=TRIAL)
    assert r.status_code == 202
    job = _wait(client, r.json()["href"])
    assert job["status"] == "succeeded", job["error"]
    assert 0 <= job["result"]["power"] <= 1
    assert set(job["result"]["median_os"]) == {"toga-era", "guideline"}


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/cohort-studies", {**STUDY, "strategies": ["nonsense"]}, "strategies"),
    ("/v1/cohort-studies", {**STUDY, "reference": "optimal"}, "reference"),
    ("/v1/cohort-studies", {**STUDY, "draws": 0}, "draws"),
    ("/v1/trial-simulations", {**TRIAL, "arm_b": "toga-era"}, "arm_b"),
    ("/v1/trial-simulations", {**TRIAL, "reps": 5}, "reps"),
])
def test_bad_job_requests_are_422_naming_the_field(client, path, body, field):
    r = client.post(path, json=body)
    assert r.status_code == 422
    assert any(field in str(e["loc"]) or field in e["msg"] for e in r.json()["detail"])


def test_unknown_jobs_are_404(client):
    assert client.get("/v1/cohort-studies/nope").status_code == 404
    assert client.get("/v1/trial-simulations/nope").status_code == 404


def _settings(tmp_path, url):
    return Settings(api_keys=[KEY], database_url=url, jobs_dir=tmp_path / "runs", job_workers=1,
                    precompute=False)


def _restart_check(tmp_path, sources, url):
    """A finished job stays readable after a restart; a job left 'running' by a stopped
    service is run again (resumed) by the next one; one stopped too often is 'interrupted'."""
    settings = _settings(tmp_path, url)
    store = JobStore(url)
    done = store.create("trial-simulation", TRIAL)
    store.update(done.id, status="succeeded", progress=1.0, result={"power": 0.5})
    left = store.create("trial-simulation", TRIAL)
    store.update(left.id, status="running", attempts=1)
    dead = store.create("trial-simulation", TRIAL)
    store.update(dead.id, status="running", attempts=3)
    store.close()
    with TestClient(create_app(settings, sources=sources)) as c:
        c.headers["X-API-Key"] = KEY
        assert c.get(f"/v1/trial-simulations/{done.id}").json()["result"] == {"power": 0.5}
        resumed = _wait(c, f"/v1/trial-simulations/{left.id}")
        assert resumed["status"] == "succeeded"
        assert c.get(f"/v1/trial-simulations/{dead.id}").json()["status"] == "interrupted"


def test_jobs_survive_a_restart_with_sqlite(tmp_path, sources):
    _restart_check(tmp_path, sources, f"sqlite:///{tmp_path / 'jobs.sqlite3'}")


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL server (skipped when its binaries are not installed)."""
    import glob
    import os

    path = ":".join([*sorted(glob.glob("/usr/lib/postgresql/*/bin")), os.environ.get("PATH", "")])
    initdb, pg_ctl = shutil.which("initdb", path=path), shutil.which("pg_ctl", path=path)
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    import socket
    import tempfile
    from pathlib import Path

    # a world-readable directory: as root the server runs as 'nobody', who cannot enter
    # pytest's private temporary folders
    base = Path(tempfile.mkdtemp(prefix="sequencer-pg-"))
    data = base / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    user = "postgres" if os.geteuid() == 0 else None
    run_as = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    if run_as:  # PostgreSQL refuses to run as root
        os.chmod(base, 0o777)
    subprocess.run([*run_as, initdb, "-D", str(data), "-U", user or "postgres", "-A", "trust"],
                   check=True, capture_output=True)
    # the server inherits pg_ctl's output: a log file, not a pipe this process would wait on
    subprocess.run([*run_as, pg_ctl, "-D", str(data), "-l", str(base / "server.log"), "-o",
                    f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "-w", "start"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


def test_jobs_survive_a_restart_with_postgresql(tmp_path, sources, postgres):
    _restart_check(tmp_path, sources, postgres)


def test_a_bad_database_url_stops_the_start(tmp_path, sources):
    from sequencer.api.app import StartupError

    with pytest.raises(StartupError, match="job database"), TestClient(
            create_app(_settings(tmp_path, "mysql://nope"), sources=sources)):
        pass


# --- several service processes on one database (``serve --workers N``): each process is played
# here by its own JobStore + JobRunner; flock and advisory locks are per open file / connection,
# so two of them in one process exclude each other as two processes would.

def _url(backend, tmp_path, request):
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    return request.getfixturevalue("postgres")


def _await_lock_released(url, timeout_s=60):
    """Return once the runner lock a released or killed holder had is free. SQLite: the flock
    goes with the file (closed by ``release()``, or by the kernel before ``wait()`` sees a killed
    process exit). PostgreSQL ends the closed session on its own time, so this blocks in
    ``pg_advisory_lock`` (the server grants it when that session is gone) and lets go at once;
    the statement timeout is only a safety net."""
    if not url.startswith("postgresql"):
        return
    import psycopg

    from sequencer.api.jobs.store import PG_LOCK_KEY

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"SET statement_timeout = '{timeout_s}s'")
        conn.execute("SELECT pg_advisory_lock(%s)", (PG_LOCK_KEY,))
        conn.execute("SELECT pg_advisory_unlock(%s)", (PG_LOCK_KEY,))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_claim_is_atomic_and_the_runner_lock_exclusive(backend, tmp_path, request):
    url = _url(backend, tmp_path, request)
    one, two = JobStore(url), JobStore(url)
    job = one.create("trial-simulation", TRIAL)
    claimed = [one.claim(job.id), two.claim(job.id)]
    assert claimed[0] is not None and claimed[0].status == "running"
    assert claimed[0].attempts == 1 and claimed[1] is None
    two.unclaim(job.id)  # a graceful stop: back in the queue, the attempt not counted
    assert (two.get(job.id).status, two.get(job.id).attempts) == ("queued", 0)
    lock_one, lock_two = one.runner_lock(), two.runner_lock()
    assert lock_one.acquire() and lock_one.acquire()  # taking it again is a no-op
    assert not lock_two.acquire()
    lock_one.release()
    _await_lock_released(url)  # PostgreSQL ends the released session on its own time
    assert lock_two.acquire() and lock_two.check()
    lock_two.release()
    one.update(job.id, status="interrupted")  # not left queued for the runners of later tests
    one.close()
    two.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_runner_lock_of_a_killed_process_is_released(backend, tmp_path, request):
    import signal
    import sys

    url = _url(backend, tmp_path, request)
    JobStore(url).close()  # the database exists
    script = ("import sys, time\nfrom sequencer.api.jobs.store import RunnerLock\n"
              "lock = RunnerLock(sys.argv[1])\nassert lock.acquire()\n"
              "print('held', flush=True)\ntime.sleep(120)")
    child = subprocess.Popen([sys.executable, "-c", script, url], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        lock = JobStore(url).runner_lock()
        assert not lock.acquire()
        child.send_signal(signal.SIGKILL)  # no clean-up code runs
        child.wait(timeout=30)
        _await_lock_released(url)
        assert lock.acquire()
        lock.release()
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_one_runner_per_database_and_another_takes_over(backend, tmp_path, request, sources):
    from sequencer.api.jobs.runner import LOCK_RETRY_SECONDS, JobRunner

    url = _url(backend, tmp_path, request)
    first, second = (JobRunner(JobStore(url), sources, tmp_path / "runs", 1) for _ in range(2))
    first.start()
    second.start()
    try:
        assert first.is_runner and not second.is_runner
        job = second.submit("trial-simulation", TRIAL)  # known only to the database
        done = _record(first, job.id)
        assert done.status == "succeeded", done.error
        assert done.attempts == 1 and 0 <= done.result["power"] <= 1
        assert not second.is_runner
        first.stop()
        assert not first.is_runner
        # woken when it takes the lock (it retries every LOCK_RETRY_SECONDS); the bound is a
        # safety net
        assert second.wait_until(lambda: second.is_runner, LOCK_RETRY_SECONDS + 60), \
            "the other process did not take over"
        again = second.submit("trial-simulation", {**TRIAL, "seed": 6})
        done = _record(second, again.id)
        assert done.status == "succeeded" and done.attempts == 1, done.error
    finally:
        first.stop()
        second.stop()


def _shard_table(run_dir):
    import pyarrow.parquet as pq

    return pq.read_table(f"{run_dir}/shards").sort_by(
        [("draw", "ascending"), ("chunk", "ascending"), ("strategy", "ascending")])


# 16 shards, 4 per draw: the first draw's result stops the study (below), so at most the draws
# already running when it arrived (2 Ray CPUs) finish; the study is stopped part-way by
# construction, not by timing.
BIG_STUDY = {"strategies": ["guideline"], "draws": 4, "patients": 4000, "chunk": 1000,
             "seed": 9}


def test_a_stopped_runner_puts_its_study_back_and_the_next_resumes_it(tmp_path, sources):
    """A graceful stop mid-study: the job is queued again with its attempt not counted, its
    finished shards stay, and the next runner resumes it to the uninterrupted result (reference:
    ``run_study`` + ``finish_study`` in one go, as in tests/simulate/test_runner.py).
    The stop is requested from the runner's progress hook when the first draw has finished."""
    from sequencer.api.jobs.requests import CohortStudyRequest
    from sequencer.api.jobs.runner import JobRunner
    from sequencer.reports.cohort import finish_study
    from sequencer.simulate.runner import run_study
    from tests.conftest import await_exit, draw_task_pids

    url = f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    spec = CohortStudyRequest(**BIG_STUDY).spec().validate()
    part_way = threading.Event()

    def stop_after_first_draw(job_id, share):
        part_way.set()
        runner.request_stop()  # the runner cancels the study at its next check

    runner = JobRunner(JobStore(url), sources, tmp_path / "runs", 1,
                       on_progress=stop_after_first_draw)
    runner.start()
    job = runner.submit("cohort-study", BIG_STUDY)
    shards = tmp_path / "runs" / job.id / "shards"
    assert part_way.wait(180), "no draw finished"  # safety net; the event is the hook's call
    runner.stop()
    assert not runner.is_runner
    stopped = runner.store.get(job.id)
    assert (stopped.status, stopped.attempts) == ("queued", 0)
    kept = {p.name: p.stat().st_mtime_ns for p in shards.glob("*.parquet")}
    assert 0 < len(kept) < len(spec.shards()), "the study was not stopped part-way"
    # a cancelled task's worker is killed: once those still running a draw have exited,
    # nothing can write more
    await_exit(draw_task_pids())
    assert {p.name for p in shards.glob("*.parquet")} == set(kept)

    resumed = JobRunner(JobStore(url), sources, tmp_path / "runs", 1)
    resumed.start()
    try:
        done = _record(resumed, job.id)
    finally:
        resumed.stop()
    assert done.status == "succeeded" and done.attempts == 1, done.error
    assert {p.name: p.stat().st_mtime_ns for p in shards.glob("*.parquet")
            if p.name in kept} == kept  # finished shards were not redone
    whole = run_study(spec, tmp_path / "whole", workers=1, sources=sources, progress=False)
    assert _shard_table(shards.parent).equals(_shard_table(whole))
    reference = finish_study(whole, spec, sources)
    assert done.result["strategies"]["guideline"]["qaly_disc"] == pytest.approx(
        reference.strategies["guideline"].qaly_disc.model_dump(), rel=1e-12)
