"""The httptools streaming transport (backends/transport.py) on answers the bundled test
servers never give: bodies delimited by the connection's end, ``Connection: close``,
a broken status line. A raw socket server on loopback sends exactly these bytes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from pytest_lmbench.backends import transport
from pytest_lmbench.backends.base import ChatRequest, ChatResult
from pytest_lmbench.backends.openai import OpenAIBackend
from pytest_lmbench.errors import StreamError
from pytest_lmbench.runners.load import new_event_loop

from .rawserver import RawServer

pytestmark = pytest.mark.skipif(not transport.available(), reason="httptools not installed")

EVENTS = (
    b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)
SSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"


class ScriptedServer(RawServer):
    """Answers the n-th request with ``answers[n]`` (the last one repeats); closes the
    connection after an answer that says ``Connection: close`` or has no length (nor
    chunks). An
    answer given as parts is sent part by part, ``pause_s`` apart."""

    def __init__(
        self, answers: list[bytes | tuple[bytes, ...]], idle_s: float = 5.0, pause_s: float = 0.0
    ) -> None:
        super().__init__()
        self.answers = answers
        self.pause_s = pause_s
        self.idle_s = idle_s  # a keep-alive connection idle this long is closed
        self.requests = 0

    def __enter__(self) -> ScriptedServer:
        super().__enter__()
        return self

    def handle(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self._exchanges(conn)

    def _exchanges(self, conn: socket.socket) -> None:
        conn.settimeout(self.idle_s)
        buffered = b""
        while True:
            while b"\r\n\r\n" not in buffered:
                data = conn.recv(65536)
                if not data:
                    return
                buffered += data
            head, _, buffered = buffered.partition(b"\r\n\r\n")
            length = int(next(_lengths(head), 0))
            while len(buffered) < length:
                buffered += conn.recv(65536)
            buffered = buffered[length:]
            answer = self.answers[min(self.requests, len(self.answers) - 1)]
            self.requests += 1
            parts = (answer,) if isinstance(answer, bytes) else answer
            for index, part in enumerate(parts):
                if index:
                    time.sleep(self.pause_s)
                conn.sendall(part)
            answer = b"".join(parts)
            if b"Connection: close" in answer or not (
                b"Content-Length" in answer or b"chunked" in answer
            ):
                return


def _lengths(head: bytes) -> Iterator[bytes]:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            yield value.strip()


def chats(server: ScriptedServer, count: int) -> list[ChatResult]:
    backend = OpenAIBackend(server.base_url, timeout_s=5)

    async def run() -> list[ChatResult]:
        async with backend.async_client() as client:
            assert isinstance(client, transport.StreamingClient)
            request = ChatRequest(prompt="x", max_tokens=4)
            return [await backend.chat(client, "m", request) for _ in range(count)]

    try:
        return asyncio.run(run())
    finally:
        backend.close()


def test_a_body_that_ends_with_the_connection_is_read_and_the_next_request_reconnects() -> None:
    with ScriptedServer([SSE + b"\r\n" + EVENTS]) as server:
        results = chats(server, 2)
    assert [r.content for r in results] == ["hi", "hi"]
    assert [r.timeline.connection_reused for r in results] == [False, False]
    assert server.connections == 2


def test_keep_alive_reuses_and_connection_close_does_not() -> None:
    sized = SSE + b"Content-Length: %d\r\n\r\n%b" % (len(EVENTS), EVENTS)
    closing = SSE + b"Connection: close\r\nContent-Length: %d\r\n\r\n%b" % (len(EVENTS), EVENTS)
    with ScriptedServer([sized, sized, closing, sized]) as server:
        results = chats(server, 4)
    assert [r.finish_reason for r in results] == ["stop"] * 4
    assert [r.timeline.connection_reused for r in results] == [False, True, True, False]
    assert server.connections == 2


def test_a_broken_status_line_is_a_stream_error() -> None:
    with (
        ScriptedServer([b"HTTP/1.1 OK-ish\r\n\r\n"]) as server,
        pytest.raises(StreamError, match="connection failed mid-request"),
    ):
        chats(server, 1)


def test_each_read_is_stamped_when_it_arrived() -> None:
    # Two events in one read share its stamp; the reader never stamps later than the read.
    with ScriptedServer([SSE + b"Content-Length: %d\r\n\r\n%b" % (len(EVENTS), EVENTS)]) as server:
        [result] = chats(server, 1)
    timeline = result.timeline
    assert timeline.first_byte_ns == timeline.first_token_ns == timeline.token_chunk_ns[0]
    assert timeline.start_ns < timeline.first_byte_ns <= (timeline.end_ns or 0)


def test_without_httptools_streams_go_through_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "available", lambda: False)
    backend = OpenAIBackend("http://127.0.0.1:9", timeout_s=5)
    client = backend.async_client()
    assert type(client) is httpx.AsyncClient
    assert client.headers["accept-encoding"] == "identity"
    asyncio.run(client.aclose())
    backend.close()


@pytest.mark.parametrize("make_loop", [asyncio.new_event_loop, new_event_loop])
def test_an_idle_connection_the_server_closed_meanwhile_is_not_reused(
    make_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    # Between batches the item's loop does not run, so it has not yet seen the close
    # of a server's keep-alive timeout (uvicorn's is 5 s) when the next batch starts.
    sized = SSE + b"Content-Length: %d\r\n\r\n%b" % (len(EVENTS), EVENTS)
    request = ChatRequest(prompt="x", max_tokens=4)
    loop = make_loop()  # asyncio's, and the runner's (uvloop where installed)
    with ScriptedServer([sized], idle_s=0.2) as server:
        backend = OpenAIBackend(server.base_url, timeout_s=5)
        client = backend.async_client()
        first = loop.run_until_complete(backend.chat(client, "m", request))
        time.sleep(0.6)
        second = loop.run_until_complete(backend.chat(client, "m", request))
        loop.run_until_complete(client.aclose())
    loop.close()
    backend.close()
    assert (first.content, second.content) == ("hi", "hi")
    assert second.timeline.connection_reused is False
    assert server.connections == 2


def _chunked(*events: bytes) -> bytes:
    return b"".join(b"%x\r\n%b\r\n" % (len(event), event) for event in events)


CHUNKED = SSE + b"Transfer-Encoding: chunked\r\n\r\n"


def test_a_malformed_event_mid_stream_fails_the_answer_and_not_the_next_one() -> None:
    # The events are folded inside the read callback; what that raises reaches the
    # request, and the half-read connection is closed rather than pooled.
    bad = CHUNKED + _chunked(
        b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n', b"data: {oops\n\n"
    )
    good = SSE + b"Content-Length: %d\r\n\r\n%b" % (len(EVENTS), EVENTS)
    with ScriptedServer([(bad, b"0\r\n\r\n"), good], pause_s=0.3) as server:
        backend = OpenAIBackend(server.base_url, timeout_s=5)

        async def run() -> tuple[BaseException | ChatResult, ChatResult]:
            async with backend.async_client() as client:
                request = ChatRequest(prompt="x", max_tokens=4)
                first: BaseException | ChatResult
                try:
                    first = await backend.chat(client, "m", request)
                except StreamError as exc:
                    first = exc
                return first, await backend.chat(client, "m", request)

        first, second = asyncio.run(run())
        backend.close()
    assert isinstance(first, StreamError)
    assert "malformed JSON" in str(first)
    assert second.content == "hi"
    assert second.timeline.connection_reused is False
    assert server.connections == 2


@pytest.mark.parametrize(("pause_s", "reused"), [(0.1, True), (1.5, False)])
def test_after_the_final_event_the_tail_is_awaited_briefly_for_the_pool(
    pause_s: float, reused: bool
) -> None:
    # The terminating chunk comes after [DONE]: within the tail time the connection is
    # pooled; later, the answer is still complete (ended at [DONE]) and the connection
    # is given up.
    answer = (CHUNKED + _chunked(*(e + b"\n\n" for e in EVENTS.split(b"\n\n")[:3])), b"0\r\n\r\n")
    with ScriptedServer([answer], pause_s=pause_s) as server:
        results = chats(server, 2)
    assert [r.content for r in results] == ["hi", "hi"]
    assert all(r.timeline.end_ns is not None for r in results)
    for result in results:
        # The answer ends at [DONE]'s read (all events came in one), not at the tail.
        assert result.timeline.end_ns == result.timeline.first_byte_ns
    assert results[1].timeline.connection_reused is reused
    assert server.connections == (1 if reused else 2)
