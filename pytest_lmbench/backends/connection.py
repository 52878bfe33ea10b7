"""One keep-alive HTTP/1.1 connection on an asyncio Protocol, parsed by httptools.

Each network read is stamped in ``data_received``, the earliest moment Python sees
the bytes; a streaming reader's sink folds the stamped pieces in a callback once
per loop turn (:class:`_Folder`), so no task wakes per token. The pool around it,
and httpx's view of it, are in :mod:`pytest_lmbench.backends.transport`.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import httpx


def _httptools() -> Any:
    try:
        import httptools  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return httptools


httptools: Any = _httptools()

Piece = tuple[bytes, int]  # body bytes, perf_counter_ns of the read that brought them
# Takes one stamped piece (in a loop callback); True once it has seen the final event.
Sink = Callable[[bytes, int], bool]


def _discard(piece: bytes, arrived_ns: int) -> bool:
    return False


class Connection(asyncio.Protocol):
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
        self._ready: list[Connection] = []

    def add(self, connection: Connection, loop: asyncio.AbstractEventLoop) -> None:
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
