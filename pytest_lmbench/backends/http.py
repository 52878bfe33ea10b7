"""HTTP plumbing shared by backends: clients, error bodies, SSE and NDJSON decoding.

Stream decoders stamp each event with the monotonic arrival time of the network
read that completed it, so timing is measured where the bytes arrive and not
where a parser later looks at them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, TypeVar

import httpx

from pytest_lmbench.backends import transport
from pytest_lmbench.backends.base import StreamTimeline
from pytest_lmbench.backends.body import MAX_STREAM_BYTES, BodyDecoder
from pytest_lmbench.backends.connection import Sink
from pytest_lmbench.errors import (
    AuthError,
    BackendHTTPError,
    BackendUnreachable,
    RequestTimeout,
    StreamError,
)

T = TypeVar("T")


def _orjson_loads() -> Callable[[str], Any] | None:
    """orjson parses a stream chunk several times faster, where it is installed."""
    try:
        import orjson  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    loads: Callable[[str], Any] = orjson.loads
    return loads


_fast_loads = _orjson_loads()

# How the user starts each kind of server, for the "cannot reach" hint.
START_HINTS: dict[str, str] = {
    "LM Studio": "start the server with `lms server start` (or the Developer tab of LM Studio)",
    "Ollama": "start it with `ollama serve`",
    "OpenAI-compatible server": "start the server, or pass --lm-base-url",
    "llama.cpp server": "check --lm-serve-gguf",
}


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One TLS context for every client (pass it as ``verify``).

    Building one loads the CA bundle (about 40 ms), and every item opens its own
    async client; a context is safe to share between clients and threads.
    """
    return httpx.create_ssl_context()


# httpx's default pool (100 connections, 20 kept alive) silently queued request 101
# behind the others and closed 80 connections after each wide batch. The runner alone
# decides how many requests are in flight, so the pool never caps or drops them.
STREAM_POOL_LIMITS = httpx.Limits(
    max_connections=None, max_keepalive_connections=None, keepalive_expiry=30.0
)
# After the final event, the rest of the body (the terminating chunk) is read so the
# connection goes back to the pool; a server that keeps the body open longer loses it.
STREAM_TAIL_TIMEOUT_S = 1.0


def make_timeout(seconds: float) -> httpx.Timeout:
    # connect, write, pool and *each read* (i.e. each gap between stream chunks)
    return httpx.Timeout(seconds)


def auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def unreachable(label: str, base_url: str, exc: Exception) -> BackendUnreachable:
    reason = type(exc).__name__
    detail = str(exc).splitlines()[0] if str(exc) else ""
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        # The server took the connection, so "start the server" would send the user astray.
        return BackendUnreachable(
            f"{label} at {base_url} accepted the connection but did not answer within the "
            f"timeout ({reason}); it may be busy or stuck: restart it or raise --lm-timeout"
        )
    hint = START_HINTS.get(label, "start the server")
    return BackendUnreachable(
        f"cannot reach {label} at {base_url} ({reason}{': ' + detail if detail else ''}); {hint}"
    )


def error_from_body(status: int, body: Any, *, label: str, what: str) -> BackendHTTPError | None:
    """Turn any documented error shape into an exception, or None if the body is fine.

    Shapes: ``{"error": "text"}``, ``{"error": {"message", "type", "code", "param"}}``
    (``code`` may be null), also on HTTP 200; non-JSON bodies on 4xx/5xx. The
    message is one line of at most a few hundred characters, whatever was sent.
    """
    err: Any = body.get("error") if isinstance(body, dict) else None
    # ``"error": null`` (or false, "") beside a normal answer says "no error".
    if not err and status < 400:
        return None
    message, etype, code = _error_fields(err, body)
    if status >= 400 and not message:
        message = f"HTTP {status}"
    text = f"{label} {what} failed (HTTP {status}"
    text += f", {code or etype}" if (code or etype) else ""
    text += f"): {message}"
    if status in (401, 403) or code == "invalid_api_key":
        return AuthError(
            text + " — set LM_API_TOKEN (or --lm-api-token) to a valid API token",
            status=status,
            error_type=etype,
            code=code,
        )
    return BackendHTTPError(text, status=status, error_type=etype, code=code)


