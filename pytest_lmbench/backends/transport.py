"""A streaming HTTP/1.1 transport for httpx: asyncio Protocols and httptools' C parser.

Under load, httpcore and h11 (a parser in pure Python, behind several layers of
async generators per read) took about half of the client's CPU per token. This
transport parses responses with httptools (llhttp, the parser uvicorn uses) inside
``data_received`` and stamps each network read there, the earliest moment Python
sees the bytes. A streaming reader hands :func:`body_pieces` a sink that takes
each ``(bytes, arrival ns)`` piece in a callback of the same loop turn, so a token
is decoded and folded in without waking a task; anything else reads the body
through httpx.

It is used when httptools is installed (the ``fast`` extra), else httpx's own
transport is. It speaks HTTP/1.1 over TCP or TLS, keeps connections alive per
origin, honours httpx's connect/read/write timeouts and reports httpcore's trace
events (TCP connect, request headers sent), so no caller knows which one carried
a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
import ssl
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import httpx


def _httptools() -> Any:
    try:
        import httptools  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return httptools


httptools: Any = _httptools()

_PIECES = "lmbench_body_pieces"
Origin = tuple[str, str, int]
Piece = tuple[bytes, int]  # body bytes, perf_counter_ns of the read that brought them
# Takes one stamped piece (in a loop callback); True once it has seen the final event.
Sink = Callable[[bytes, int], bool]


def _discard(piece: bytes, arrived_ns: int) -> bool:
    return False


def available() -> bool:
    return httptools is not None


def body_pieces(response: httpx.Response) -> BodyPieces | None:
    """The stamped body of a response this transport carried, else None (read it via httpx)."""
    pieces: BodyPieces | None = response.extensions.get(_PIECES)
    return pieces


class BodyPieces:
    """What a streaming reader sees of a response body: stamped pieces, then None."""

    def __init__(self, connection: _Connection) -> None:
        # The connection's own coroutines: no wrapper frame between reader and socket.
        self.next: Callable[[], Awaitable[Piece | None]] = connection.next_piece
        self.consume: Callable[[Sink, float], Awaitable[bool]] = connection.consume


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser: Any = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._pending: list[bytes] = []
        self._pieces: deque[Piece] = deque()
        self._sink: Sink | None = None
        self._sunk = False  # the sink has seen the final event
        self._folding = False  # waiting for this loop turn's fold
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._head_done = False
        self._complete = False
        self._closed = False
        self._error: Exception | None = None
        self._read_timeout_ns: int | None = None
        self._last_read_ns = 0
        self._wait_from_ns = 0
        self._timer: asyncio.TimerHandle | None = None
        self.status = 0
        self.keep_alive = False

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        self._last_read_ns = now
        if self._complete or self._parser is None:  # nothing is owed: a broken server
            self._fail(httpx.RemoteProtocolError("data on an idle connection"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed HTTP response ({exc})"))
            return
        pending = self._pending
        if pending:
            piece = pending[0] if len(pending) == 1 else b"".join(pending)
            pending.clear()
            self._pieces.append((piece, now))
            if self._sink is None:
                self._wake()
            elif not self._folding:
                self._folding = True
                _folder(self._loop).add(self, self._loop)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._head_done and not self._complete and self._until_close():
            self._complete = True  # a body delimited by the connection's end
            self._wake()
        elif not self._complete:
            self._fail(httpx.ReadError("the server closed the connection mid-response"))
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # -- httptools callbacks ----------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.keep_alive = self._parser.should_keep_alive()
        self._head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._pending.append(body)

    def on_message_complete(self) -> None:
        self._complete = True
        self._wake()

    # -- one request -------------------------------------------------------------------

    @property
    def reusable(self) -> bool:
        return self._complete and self.keep_alive and not self._closed and self._error is None

    def closed_meanwhile(self) -> bool:
        """Whether the server closed this idle connection while the loop was not running.

        Between batches an item's loop does not run, so a keep-alive timeout's close
        (uvicorn's is 5 s) is not seen until the next request fails on it. An idle
        HTTP/1.1 connection has nothing to read: anything readable is that close.
        One poll of the one connection taken, as httpcore does.
        """
        sock = self._transport.get_extra_info("socket") if self._transport else None
        if sock is None:
            return False
        try:
            return _readable(sock)
        except (OSError, ValueError):
            return True

    async def send(self, message: bytes, timeouts: dict[str, float | None]) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._headers, self._pieces, self._error = [], deque(), None
        self._head_done = self._complete = False
        read_s = timeouts.get("read")
        self._read_timeout_ns = None if read_s is None else int(read_s * 1e9)
        if self._closed or self._transport is None:
            raise httpx.RemoteProtocolError("the server closed the connection")
        self._transport.write(message)
        if self._writable is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._writable), timeouts.get("write"))
            except asyncio.TimeoutError as exc:
                raise httpx.WriteTimeout("writing the request took too long") from exc

    async def response_head(self) -> tuple[int, list[tuple[bytes, bytes]]]:
        while not self._head_done:
            await self._wait()
        return self.status, self._headers

    async def next_piece(self) -> Piece | None:
        pieces = self._pieces
        while not pieces:
            if self._complete:
                return None
            await self._wait()
        return pieces.popleft()

    async def consume(self, sink: Sink, tail_s: float) -> bool:
        """Hand every body piece to ``sink``, stamped where it was read, until the body ends.

        The sink runs in a callback once per loop turn, after every read of that turn
        was stamped (see :class:`_Folder`): per token, no future is resolved and no
        task resumes (under load that wake-up was most of the client's CPU), and the
        reader's task wakes once, at the end. Once the sink has seen the final event,
        the rest of the body (the terminating chunk) is read and dropped for up to
        ``tail_s`` so the connection can be pooled; a tail that errs or stalls only
        costs the connection. Returns whether the sink saw the final event; what it
        raised is raised here.
        """
        self._sunk = False
        self._sink = sink
        try:
            while True:
                self.fold()  # what came with the head, or after this turn's fold
                if self._complete or self._sunk:
                    break
                await self._wait()
            if self._error is not None and not self._sunk:
                raise self._error
            if not self._complete:
                with contextlib.suppress(httpx.HTTPError, asyncio.TimeoutError):
                    await asyncio.wait_for(self._until_complete(), tail_s)
        finally:
            self._sink = None
        return self._sunk

    def fold(self) -> None:
        """Hand the pieces read so far to the sink (nothing without one)."""
        self._folding = False
        pieces = self._pieces
        while pieces and self._sink is not None:
            piece, arrived_ns = pieces.popleft()
            self._sink_piece(self._sink, piece, arrived_ns)

    def _sink_piece(self, sink: Sink, piece: bytes, arrived_ns: int) -> None:
        try:
            finished = sink(piece, arrived_ns)
        except Exception as exc:  # raised in the reader's task by consume()
            self._sink = _discard
            self._fail(exc)
            return
        if finished:
            self._sink = _discard
            self._sunk = True
            self._wake()

    async def _until_complete(self) -> None:
        while not self._complete:
            await self._wait()

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            self._transport.close()

    # -- waiting with httpx's read timeout, one timer per gap rather than per read ------

    async def _wait(self) -> None:
        if self._error is not None:
            raise self._error
        waiter = self._waiter = self._loop.create_future()
        self._wait_from_ns = time.perf_counter_ns()
        if self._timer is None and self._read_timeout_ns is not None:
            self._arm(self._read_timeout_ns)
        try:
            await waiter
        finally:
            self._waiter = None
        if self._error is not None:
            raise self._error

    def _arm(self, delay_ns: int) -> None:
        self._timer = self._loop.call_later(delay_ns / 1e9, self._check_gap)

    def _check_gap(self) -> None:
        self._timer = None
        if self._waiter is None or self._read_timeout_ns is None:
            return
        due_ns = max(self._last_read_ns, self._wait_from_ns) + self._read_timeout_ns
        left_ns = due_ns - time.perf_counter_ns()
        if left_ns > 0:
            self._arm(left_ns)
            return
        self._fail(httpx.ReadTimeout("no data from the server within the read timeout"))
        self.close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: Exception) -> None:
        if self._error is None:
            self._error = error
        self._wake()

    def _until_close(self) -> bool:
        names = {name.lower() for name, _ in self._headers}
        return b"content-length" not in names and b"transfer-encoding" not in names


class _Folder:
    """Runs the sinks of the connections that read something, once per loop turn.

    A loop turn delivers every readable socket's bytes in turn; folding each read
    where it arrives delayed the next socket's stamp by that fold (at 64 first
    tokens at once, the last was stamped about a millisecond late). So a read is
    only stamped and queued, and the folding waits for the turn's callbacks.
    """

    def __init__(self) -> None:
        # No reference to the loop: it is this folder's key in a weak dictionary.
        self._ready: list[_Connection] = []

    def add(self, connection: _Connection, loop: asyncio.AbstractEventLoop) -> None:
        if not self._ready:
            loop.call_soon(self._run)
        self._ready.append(connection)

    def _run(self) -> None:
        ready, self._ready = self._ready, []
        for connection in ready:
            connection.fold()


_folders: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Folder] = (
    weakref.WeakKeyDictionary()
)


def _folder(loop: asyncio.AbstractEventLoop) -> _Folder:
    folder = _folders.get(loop)
    if folder is None:
        folder = _folders[loop] = _Folder()
    return folder


def _readable(sock: Any) -> bool:
    if hasattr(select, "poll"):  # select() refuses descriptors past 1023: 1,000 streams have them
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, pool: StreamTransport, connection: _Connection) -> None:
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
        self._idle: dict[Origin, list[_Connection]] = {}
        self._origins: dict[_Connection, Origin] = {}

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

    def _idle_connection(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.reusable and not connection.closed_meanwhile():
                return connection
            self._forget(connection)
        return None

    async def _connect(self, origin: Origin, timeout_s: float | None, trace: Any) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        if trace is not None:
            await trace("connection.connect_tcp.started", {"host": host, "port": port})
        tls = self._ssl if scheme == "https" else None
        opening = loop.create_connection(
            lambda: _Connection(loop), host, port, ssl=tls, server_hostname=host if tls else None
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

    def release(self, connection: _Connection) -> None:
        """Back to the pool when its answer was read to the end, else closed."""
        origin = self._origins.get(connection)
        if origin is not None and connection.reusable:
            self._idle.setdefault(origin, []).append(connection)
        else:
            self._forget(connection)

    def _forget(self, connection: _Connection) -> None:
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
