"""A TestClient on the app with the committed posterior loaded once per session."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sequencer.api.app import create_app
from sequencer.api.settings import Settings
from tests.solve.conftest import sources  # noqa: F401

KEY = "test-key-0123456789"


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    jobs = tmp_path_factory.mktemp("jobs")
    return Settings(environment="development", api_keys=[KEY], max_body_bytes=4096,
                    database_url=f"sqlite:///{jobs / 'jobs.sqlite3'}", jobs_dir=jobs / "runs",
                    job_workers=1, precompute=False)  # tests/api/test_precompute.py does it


@pytest.fixture(scope="session")
def client(settings, sources):  # noqa: F811
    with TestClient(create_app(settings, sources=sources)) as c:
        c.headers["X-API-Key"] = KEY
        yield c