def retry_after_s(headers: httpx.Headers) -> float:
    """HTTP 429's ``Retry-After`` in seconds; without one (or with an HTTP date, too rare
    on local servers to parse), a short pause: the server said "too many", not "never"."""
    try:
        return max(float(headers.get("retry-after", "1")), 0.0)
    except ValueError:
        return 1.0


def chat_error(response: httpx.Response, label: str) -> BackendHTTPError | None:
    """A chat answer's error, with its Retry-After when it was HTTP 429 (the runners
    wait it out and ask again, outside the measured request)."""
    body = parse_json_body(response)
    err = error_from_body(response.status_code, body, label=label, what="chat")
    if err is not None and response.status_code == 429:
        err.retry_after_s = retry_after_s(response.headers)
    return err


def _error_fields(err: Any, body: Any) -> tuple[str, str | None, str | None]:
    if isinstance(err, str):
        return _one_line(err), None, None
    if isinstance(err, dict):
        message = err.get("message")
        etype = err.get("type")
        code = err.get("code")
        return (
            _one_line(str(message)) if message not in (None, "") else _compact(err),
            _field(etype),
            _field(code),
        )
    if err is not None:
        return _compact(err), None, None  # e.g. {"error": true}: still say what was sent
    if isinstance(body, (str, bytes)):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return _one_line(text[:_MAX_MESSAGE]), None, None
    return "", None, None


# A server may put a whole HTML page or a stack trace in an error; one line stays readable.
_MAX_MESSAGE = 500


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 1] + "…"


def _field(value: Any) -> str | None:
    # ``type`` and ``code`` go into the message too, so they must be one line as well.
    text = _one_line(str(value)) if value is not None else ""
    return text or None


def snippet(body: Any) -> str:
    """The start of an unexpected body, quoted, for a one-line message."""
    text = body if isinstance(body, str) else _compact(body)
    return repr(_one_line(text)[:80])


