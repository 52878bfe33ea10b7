"""A REST answer is bounded as a whole: a server that trickles bytes or sends far too
much stops with one line, instead of holding the session start forever."""

from __future__ import annotations

import gzip
import socket
import time
from collections.abc import Iterator

import pytest

from pytest_lmbench.backends import rest
from pytest_lmbench.backends.openai import OpenAIBackend
from pytest_lmbench.errors import BackendHTTPError, RequestTimeout

from .rawserver import RawServer

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"


class HostileServer(RawServer):
    """Answers every request with ``head`` then ``body``, ``pause_s`` between its bytes."""

    def __init__(
        self, head: bytes, body: bytes, pause_s: float = 0.0, first: list[bytes] | None = None
    ) -> None:
        super().__init__()
        self._head, self._body, self._pause_s = head, body, pause_s
        # Whole responses for the first connections, before head and body are served.
        self._first = list(first or [])
        self.requests = 0

    def __enter__(self) -> HostileServer:
        super().__enter__()
        return self

    def handle(self, conn: socket.socket) -> None:
        conn.recv(65536)
        self.requests += 1
        try:
            if self._first:
                conn.sendall(self._first.pop(0))
                return
            conn.sendall(self._head + b"\r\n")
            self._send_body(conn)
        except OSError:
            pass  # the client gave up, as it should

    def _send_body(self, conn: socket.socket) -> None:
        if not self._pause_s:
            conn.sendall(self._body)
            return
        for byte in self._body:
            if self.stopping:
                return
            conn.sendall(bytes([byte]))
            time.sleep(self._pause_s)


@pytest.fixture
def trickling() -> Iterator[HostileServer]:
    body = b'{"data": [' + b" " * 400 + b"]}"
    head = HEAD + f"Content-Length: {len(body)}\r\n".encode()
    with HostileServer(head, body, pause_s=0.05) as server:
        yield server


def test_a_trickling_model_list_stops_at_the_timeout(trickling: HostileServer) -> None:
    backend = OpenAIBackend(trickling.base_url, timeout_s=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(RequestTimeout, match=r"GET /v1/models took longer than the timeout"):
            backend.list_models()
    finally:
        backend.close()
    # Each byte came within the read timeout; only the whole-call deadline stops it.
    assert time.monotonic() - started < 2.0


def test_an_oversized_answer_stops_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rest, "MAX_REST_BODY_BYTES", 1024 * 1024)
    bomb = gzip.compress(b" " * (8 * 1024 * 1024))  # 8 MiB of spaces in a few KiB
    head = HEAD + f"Content-Encoding: gzip\r\nContent-Length: {len(bomb)}\r\n".encode()
    with HostileServer(head, bomb) as server:
        backend = OpenAIBackend(server.base_url, timeout_s=5)
        try:
            with pytest.raises(BackendHTTPError, match="answered more than 1 MiB; stopped"):
                backend.list_models()
        finally:
            backend.close()


TOO_MANY = (
    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0.2\r\nContent-Length: 2\r\n"
    b"Connection: close\r\n\r\n{}"
)
MODELS = b'{"data": [{"id": "qwen3"}]}'


def test_http_429_is_waited_out_as_retry_after_says() -> None:
    head = HEAD + f"Content-Length: {len(MODELS)}\r\n".encode()
    with HostileServer(head, MODELS, first=[TOO_MANY, TOO_MANY]) as server:
        backend = OpenAIBackend(server.base_url, timeout_s=5)
        started = time.monotonic()
        try:
            assert [m.key for m in backend.list_models()] == ["qwen3"]
        finally:
            backend.close()
        assert server.requests == 3
    assert time.monotonic() - started >= 0.4  # two waits of Retry-After: 0.2


def test_a_redirect_is_not_followed() -> None:
    redirect = (
        b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://elsewhere.example:8080/v1/models"
        b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    with HostileServer(HEAD, b"", first=[redirect]) as server:
        backend = OpenAIBackend(server.base_url, timeout_s=5)
        try:
            with pytest.raises(
                BackendHTTPError, match=r"HTTP 307 redirect to elsewhere\.example:8080 not followed"
            ):
                backend.list_models()
        finally:
            backend.close()
