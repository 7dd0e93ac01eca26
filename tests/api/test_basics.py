"""Service basics: health, API keys, read-only routes, body limit, request ids, start-up
refusals. References: the catalogue and evidence files themselves."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from sequencer.api.app import StartupError, create_app, load_model_files
from sequencer.api.settings import Settings


def test_health_needs_no_key_and_v1_needs_one(client):
    anonymous = TestClient(client.app)
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/readyz").json() == {"status": "ready"}
    assert anonymous.get("/v1/model").status_code == 401
    assert anonymous.get("/v1/model", headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get("/v1/model").status_code == 200


def test_regimens_and_evidence_match_the_files(client, sources):
    catalogue = sources.evidence.catalogue
    regimens = client.get("/v1/regimens").json()
    assert {r["id"] for r in regimens} == {k for k, r in catalogue.regimens.items() if r.lines}
    by_id = {r["id"]: r for r in regimens}
    assert by_id["trastuzumab_deruxtecan"]["standard"] is catalogue.regimens[
        "trastuzumab_deruxtecan"].standard
    assert all(r["investigational"] is not r["standard"] or not r["investigational"]
               for r in regimens)
    trials = client.get("/v1/evidence").json()
    assert sorted(t["trial"] for t in trials) == sorted(t.trial for t in sources.evidence.trials)
    toga = client.get("/v1/evidence/ToGA").json()
    assert [a["os"]["median"] for a in toga["arms"]] == [13.8, 11.1]  # priors/evidence/toga.yaml
    missing = client.get("/v1/evidence/NOPE")
    assert missing.status_code == 404 and "KEYNOTE-811" in missing.json()["detail"]


def test_model_route_gives_versions_and_hashes(client, sources):
    body = client.get("/v1/model").json()
    provenance = sources.provenance()
    assert body["evidence_sha256"] == provenance["evidence_sha256"]
    assert body["parameters_sha256"] == provenance["parameters_sha256"]
    assert body["posterior_draws"] == sources.posterior.n_draws
    assert "not a prescription" in body["caveat"]


def test_request_ids_and_the_body_limit(client, settings):
    r = client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert r.headers["x-request-id"] == "abc123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id\n"}).headers["x-request-id"]
    assert generated.isalnum() and len(generated) == 32
    big = client.post("/v1/regimens", content=b"x" * (settings.max_body_bytes + 1))
    assert big.status_code == 413


def test_placeholder_keys_are_refused_outside_development():
    with pytest.raises(ValidationError, match="SEQUENCER_API_KEYS"):
        Settings(environment="production", api_keys=["changeme"])
    with pytest.raises(ValidationError, match="SEQUENCER_API_KEYS"):
        Settings(environment="production", api_keys=[])
    assert Settings(environment="production", api_keys=["s3cr3t-key-value"]).api_keys


def test_missing_or_corrupt_model_files_stop_the_start(tmp_path):
    empty = Settings(priors_dir=tmp_path)
    with pytest.raises(StartupError, match="cannot start"):
        load_model_files(empty)
    with pytest.raises(StartupError), TestClient(create_app(empty)):
        pass


def test_a_missing_or_corrupt_posterior_names_the_command_to_run(tmp_path):
    import shutil

    from sequencer.evidence.load import DEFAULT_PRIORS_DIR

    priors = tmp_path / "priors"
    shutil.copytree(DEFAULT_PRIORS_DIR, priors, ignore=shutil.ignore_patterns("*.nc", "checks"))
    with pytest.raises(StartupError, match="sequencer fit --seed 2026"):
        load_model_files(Settings(priors_dir=priors))
    (priors / "posterior.nc").write_bytes(b"not a netcdf file")
    with pytest.raises(StartupError, match="sequencer fit"):
        load_model_files(Settings(priors_dir=priors))


def test_a_posterior_of_another_likelihood_stops_the_start(weibull_as_exponential):
    """The Weibull posterior copied over posterior.nc: the service does not start, and says
    which file and what to run."""
    settings = Settings(priors_dir=weibull_as_exponential)
    with pytest.raises(StartupError, match="cannot start: .*posterior.nc.*weibull likelihood.*"
                                           "run `sequencer fit --seed 2026`"):
        load_model_files(settings)
    with pytest.raises(StartupError, match="weibull likelihood"), TestClient(create_app(settings)):
        pass


def test_the_ray_address_setting_reaches_ray_init(tmp_path, sources, monkeypatch):
    """A job connects to the cluster ``Settings.ray_address`` names (no real cluster: ray.init
    is replaced by a recorder that refuses, so the job fails with its error)."""
    import threading

    import ray

    from sequencer.api.app import _job_runner

    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # the setting, not the environment
    calls, called = [], threading.Event()

    def recording_init(**kwargs):
        calls.append(kwargs)
        called.set()
        raise ConnectionError("no Ray cluster in tests")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", recording_init)
    address = "ray://ray-head.example:10001"
    settings = Settings(ray_address=address, database_url=f"sqlite:///{tmp_path / 'jobs.db'}",
                        jobs_dir=tmp_path / "runs", job_workers=1)
    runner = _job_runner(settings, sources)
    runner.start()
    try:
        job = runner.submit("trial-simulation", {"arm_a": "toga-era", "arm_b": "guideline",
                                                 "n_per_arm": 20, "reps": 2, "draws": 1,
                                                 "n_max": 30, "seed": 5})
        assert called.wait(timeout=60), "the job never reached ray.init"
    finally:
        runner.stop()
    assert [call["address"] for call in calls] == [address]
    assert calls[0]["num_cpus"] is None  # a cluster uses its own CPUs
    record = runner.store.get(job.id)
    assert record.status == "failed" and "no Ray cluster in tests" in record.error
