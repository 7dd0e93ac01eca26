"""The worker processes of ``sequencer serve``: one listening socket per worker.

uvicorn's own ``--workers`` shares one listening socket between its processes, and a worker's
event loop accepts every connection waiting on it in one go. A client that opens its keep-alive
connections together (a proxy's pool, a load generator) can then land them all on one worker
while the other idles: with 64 connections opened at once, 1 trial in 5 put all 64 on one of two
workers and the others split them 54/10, 52/12, 45/19 and 34/30 (``ss -tnp``, this 2-core
machine), which halved the on-demand throughput in those runs. Here every worker binds its own
socket with ``SO_REUSEPORT``, so the kernel spreads new connections over the workers by a hash
of their addresses.

The parent process supervises: it checks the port is free, starts the workers (``spawn``),
restarts one that dies after it started serving, stops everything when one cannot start (a bad
model file fails the same way every time), and passes SIGTERM or SIGINT on to the workers, which
finish their requests and jobs (uvicorn's graceful shutdown) before the parent exits. A worker
whose supervisor dies (even by SIGKILL) gets SIGTERM from the kernel and stops the same way.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import threading
from multiprocessing.process import BaseProcess

import uvicorn

STARTUP_FAILURE = 3  # a worker's exit code when the app could not start (uvicorn's convention)
BACKLOG = 2048


def _say(message: str) -> None:  # the parent has no logging set up: the app's is per worker
    print(message, file=sys.stderr, flush=True)


def reuse_port_available() -> bool:
    return hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")


def _socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _load(settings) -> str | None:  # pragma: no cover - child process
    from sequencer.api.app import StartupError, load_model_files

    try:
        load_model_files(settings)
    except StartupError as exc:
        return str(exc)
    return None


def check_model_files(settings) -> str | None:
    """The reason the service cannot load its model files, or None. Loaded in a process of
    its own, so the supervisor does not keep a copy of the model (0.4 GB) while it runs."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_load, settings).result()


def _follow_parent() -> None:  # pragma: no cover - child process
    """Ask Linux for SIGTERM (uvicorn's graceful shutdown) when the supervisor dies, however
    it dies: a supervisor killed with SIGKILL would otherwise leave its workers serving."""
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)


def _worker(host: str, port: int, options: dict, parent: int) -> None:  # pragma: no cover
    _follow_parent()
    if os.getppid() != parent:  # the supervisor died before the request above
        return
    sock = _socket(host, port, reuse_port=True)
    sock.listen(BACKLOG)
    server = uvicorn.Server(uvicorn.Config(**options))
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def serve(app: str, host: str, port: int, workers: int, **options) -> int:
    """Run ``app`` (an import string of an app factory) on ``workers`` processes; returns the
    exit code. One worker, or a platform without ``SO_REUSEPORT``, runs uvicorn as it is."""
    options = {"app": app, "factory": True, **options}
    if workers == 1 or not reuse_port_available():
        uvicorn.run(host=host, port=port, workers=workers, **options)
        return 0
    try:  # a plain bind fails if anything holds the port, another `serve` included
        _socket(host, port, reuse_port=False).close()
    except OSError as exc:
        _say(f"error: cannot bind {host}:{port}: {exc}")
        return 1
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def start() -> BaseProcess:
        process = context.Process(target=_worker, args=(host, port, options, os.getpid()),
                                  daemon=False)
        process.start()
        return process

    processes = [start() for _ in range(workers)]
    code = 0
    while not stop.wait(0.5):
        for i, process in enumerate(processes):
            if process.is_alive():
                continue
            if process.exitcode == STARTUP_FAILURE:
                _say(f"error: worker {process.pid} could not start; stopping")
                code = STARTUP_FAILURE
                stop.set()
                break
            _say(f"worker {process.pid} exited with code {process.exitcode}; starting another")
            processes[i] = start()
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn's graceful shutdown
    for process in processes:
        process.join()
    return code