def _compact(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # circular or otherwise unencodable: never fail on an error
        text = repr(value)
    return _one_line(text)


def parse_json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text


class StreamEvent(NamedTuple):
    """One SSE event (``event`` may be None) or one NDJSON line (``event`` None).

    A tuple: one is made per token, and a frozen dataclass took three times as long.
    """

    event: str | None
    data: str
    arrived_ns: int


class SSEDecoder:
    """Incremental ``text/event-stream`` decoder (WHATWG framing, CRLF tolerant)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes, arrived_ns: int) -> list[StreamEvent]:
        if not self._data and self._event is None:
            # Most reads are one whole ``data: {...}\n\n`` event: say so in four scans.
            if (
                not self._buffer
                and chunk[:6] == b"data: "
                and chunk.count(b"\n") == 2
                and chunk[-2:] == b"\n\n"
                and b"\r" not in chunk
            ):
                data = chunk[6:-2].decode("utf-8", "replace")
                return [_new_event(StreamEvent, (None, data, arrived_ns))]
            # Nothing half-read but a line's start: the buffer begins a block.
            whole = self._buffer + chunk if self._buffer else chunk
            plain = _plain_data_events(whole, arrived_ns)
            if plain is not None:
                self._buffer = plain[1]
                return plain[0]
        # Split once: taking lines off the front one by one copied the rest each time,
        # quadratic in a read carrying hundreds of events.
        *lines, self._buffer = (self._buffer + chunk).split(b"\n")
        events: list[StreamEvent] = []
        for line in lines:
            event = self._line(line.rstrip(b"\r").decode("utf-8", "replace"), arrived_ns)
            if event is not None:
                events.append(event)
        return events

    def flush(self, arrived_ns: int) -> list[StreamEvent]:
        tail = self._buffer
        self._buffer = b""
        events = []
        if tail:
            event = self._line(tail.decode("utf-8", "replace"), arrived_ns)
            if event is not None:
                events.append(event)
        event = self._line("", arrived_ns)
        if event is not None:
            events.append(event)
        return events

    def _line(self, line: str, arrived_ns: int) -> StreamEvent | None:
        if line == "":
            if not self._data:
                self._event = None
                return None
            event = StreamEvent(self._event, "\n".join(self._data), arrived_ns)
            self._event, self._data = None, []
            return event
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        return None


def _plain_data_events(chunk: bytes, arrived_ns: int) -> tuple[list[StreamEvent], bytes] | None:
    """The common read, ``data: {...}\n\n`` blocks and nothing else, without the line machinery.

    Returns the events and the unfinished tail to keep. Per token this is most of
    the decoder's work under load (a read then carries dozens of events); anything
    else (comments, named events, CR, multi-line data, a tail holding a whole line)
    takes the general path.
    """
    if b"\r" in chunk:
        return None
    blocks = chunk.split(b"\n\n")
    tail = blocks.pop()
    if b"\n" in tail:
        return None
    events = []
    for block in blocks:
        if block[:6] != b"data: " or b"\n" in block:
            return None
        data = block[6:].decode("utf-8", "replace")
        events.append(_new_event(StreamEvent, (None, data, arrived_ns)))
    return events, tail


# StreamEvent(...) checks for keyword arguments; tuple's own __new__ takes half the time.
_new_event = tuple.__new__


class NDJSONDecoder:
    """Newline-delimited JSON (Ollama streams)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes, arrived_ns: int) -> list[StreamEvent]:
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        return [event for raw in lines if (event := _ndjson_event(raw, arrived_ns)) is not None]

    def flush(self, arrived_ns: int) -> list[StreamEvent]:
        tail, self._buffer = self._buffer, b""
        event = _ndjson_event(tail, arrived_ns)
        return [] if event is None else [event]


def _ndjson_event(raw: bytes, arrived_ns: int) -> StreamEvent | None:
    # Blank as text, not as bytes: str.strip also drops \x1c-\x1f, which bytes.strip keeps.
    text = raw.decode("utf-8", "replace")
    return StreamEvent(None, text, arrived_ns) if text.strip() else None


def _loads(text: str) -> Any:
    if _fast_loads is not None:
        try:
            return _fast_loads(text)
        except ValueError:
            pass  # NaN, integers past 64 bits...: json decides, as without orjson
    return json.loads(text)


def load_event_json(event: StreamEvent, label: str) -> Any:
    try:
        return _loads(event.data)
    except json.JSONDecodeError as exc:
        raise StreamError(
            f"{label} sent malformed JSON in the stream: {snippet(event.data)}"
        ) from exc


