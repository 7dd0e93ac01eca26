"""Job records in an embedded SQLite database (default) or PostgreSQL (``postgresql://`` URL).

One table, ``jobs``: id, kind, status, progress, the request (JSON), the result (JSON), the
error, timestamps, attempts. Every write is one committed transaction, so a record is never half
written, and a record survives a restart of the service.

Several service processes (``sequencer serve --workers N``) share one database: each writes the
jobs submitted to it, and only the one holding the ``RunnerLock`` runs jobs (see
``sequencer.api.jobs.runner``). ``claim()`` moves a job from 'queued' to 'running' in one
conditional UPDATE, so a job is never started twice. The lock is an exclusive ``flock`` on
``<database file>.runner.lock`` for SQLite and a session-level advisory lock on a dedicated
connection for PostgreSQL; either is released by the operating system or the server when its
process dies, so holding it proves that no other runner is alive.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    import psycopg

STATUSES = ("queued", "running", "succeeded", "failed", "interrupted")
PG_LOCK_KEY = 0x5E9_0E4C_E12  # pg_try_advisory_lock key of the job runner (any constant will do)
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


class _Cursor(Protocol):
    """What the store reads from a cursor of either driver (sqlite3, psycopg)."""

    @property
    def description(self) -> object: ...

    @property
    def rowcount(self) -> int: ...

    def fetchall(self) -> list[Any]: ...  # database rows: tuples of column values


class _Connection(Protocol):
    """The part of a DB-API connection the store uses, common to sqlite3 and psycopg."""

    def execute(self, sql: str, params: tuple[object, ...], /) -> _Cursor: ...

    def close(self) -> None: ...


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
        self._conn: _Connection
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
        return self._execute(sql, params)[0]

    def _execute(self, sql: str, params: tuple = ()) -> tuple[list[tuple], int]:
        """Rows and the count of rows changed (``rowcount`` means the same in both drivers)."""
        sql = sql.replace("?", self._mark)
        with self._lock:
            cur = self._conn.execute(sql, params)
            rows = cur.fetchall() if cur.description else []
        return rows, cur.rowcount

    def create(self, kind: str, request: dict) -> Job:
        now = time.time()
        job_id = uuid.uuid4().hex
        self._run("INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  (job_id, kind, "queued", 0.0, json.dumps(request), None, None, now, now, 0))
        return self._existing(job_id)

    def _existing(self, job_id: str) -> Job:
        """A job known to have a record (jobs are never deleted)."""
        job = self.get(job_id)
        if job is None:
            raise LookupError(f"job {job_id}: no record in {self.url}")
        return job

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
        return [self._existing(r[0]) for r in rows]

    def next_queued(self) -> str | None:
        """The oldest queued job's id."""
        rows = self._run("SELECT id FROM jobs WHERE status = 'queued' ORDER BY created, id "
                         "LIMIT 1")
        return rows[0][0] if rows else None

    def claim(self, job_id: str) -> Job | None:
        """Start a queued job ('running', one more attempt): the job, or None when it was not
        'queued' any more. One conditional UPDATE, so two claims cannot both succeed."""
        _, changed = self._execute("UPDATE jobs SET status = 'running', attempts = attempts + 1, "
                                   "updated = ? WHERE id = ? AND status = 'queued'",
                                   (time.time(), job_id))
        return self.get(job_id) if changed == 1 else None

    def unclaim(self, job_id: str) -> None:
        """Put a running job stopped on purpose back in the queue; the attempt does not count."""
        self._run("UPDATE jobs SET status = 'queued', attempts = attempts - 1, updated = ? "
                  "WHERE id = ? AND status = 'running'", (time.time(), job_id))

    def runner_lock(self) -> RunnerLock:
        return RunnerLock(self.url)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class RunnerLock:
    """The right to run this database's jobs, held by one process at a time (module doc).
    ``acquire()`` does not block; call it again to retry."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._file: int | None = None  # SQLite: the flock'ed file descriptor
        # PostgreSQL: the connection whose session holds the lock
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self.held = False

    def acquire(self) -> bool:
        if self.held:
            return True
        if self.url.startswith("sqlite:///"):
            path = self.url.removeprefix("sqlite:///")
            if path in ("", ":memory:"):  # a private database: no other process can share it
                self.held = True
                return True
            fd = os.open(f"{path}.runner.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # another process (or JobStore) holds it
                os.close(fd)
                return False
            self._file, self.held = fd, True
            return True
        import psycopg

        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.url, autocommit=True)
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (PG_LOCK_KEY,)).fetchone()
        except psycopg.Error:
            self._drop_connection()
            return False
        self.held = row is not None and bool(row[0])  # the function returns one row
        return self.held

    def check(self) -> bool:
        """Whether the lock is still held: a PostgreSQL session lock goes with its connection."""
        if self.held and self._conn is not None:
            import psycopg

            try:
                self._conn.execute("SELECT 1")
            except psycopg.Error:
                self._drop_connection()
                self.held = False
        return self.held

    def release(self) -> None:
        held, self.held = self.held, False
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            os.close(self._file)
            self._file = None
        if held and self._conn is not None:
            # unlock explicitly: closing the session also frees it, but only once the server
            # has noticed, so a second runner trying straight away could still be refused
            with contextlib.suppress(Exception):
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (PG_LOCK_KEY,))
        self._drop_connection()

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # a broken connection is thrown away
                self._conn.close()
            self._conn = None
