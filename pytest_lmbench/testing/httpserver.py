"""Threaded loopback HTTP server base, with JSON, SSE and NDJSON writers.

Every request runs in its own daemon thread, so concurrent streams keep
independent timing. Streams use chunked transfer encoding (as Express and Go do):
a clean end sends the terminating chunk, while an injected cut drops the socket
mid-body, which clients see as an incomplete message rather than a normal end.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NoReturn
from urllib.parse import urlsplit

from pytest_lmbench.testing.answers import user_text_of
from pytest_lmbench.testing.engine import FakeEngine, FakeModel, Fault, RecordedRequest

log = logging.getLogger(__name__)
JSON = dict[str, Any]
Route = Callable[["Exchange", list[Fault]], None]


class ConnectionAbort(Exception):
    """Unwinds a handler whose connection must be dropped without a proper end."""


def dumps(payload: Any) -> bytes:
    # Compact like JSON.stringify / Go's encoder: clients must not rely on spacing anyway.
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Exchange:
    """One request and the means to answer it."""

    def __init__(self, handler: _Handler, owner: FakeHTTPServer, received_ns: int) -> None:
        self._handler = handler
        self.server = owner
        self.received_ns = received_ns
        self.method = handler.command
        self.path = urlsplit(handler.path).path
        self.headers = {k.lower(): v for k, v in handler.headers.items()}
        self.body = handler.read_body()
        self.json: Any = None
        self.json_error = False
        if self.body.strip():
            try:
                self.json = json.loads(self.body)
            except (json.JSONDecodeError, UnicodeDecodeError):
                self.json_error = True
        self.headers_sent = False

    def record(self) -> RecordedRequest:
        return RecordedRequest(
            self.method,
            self.path,
            self.headers,
            self.json,
            self.received_ns,
            self._handler.connection_serial,
        )

    def _head(self, status: int, content_type: str, extra: dict[str, str]) -> None:
        handler = self._handler
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        for name, value in {**self.server.default_headers, **extra}.items():
            handler.send_header(name, value)
        self.headers_sent = True

    def send_bytes(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self._head(status, content_type, {"Content-Length": str(len(data)), **(headers or {})})
        self._handler.end_headers()
        self._handler.wfile.write(data)
        self._handler.wfile.flush()

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, dumps(payload), "application/json; charset=utf-8", headers)

    def start_stream(self, content_type: str) -> None:
        self._head(200, content_type, {"Transfer-Encoding": "chunked", "Cache-Control": "no-cache"})
        self._handler.end_headers()

    def write_chunk(self, data: bytes) -> None:
        if data:
            self._handler.wfile.write(b"%x\r\n%b\r\n" % (len(data), data))
            self._handler.wfile.flush()

    def end_stream(self) -> None:
        self._handler.wfile.write(b"0\r\n\r\n")
        self._handler.wfile.flush()

    def send_cut(self, status: int, data: bytes, content_type: str) -> NoReturn:
        """Promise the whole body, send half of it, then drop the connection."""
        self._head(status, content_type, {"Content-Length": str(len(data))})
        self._handler.end_headers()
        self._handler.wfile.write(data[: len(data) // 2])
        self._handler.wfile.flush()
        raise ConnectionAbort

    def abort(self) -> NoReturn:
        """Drop the connection now: no end of body, no final event."""
        raise ConnectionAbort

    def die(self) -> NoReturn:
        """Shut the whole server down (listening socket and connections), then drop this one."""
        self.server.stop()
        raise ConnectionAbort


class SSEWriter:
    """``text/event-stream`` framing; each event is one HTTP chunk, flushed at once."""

    def __init__(self, exchange: Exchange) -> None:
        self._ex = exchange
        exchange.start_stream("text/event-stream")

    def event(self, name: str, payload: JSON) -> None:
        self._ex.write_chunk(b"event: %b\ndata: %b\n\n" % (name.encode(), dumps(payload)))

    def data(self, payload: JSON) -> None:
        self._ex.write_chunk(b"data: %b\n\n" % dumps(payload))

    def done(self) -> None:
        self._ex.write_chunk(b"data: [DONE]\n\n")

    def malformed(self, event: str | None = None) -> None:
        head = b"event: %b\n" % event.encode() if event else b""
        self._ex.write_chunk(head + b'data: {"type":"oops","content":"unterminated\n\n')

    def close(self) -> None:
        self._ex.end_stream()


class NDJSONWriter:
    """One JSON object per line, as Ollama streams."""

    def __init__(self, exchange: Exchange) -> None:
        self._ex = exchange
        exchange.start_stream("application/x-ndjson")

    def line(self, payload: JSON) -> None:
        self._ex.write_chunk(dumps(payload) + b"\n")

    def malformed(self) -> None:
        self._ex.write_chunk(b'{"message":{"role":"assistant","content":"unterminated\n')

    def close(self) -> None:
        self._ex.end_stream()


def send_json_with_faults(ex: Exchange, status: int, payload: Any, faults: list[Fault]) -> None:
    """Send a whole JSON body, applying stall, die, cut and malformed faults to it."""
    kinds = {f.kind: f for f in faults}
    if "stall" in kinds:
        time.sleep(kinds["stall"].seconds)
    if "die" in kinds:
        ex.die()
    data, content_type = dumps(payload), "application/json; charset=utf-8"
    if "cut" in kinds:
        ex.send_cut(status, data, content_type)
    if "malformed" in kinds:
        data = data[:-1]  # drops the closing brace
    ex.send_bytes(status, data, content_type)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Small SSE writes must leave at once; Nagle plus delayed ACKs would hold them ~40 ms.
    disable_nagle_algorithm = True
    connection_serial = 0

    @property
    def owner(self) -> FakeHTTPServer:
        server = self.server
        assert isinstance(server, _Server)
        return server.owner

    def setup(self) -> None:
        super().setup()
        self.connection_serial = self.owner.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.owner.track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def dispatch(self) -> None:
        exchange = Exchange(self, self.owner, time.perf_counter_ns())
        try:
            self.owner.handle(exchange)
        except ConnectionAbort:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:
            # A bug in the fake: keep it for the test to see, and answer 500 if still possible.
            self.owner.errors.append(exc)
            self.close_connection = True
            if not exchange.headers_sent:
                exchange.send_json(500, {"error": f"fake server bug: {exc!r}"})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops SYNs when hundreds of streams connect at once, and a
    # retransmitted SYN lands a whole second in the client's TTFT.
    request_queue_size = 4096

    def __init__(self, owner: FakeHTTPServer, port: int = 0) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if exc is not None and not isinstance(exc, (OSError, ConnectionAbort)):
            self.owner.errors.append(exc)


class FakeHTTPServer:
    """Start/stop and connection bookkeeping; subclasses implement :meth:`handle`."""

    default_headers: dict[str, str] = {}  # noqa: RUF012 - subclasses replace it, never mutate

    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._connections_opened = 0
        self._lock = threading.Lock()
        self._base_url: str | None = None

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("server not started; call start() or use it as a context manager")
        return self._base_url

    def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 (``port``, 0: a free one) in a daemon thread; returns the base URL.

        Raises OSError when the port cannot be bound.
        """
        if self._server is not None:
            return self.base_url
        server = _Server(self, port)
        host, port = server.server_address[:2]
        self._base_url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._server = server
        self._thread.start()
        return self._base_url

    def stop(self) -> None:
        """Close the listening socket and every open connection. Idempotent."""
        with self._lock:
            server, self._server = self._server, None
            connections, self._connections = list(self._connections), set()
        if server is not None:
            server.shutdown()
            server.server_close()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def open_connections(self) -> int:
        """Client connections still open: a client that never closes its pool shows here."""
        with self._lock:
            return len(self._connections)

    @property
    def connections_opened(self) -> int:
        """Client connections accepted since start: a client that does not reuse them shows here."""
        with self._lock:
            return self._connections_opened

    def track(self, conn: socket.socket, *, add: bool) -> int:
        """Note a connection opening (its serial number, from 1) or closing (0)."""
        with self._lock:
            if add:
                self._connections.add(conn)
                self._connections_opened += 1
                return self._connections_opened
            self._connections.discard(conn)
            return 0

    def handle(self, exchange: Exchange) -> None:
        raise NotImplementedError

    def __enter__(self) -> FakeHTTPServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EngineServer(FakeHTTPServer):
    """Common request flow: record, authenticate, pre-response faults, route."""

    def __init__(self, models: Iterable[FakeModel] = (), engine: FakeEngine | None = None) -> None:
        super().__init__()
        self.engine = engine or FakeEngine()
        for model in models:
            if model.key not in self.engine.models:
                self.engine.add_model(model)

    def route(self, exchange: Exchange) -> tuple[Route, bool] | None:
        """The handler for this request and whether it is an inference route."""
        raise NotImplementedError

    def auth_error(self, exchange: Exchange, token_sent: bool) -> None:
        raise NotImplementedError

    def fault_error(self, exchange: Exchange, fault: Fault) -> None:
        raise NotImplementedError

    def unknown_route(self, exchange: Exchange) -> None:
        raise NotImplementedError

    def handle(self, exchange: Exchange) -> None:
        self.engine.record(exchange.record())
        token = self.engine.script.auth_token
        if token is not None:
            sent = exchange.headers.get("authorization", "")
            if sent != f"Bearer {token}":
                self.auth_error(exchange, bool(sent))
                return
        found = self.route(exchange)
        text = user_text_of(exchange.json)
        faults = self.engine.take_faults(exchange.path, text, inference=bool(found and found[1]))
        early = next((f for f in faults if f.kind in ("http_error", "error_200")), None)
        if early is not None:
            self.fault_error(exchange, early)
        elif found is None:
            self.unknown_route(exchange)
        else:
            found[0](exchange, faults)
