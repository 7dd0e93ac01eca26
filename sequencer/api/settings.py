"""Service settings: one ``Settings`` object read from ``SEQUENCER_*`` environment variables.

Outside development the service refuses to start with no API key or a placeholder key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sequencer.evidence.load import DEFAULT_PRIORS_DIR

PLACEHOLDER_KEYS = frozenset({"", "changeme", "change-me", "dev-key", "development-key"})
DEFAULT_PORT = 8000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEQUENCER_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    api_keys: list[str] = Field(default_factory=lambda: ["dev-key"],
                                description="accepted values of the X-API-Key header")
    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    priors_dir: Path = DEFAULT_PRIORS_DIR
    database_url: str = Field("sqlite:///sequencer-jobs.sqlite3",
                              description="job records: sqlite:///path or postgresql://...")
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    cors_origins: list[str] = Field(default_factory=list)
    ray_address: str | None = Field(None, validation_alias=AliasChoices("RAY_ADDRESS",
                                                                        "SEQUENCER_RAY_ADDRESS"))
    job_workers: int | None = Field(None, ge=1, description="local Ray CPUs for jobs")
    jobs_dir: Path = Field(Path("sequencer-jobs"), description="run directories of jobs")
    workers: int = Field(2, ge=1, le=64, description="uvicorn worker processes of `sequencer "
                         "serve`; each holds its own copy of the model (about 0.6 GB)")
    precompute: bool = Field(True, description="answer every state reachable from the standard "
                             "profiles at start-up (about 10 s per worker)")

    @model_validator(mode="after")
    def _refuse_placeholder_keys(self) -> Settings:
        if self.environment != "development":
            bad = [k for k in self.api_keys if k.strip().lower() in PLACEHOLDER_KEYS]
            if not self.api_keys or bad:
                raise ValueError(
                    "SEQUENCER_API_KEYS: set real API keys (a JSON list) outside development; "
                    f"placeholder or empty keys are refused (got {len(bad)} placeholder(s))")
        return self