def trace_connection(timeline: StreamTimeline) -> dict[str, Any]:
    """Request extensions that stamp when the request went out, and on which connection.

    ``timeline.start_ns`` moves to the moment the request headers are written:
    with 200 requests started at once, building and queueing them in the client
    took up to 130 ms, which is the client's time, not the server's TTFT. httpcore
    reports a TCP connect only for a connection it has to open, so a request that
    never sees one went out on a pooled connection; a connect, being before the
    send, is reported in ``connect_ns`` and never counted in TTFT.
    """

    connect_started_ns: list[int] = []

    async def trace(event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.started":
            timeline.connection_reused = False
            connect_started_ns.append(time.perf_counter_ns())
        elif event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            # TLS completes after TCP: the later stamp wins, so the handshake is included.
            timeline.connect_ns = time.perf_counter_ns() - connect_started_ns[0]
        elif event.endswith("send_request_headers.started"):
            timeline.start_ns = time.perf_counter_ns()
            if timeline.connection_reused is None:
                timeline.connection_reused = True

    return {"trace": trace}


class _RawPieces:
    """httpx's own transport: each raw read, stamped when the reader gets it."""

    def __init__(self, response: httpx.Response) -> None:
        self._chunks = response.aiter_raw()

    async def next(self) -> tuple[bytes, int] | None:
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            return None
        return chunk, time.perf_counter_ns()


def post_stream(
    client: httpx.AsyncClient, url: str, body: Any, timeline: StreamTimeline
) -> contextlib.AbstractAsyncContextManager[httpx.Response]:
    """POST ``body`` as JSON and stream the answer, stamping ``timeline`` as it goes out.

    The fast transport's client writes the request itself; any other client (a test's
    mock transport, httpx's own) goes through ``client.stream``.
    """
    extensions = trace_connection(timeline)
    if isinstance(client, transport.StreamingClient):
        return client.post_stream(url, body, extensions)
    return client.stream("POST", url, json=body, extensions=extensions)


# Folds one decoded event into the answer; True when it was the final event.
EventSink = Callable[[StreamEvent], bool]


async def read_stream(
    response: httpx.Response,
    decoder: SSEDecoder | NDJSONDecoder,
    on_event: EventSink,
    on_first_byte: Callable[[int], None],
    label: str,
    *,
    max_bytes: int = MAX_STREAM_BYTES,
) -> bool:
    """Decode the body into events for ``on_event``; whether the final event came.

    With the fast transport, decoding and folding happen in the connection's read
    callback, stamped where the bytes were read; with httpx's, as each read is
    iterated. After the final event the rest of the body is read (bounded by
    :data:`STREAM_TAIL_TIMEOUT_S`) so the connection returns to the pool; later
    events are not folded in. A cut connection or a read stall becomes a StreamError.
    """
    body = BodyDecoder(response.headers.get("content-encoding"), max_bytes, label)
    first = True

    def feed(chunk: bytes, now: int) -> bool:
        nonlocal first
        if first and chunk:
            on_first_byte(now)
            first = False
        # A plain loop: any() over a generator costs a frame per read, on every token.
        for event in decoder.feed(body.decode(chunk), now):  # noqa: SIM110
            if on_event(event):
                return True
        return False

    try:
        pieces = transport.body_pieces(response)
        if pieces is not None:
            finished = await pieces.consume(feed, STREAM_TAIL_TIMEOUT_S)
        else:
            finished = await _feed_raw(_RawPieces(response), feed)
    except httpx.ReadTimeout as exc:
        raise RequestTimeout(f"{label} stream stalled longer than the timeout") from exc
    except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
        raise StreamError(f"{label} closed the stream mid-response ({type(exc).__name__})") from exc
    return finished or any(on_event(event) for event in decoder.flush(time.perf_counter_ns()))


async def _feed_raw(pieces: _RawPieces, feed: Sink) -> bool:
    while (piece := await pieces.next()) is not None:
        if feed(*piece):
            await _drain(pieces)
            return True
    return False


async def _drain(pieces: _RawPieces) -> None:
    async def rest() -> None:
        while await pieces.next() is not None:
            pass

    # The answer is complete: a tail that errs or stalls only costs the connection.
    with contextlib.suppress(httpx.HTTPError, asyncio.TimeoutError):
        await asyncio.wait_for(rest(), STREAM_TAIL_TIMEOUT_S)


async def bounded(awaitable: Awaitable[T], seconds: float, label: str) -> T:
    """Bound a whole request, not just its gaps, by the user's timeout.

    On Python 3.11+ with ``asyncio.timeout``, in the caller's task: ``wait_for`` starts
    a task per request, and with 512 requests sent at once those starts alone kept
    the last request waiting several milliseconds.
    """
    try:
        if _timeout is None:  # pragma: no cover - Python 3.10
            return await asyncio.wait_for(awaitable, timeout=seconds)
        async with _timeout(seconds):
            return await awaitable
    except asyncio.TimeoutError as exc:
        raise RequestTimeout(
            f"{label} request took longer than the timeout ({seconds:g} s)"
        ) from exc


_timeout: Callable[[float], contextlib.AbstractAsyncContextManager[None]] | None = getattr(
    asyncio, "timeout", None
)
