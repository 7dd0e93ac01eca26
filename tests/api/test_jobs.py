"""Jobs: cohort studies and trial simulations through the service, their records in SQLite
(and PostgreSQL when the server binaries are installed), and a restart. Reference for the
results: the same study run through the command-line path (``run_study`` + ``finish_study``)."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from fastapi.testclient import TestClient

from sequencer.api.app import create_app
from sequencer.api.jobs.store import JobStore
from sequencer.api.settings import Settings
from tests.api.conftest import KEY

STUDY = {"strategies": ["guideline", "toga-era"], "draws": 2, "patients": 300, "chunk": 150,
         "seed": 3}
TRIAL = {"arm_a": "toga-era", "arm_b": "guideline", "n_per_arm": 20, "reps": 4, "draws": 2,
         "n_max": 30, "seed": 5}


def _wait(client, href, timeout=180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(href).json()
        if job["status"] in ("succeeded", "failed", "interrupted"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"{href} did not finish in {timeout} s: {job}")


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
            reference["strategies"][name]["qaly_disc"], rel=1e-12)
    assert job["result"]["provenance"]["evidence_sha256"] == sources.provenance()[
        "evidence_sha256"]


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
    return Settings(api_keys=[KEY], database_url=url, jobs_dir=tmp_path / "runs", job_workers=1)


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
