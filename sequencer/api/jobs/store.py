"""Job records in an embedded SQLite database (default) or PostgreSQL (``postgresql://`` URL).

One table, ``jobs``: id, kind, status, progress, the request (JSON), the result (JSON), the
error, timestamps. Every write is one committed transaction, so a record is never half written.
A record survives a restart of the service; ``recover()`` re-queues the jobs a stopped service
left queued or running (their results are deterministic given their seed, and cohort studies
resume from their finished shards).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass

STATUSES = ("queued", "running", "succeeded", "failed", "interrupted")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    progress DOUBLE PRECISION NOT NULL,
    request TEXT NOT NULL,
    result TEXT,
    error TEXT,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL,
    attempts INTEGER NOT NULL
)"""


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    status: str
    progress: float
    request: dict
    result: dict | None
    error: str | None
    created: float
    updated: float
    attempts: int


class JobStore:
    """Thread-safe access to the job table (one connection, serialised by a lock)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        if url.startswith("sqlite:///"):
            self._conn = sqlite3.connect(url.removeprefix("sqlite:///"), check_same_thread=False,
                                         isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._mark = "?"
        elif url.startswith(("postgresql://", "postgres://")):
            import psycopg

            self._conn = psycopg.connect(url, autocommit=True)
            self._mark = "%s"
        else:
            raise ValueError(f"SEQUENCER_DATABASE_URL: {url!r} is not sqlite:///path or "
                             "postgresql://user:password@host/db")
        self._run(_SCHEMA)

    def _run(self, sql: str, params: tuple = ()) -> list[tuple]:
        sql = sql.replace("?", self._mark)
        with self._lock:
            cur = self._conn.execute(sql, params)
            rows = cur.fetchall() if cur.description else []
        return rows

    def create(self, kind: str, request: dict) -> Job:
        now = time.time()
        job_id = uuid.uuid4().hex
        self._run("INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  (job_id, kind, "queued", 0.0, json.dumps(request), None, None, now, now, 0))
        return self.get(job_id)

    def get(self, job_id: str) -> Job | None:
        rows = self._run("SELECT id, kind, status, progress, request, result, error, created, "
                         "updated, attempts FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            return None
        r = rows[0]
        return Job(r[0], r[1], r[2], float(r[3]), json.loads(r[4]),
                   json.loads(r[5]) if r[5] else None, r[6], float(r[7]), float(r[8]), int(r[9]))

    def update(self, job_id: str, **fields) -> None:
        bad = set(fields) - {"status", "progress", "result", "error", "attempts"}
        if bad or fields.get("status", "queued") not in STATUSES:
            raise ValueError(f"job update: unknown fields {sorted(bad)} or status "
                             f"{fields.get('status')!r}")
        if "result" in fields:
            fields["result"] = json.dumps(fields["result"])
        names = ", ".join(f"{k} = ?" for k in fields)
        # column names come from the whitelist checked above, values are parameters
        self._run(f"UPDATE jobs SET {names}, updated = ? WHERE id = ?",
                  (*fields.values(), time.time(), job_id))

    def unfinished(self) -> list[Job]:
        rows = self._run("SELECT id FROM jobs WHERE status IN ('queued', 'running') "
                         "ORDER BY created")
        return [self.get(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
