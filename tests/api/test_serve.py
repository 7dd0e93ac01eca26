"""``sequencer serve`` with several workers: each worker listens on its own socket, so
connections opened together are spread over the workers (with uvicorn's shared socket one
worker could take them all); a second server on the port is refused; SIGTERM stops the
workers and the parent cleanly. Linux only (``SO_REUSEPORT`` and ``/proc``)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from sequencer.api.workers import reuse_port_available
from tests.api.conftest import KEY
from tests.conftest import await_exit

pytestmark = pytest.mark.skipif(not reuse_port_available(), reason="needs Linux SO_REUSEPORT")
WORKERS = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sockets(port: int, state: str) -> dict[int, str]:
    """inode -> state of this machine's IPv4 TCP sockets whose local port is ``port``;
    ``state`` is /proc/net/tcp's hex code (0A listening, 01 established)."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == state:
            found[int(fields[9])] = state
    return found


def _owners(pids: list[int], inodes) -> Counter:
    """How many of ``inodes`` each process holds."""
    counts = Counter()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                counts[pid] += 1
    return counts


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (an orphan's exit status waits for an init
    that reaps it, which a container's first process may not be)."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _server(tmp_path):
    """``sequencer serve`` with WORKERS workers, yielded once every worker is ready."""
    port = _free_port()
    env = {**os.environ, "SEQUENCER_API_KEYS": json.dumps([KEY]), "SEQUENCER_PRECOMPUTE": "false",
           "SEQUENCER_DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.sqlite3'}",
           "SEQUENCER_JOBS_DIR": str(tmp_path / "runs"), "SEQUENCER_JOB_WORKERS": "1"}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "sequencer", "serve", "--port", str(port),
                             "--workers", str(WORKERS)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    ready, ended = threading.Semaphore(0), threading.Event()

    def copy_log():
        """Copy the server's output to serve.log; each worker logs 'ready' once its socket
        listens and its app has started."""
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if b'"message": "ready"' in line:
                ready.release()
        ended.set()
        ready.release()  # wakes a waiter if the server ended before all its workers were ready

    copier = threading.Thread(target=copy_log, daemon=True)
    copier.start()
    for _ in range(WORKERS):  # woken by each 'ready' line; the timeout is a safety net
        assert ready.acquire(timeout=180), "workers did not start"
        assert not ended.is_set(), (tmp_path / "serve.log").read_text()
    yield proc, port, env, tmp_path / "serve.log"
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=90)
    copier.join(timeout=30)
    log.close()


@pytest.fixture
def server(tmp_path):
    """A server of the test's own, for tests that stop it."""
    yield from _server(tmp_path)


@pytest.fixture(scope="module")
def running_server(tmp_path_factory):
    """One server shared by the tests that leave it running (a start costs about 5 s)."""
    yield from _server(tmp_path_factory.mktemp("serve"))


def test_connections_opened_together_reach_every_worker(running_server):
    proc, port, _, _ = running_server
    workers = _children(proc.pid)
    inodes = _sockets(port, "0A")
    assert len(inodes) == WORKERS  # uvicorn's --workers would show one, shared
    assert sorted(_owners(workers, inodes).values()) == [1] * WORKERS  # one each
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(32)]
    try:
        for c in connections:
            c.request("GET", "/healthz")
        for c in connections:
            assert c.getresponse().status == 200
        served = _owners(workers, _sockets(port, "01"))
        # by the kernel's hash of the 32 client ports; all on one worker: p = 2 x 2^-32
        assert len(served) == WORKERS and sum(served.values()) == 32, served
    finally:
        for c in connections:
            c.close()


def test_a_second_server_on_the_port_is_refused(running_server):
    _, port, env, _ = running_server
    second = subprocess.run([sys.executable, "-m", "sequencer", "serve", "--port", str(port),
                             "--workers", str(WORKERS)], env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert second.returncode == 1
    assert f"cannot bind 127.0.0.1:{port}" in second.stderr


def test_sigterm_stops_the_workers_and_the_parent(server):
    proc, port, _, log = server
    # the workers are the children holding a listening socket; the other child, Python's
    # multiprocessing resource tracker, exits by itself once its last user has gone
    workers = list(_owners(_children(proc.pid), _sockets(port, "0A")))
    assert len(workers) == WORKERS
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=90) == 0, log.read_text()
    assert not any(_running(pid) for pid in workers)
    assert not _sockets(port, "0A")


def test_missing_model_files_stop_the_start_with_what_to_do(tmp_path):
    """Checked before any worker starts (in a process of its own), with the loader's message."""
    env = {**os.environ, "SEQUENCER_PRIORS_DIR": str(tmp_path / "missing")}
    result = subprocess.run([sys.executable, "-m", "sequencer", "serve", "--port",
                             str(_free_port())], env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 2
    assert "cannot start" in result.stderr and "missing" in result.stderr


def test_workers_stop_when_the_supervisor_is_killed(server):
    """SIGKILL gives the supervisor no chance to pass anything on; the kernel sends each
    worker SIGTERM (PR_SET_PDEATHSIG), so none is left serving the port."""
    proc, port, _, _ = server
    workers = list(_owners(_children(proc.pid), _sockets(port, "0A")))
    assert len(workers) == WORKERS
    proc.kill()
    proc.wait()
    await_exit(workers, 60)  # woken by each worker's exit; the bound is a safety net
    assert not _sockets(port, "0A")
