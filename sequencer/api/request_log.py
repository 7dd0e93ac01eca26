"""Structured JSON request logs with request ids. Only method, route template, status, time
and request id are logged: never query strings, bodies or headers, so no patient data."""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOGGER = logging.getLogger("sequencer.api")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
                   "logger": record.name, "message": record.getMessage()}
        payload.update(getattr(record, "fields", {}))
        return json.dumps(payload)


class _QueueHandler(logging.handlers.QueueHandler):
    """Hands records to the writer thread unformatted: formatting and the write to stderr
    happen off the event loop (they cost about 80 us per request inline)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


_LISTENER: logging.handlers.QueueListener | None = None


def configure_logging(level: int = logging.INFO) -> None:
    global _LISTENER
    if _LISTENER is None:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        records: queue.SimpleQueue = queue.SimpleQueue()
        _LISTENER = logging.handlers.QueueListener(records, handler)
        _LISTENER.start()
        atexit.register(_LISTENER.stop)  # writes what is queued before the process exits
        LOGGER.addHandler(_QueueHandler(records))
    LOGGER.setLevel(level)
    LOGGER.propagate = False


def flush_logs() -> None:
    """Write every queued record now: uvicorn's worker processes end without running atexit
    handlers, which would lose the last lines (the shutdown's)."""
    if _LISTENER is not None and _LISTENER._thread is not None:
        _LISTENER.stop()  # drains the queue, then ends the writer thread
        _LISTENER.start()  # in case the app is started again in this process (tests)


class RequestContext:
    """ASGI middleware: a request id (from ``X-Request-ID`` if it is a plain token, else new),
    echoed in the response, a body-size limit (413 beyond ``max_body_bytes``) and one log line
    per request."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if given.isalnum() and len(given) <= 64 else uuid.uuid4().hex
        start = time.perf_counter()
        status_code = 500
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            status_code = 413
            await _plain(send, 413, request_id,
                         f'{{"detail":"request body larger than {self.max_body_bytes} bytes"}}')
            self._log(scope, status_code, start, request_id)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _TooLarge
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"],
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        except _TooLarge:
            status_code = 413
            await _plain(send, 413, request_id,
                         f'{{"detail":"request body larger than {self.max_body_bytes} bytes"}}')
        finally:
            self._log(scope, status_code, start, request_id)

    @staticmethod
    def _log(scope: Scope, status_code: int, start: float, request_id: str) -> None:
        route = scope.get("route")
        path = getattr(route, "path", None) or "(unmatched)"  # the template, never the values
        LOGGER.info("request", extra={"fields": {
            "request_id": request_id, "method": scope.get("method"), "route": path,
            "status": status_code, "ms": round((time.perf_counter() - start) * 1e3, 2)}})


class _TooLarge(Exception):
    pass


async def _plain(send: Send, status_code: int, request_id: str, body: str) -> None:
    await send({"type": "http.response.start", "status": status_code,
                "headers": [(b"content-type", b"application/json"),
                            (b"x-request-id", request_id.encode())]})
    await send({"type": "http.response.body", "body": body.encode()})
