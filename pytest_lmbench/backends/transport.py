"""A streaming HTTP/1.1 transport for httpx: asyncio Protocols and httptools' C parser.

Under load, httpcore and h11 (a parser in pure Python, behind several layers of
async generators per read) took about half of the client's CPU per token. This
transport parses responses with httptools (llhttp, the parser uvicorn uses) inside
``data_received`` and stamps each network read there, the earliest moment Python
sees the bytes. A streaming reader hands :func:`body_pieces` a sink that takes
each ``(bytes, arrival ns)`` piece in a callback of the same loop turn, so a token
is decoded and folded in without waking a task; anything else reads the body
through httpx.

The connection is :class:`~pytest_lmbench.backends.connection.Connection`; here are
the pool around it and httpx's view of it. It is used when httptools is installed
(the ``fast`` extra), else httpx's own transport is. It speaks HTTP/1.1 over TCP or
TLS, keeps connections alive per origin, honours httpx's connect/read/write
timeouts and reports httpcore's trace events (TCP connect, request headers sent),
so no caller knows which one carried a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from pytest_lmbench.backends.connection import Connection, Piece, Sink, httptools

_PIECES = "lmbench_body_pieces"
Origin = tuple[str, str, int]


def available() -> bool:
    return httptools is not None


def body_pieces(response: httpx.Response) -> BodyPieces | None:
    """The stamped body of a response this transport carried, else None (read it via httpx)."""
    pieces: BodyPieces | None = response.extensions.get(_PIECES)
    return pieces


class BodyPieces:
    """What a streaming reader sees of a response body: stamped pieces, then None."""

    def __init__(self, connection: Connection) -> None:
        # The connection's own coroutines: no wrapper frame between reader and socket.
        self.next: Callable[[], Awaitable[Piece | None]] = connection.next_piece
        self.consume: Callable[[Sink, float], Awaitable[bool]] = connection.consume


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, pool: StreamTransport, connection: Connection) -> None:
        self._pool = pool
        self._connection = connection

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (piece := await self._connection.next_piece()) is not None:
            yield piece[0]

    async def aclose(self) -> None:
        self._pool.release(self._connection)


class StreamTransport(httpx.AsyncBaseTransport):
    """Keep-alive connections per origin; a busy moment opens more, never queues."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl = ssl_context
        self._idle: dict[Origin, list[Connection]] = {}
        self._origins: dict[Connection, Origin] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        message = _request_bytes(request, await request.aread())
        timeouts = request.extensions.get("timeout", {})
        return await self.exchange(origin, message, timeouts, request.extensions.get("trace"))

    async def exchange(
        self, origin: Origin, message: bytes, timeouts: dict[str, float | None], trace: Any
    ) -> httpx.Response:
        """Send one request on an idle (or a new) connection; the response once its head is in."""
        connection = self._idle_connection(origin)
        if connection is None:
            connection = await self._connect(origin, timeouts.get("connect"), trace)
        if trace is not None:
            await trace("http11.send_request_headers.started", {})
        try:
            await connection.send(message, timeouts)
            status, headers = await connection.response_head()
        except BaseException:
            self.release(connection)
            raise
        return httpx.Response(
            status,
            headers=headers,
            stream=_ResponseStream(self, connection),
            extensions={"http_version": b"HTTP/1.1", _PIECES: BodyPieces(connection)},
        )

    def _idle_connection(self, origin: Origin) -> Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.reusable and not connection.closed_meanwhile():
                return connection
            self._forget(connection)
        return None

    async def _connect(self, origin: Origin, timeout_s: float | None, trace: Any) -> Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        if trace is not None:
            await trace("connection.connect_tcp.started", {"host": host, "port": port})
        tls = self._ssl if scheme == "https" else None
        opening = loop.create_connection(
            lambda: Connection(loop), host, port, ssl=tls, server_hostname=host if tls else None
        )
        try:
            _, connection = await asyncio.wait_for(opening, timeout_s)
        except asyncio.TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        if trace is not None:
            await trace("connection.connect_tcp.complete", {"host": host, "port": port})
        self._origins[connection] = origin
        return connection

    def release(self, connection: Connection) -> None:
        """Back to the pool when its answer was read to the end, else closed."""
        origin = self._origins.get(connection)
        if origin is not None and connection.reusable:
            self._idle.setdefault(origin, []).append(connection)
        else:
            self._forget(connection)

    def _forget(self, connection: Connection) -> None:
        self._origins.pop(connection, None)
        connection.close()

    async def aclose(self) -> None:
        connections, self._origins, self._idle = list(self._origins), {}, {}
        for connection in connections:
            connection.close()


def _request_bytes(request: httpx.Request, body: bytes) -> bytes:
    lines = [b"%b %b HTTP/1.1\r\n" % (request.method.encode("ascii"), request.url.raw_path)]
    chunked = False
    for name, value in request.headers.raw:
        lines.append(b"%b: %b\r\n" % (name, value))
        chunked = chunked or (name.lower() == b"transfer-encoding" and b"chunked" in value.lower())
    lines.append(b"\r\n")
    if chunked:  # a body httpx could not size: one chunk and the terminator
        body = (b"%x\r\n%b\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    lines.append(body)
    return b"".join(lines)


class StreamingClient(httpx.AsyncClient):
    """An httpx client whose streamed JSON posts skip httpx's per-request machinery.

    Building a request in httpx (URL parsing, header merging, cookies, auth and
    redirect steps) took about a millisecond of CPU: with 512 requests sent at once,
    the early answers waited for the loop behind the late requests' set-up, and it
    showed in their TTFT. :meth:`post_stream` writes the client's headers and a
    JSON body straight to a pooled connection; everything else is plain httpx.
    """

    def __init__(self, stream_transport: StreamTransport, **kwargs: Any) -> None:
        super().__init__(transport=stream_transport, **kwargs)
        self._stream_transport = stream_transport
        self._timeouts: dict[str, float | None] = self.timeout.as_dict()
        self._heads: dict[str, tuple[Origin, bytes]] = {}
        self._last_payload: tuple[Any, bytes] | None = None

    @contextlib.asynccontextmanager
    async def post_stream(
        self, url: str, body: Any, extensions: dict[str, Any]
    ) -> AsyncIterator[httpx.Response]:
        """POST ``body`` as JSON; a body must not be changed once sent (it is sent again
        from its serialised bytes when the same object comes back)."""
        origin, head = self._heads.get(url) or self._head(url)
        data = self._payload(body)
        message = b"%bContent-Length: %d\r\n\r\n%b" % (head, len(data), data)
        trace = extensions.get("trace")
        response = await self._stream_transport.exchange(origin, message, self._timeouts, trace)
        try:
            yield response
        finally:
            await response.aclose()

    def _payload(self, body: Any) -> bytes:
        # The same body object sent again (a batch's identical requests) is not re-serialised.
        last = self._last_payload
        if last is not None and last[0] is body:
            return last[1]
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        self._last_payload = (body, text.encode())
        return self._last_payload[1]

    def _head(self, url: str) -> tuple[Origin, bytes]:
        parsed = httpx.URL(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        lines = [b"POST %b HTTP/1.1\r\nHost: %b\r\n" % (parsed.raw_path, parsed.netloc)]
        lines += [b"%b: %b\r\n" % (name, value) for name, value in self.headers.raw]
        lines.append(b"Content-Type: application/json\r\n")
        self._heads[url] = (parsed.scheme, parsed.host, port), b"".join(lines)
        return self._heads[url]
