"""HTTP plumbing shared by backends: clients, error bodies, SSE and NDJSON decoding.

Stream decoders stamp each event with the monotonic arrival time of the network
read that completed it, so timing is measured where the bytes arrive and not
where a parser later looks at them.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from pytest_lmbench.errors import (
    AuthError,
    BackendHTTPError,
    BackendUnreachable,
    RequestTimeout,
    StreamError,
)

T = TypeVar("T")

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


class RestClient:
    """A backend's REST side: one sync client for list/load/unload, and async clients to chat."""

    def __init__(
        self,
        base_url: str,
        label: str,
        *,
        token: str | None,
        timeout_s: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.label = label
        self._token = token
        self._timeout_s = timeout_s
        # HTTP 429 answers waited out (Retry-After) on REST calls, for the run's record.
        self.retries_429 = 0
        self._client = httpx.Client(
            headers=auth_headers(token),
            timeout=make_timeout(timeout_s),
            verify=ssl_context(),
            transport=transport,
        )

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Status and parsed body, bounded as a whole by the timeout and in size.

        httpx's timeout bounds each read, so a server trickling a byte a second would
        hold a model list forever; the deadline is checked as each chunk arrives.
        """
        deadline = time.monotonic() + self._timeout_s
        what = f"{self.label} {method} {path}"
        status, headers, body_text = self._once(method, path, body, deadline, what)
        for _ in range(MAX_429_RETRIES):
            wait_s = _retry_after_s(status, headers, deadline)
            if wait_s is None:
                break
            self.retries_429 += 1
            time.sleep(wait_s)
            status, headers, body_text = self._once(method, path, body, deadline, what)
        _refuse_redirect(status, headers, what)
        return status, body_text

    def _once(
        self, method: str, path: str, body: Any, deadline: float, what: str
    ) -> tuple[int, httpx.Headers, Any]:
        try:
            with self._client.stream(method, self.base_url + path, json=body) as response:
                content = _read_bounded(response, deadline, what, self._timeout_s)
                parsed = parse_json_bytes(content, response.encoding)
                return response.status_code, response.headers, parsed
        except httpx.TransportError as exc:
            raise unreachable(self.label, self.base_url, exc) from exc

    def checked(self, method: str, path: str, body: Any = None, *, what: str) -> Any:
        """The JSON body, or the server's error (any documented shape) as an exception."""
        status, payload = self.request(method, path, body)
        err = error_from_body(status, payload, label=self.label, what=what)
        if err is not None:
            raise err
        return payload

    def checked_object(self, method: str, path: str, body: Any = None, *, what: str) -> Any:
        status, payload = self.request(method, path, body)
        err = error_from_body(status, payload, label=self.label, what=what)
        if err is not None:
            raise err
        if not isinstance(payload, dict):
            # Every REST route answers an object; anything else is a broken or foreign server.
            raise BackendHTTPError(
                f"{self.label} {what} answered HTTP {status} with a body that is not a JSON "
                f"object: {snippet(payload)}",
                status=status,
            )
        return payload

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            headers=auth_headers(self._token),
            timeout=make_timeout(self._timeout_s),
            verify=ssl_context(),
        )

    def close(self) -> None:
        self._client.close()


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


MAX_429_RETRIES = 3


def _retry_after_s(status: int, headers: httpx.Headers, deadline: float) -> float | None:
    """Seconds to wait before asking again after HTTP 429, or None: do not retry.

    Only a Retry-After in seconds that still fits before the call's deadline is
    honoured; without one, a short pause (the server said "too many", not "never").
    """
    if status != 429:
        return None
    raw = headers.get("retry-after", "1")
    try:
        wait_s = max(float(raw), 0.0)
    except ValueError:  # an HTTP date: too rare on local servers to parse
        wait_s = 1.0
    return wait_s if time.monotonic() + wait_s < deadline else None


def _refuse_redirect(status: int, headers: httpx.Headers, what: str) -> None:
    # Following a redirect would send the API token to wherever it points.
    if 300 <= status < 400:
        location = headers.get("location", "")
        target = urlsplit(location).netloc or location or "an unnamed place"
        raise BackendHTTPError(f"{what}: HTTP {status} redirect to {target} not followed")


# A REST answer (a model list, a load result) is small; past this it is a broken or
# hostile server (or a decompression bomb: httpx decodes gzip before we count).
MAX_REST_BODY_BYTES = 64 * 1024 * 1024


def _read_bounded(response: httpx.Response, deadline: float, what: str, timeout_s: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_REST_BODY_BYTES:
            limit_mib = MAX_REST_BODY_BYTES // (1024 * 1024)
            raise BackendHTTPError(f"{what} answered more than {limit_mib} MiB; stopped reading")
        if time.monotonic() > deadline:
            raise RequestTimeout(f"{what} took longer than the timeout ({timeout_s:g} s)")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_bytes(content: bytes, encoding: str | None) -> Any:
    """JSON when the body is JSON, else its text (an HTML error page, a plain message)."""
    try:
        return json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return content.decode(encoding or "utf-8", "replace")


def parse_json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text


@dataclass(frozen=True)
class StreamEvent:
    """One SSE event (``event`` may be None) or one NDJSON line (``event`` None)."""

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
        self._buffer += chunk
        events: list[StreamEvent] = []
        while True:
            line, sep, rest = self._buffer.partition(b"\n")
            if not sep:
                break
            self._buffer = rest
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


def load_event_json(event: StreamEvent, label: str) -> Any:
    try:
        return json.loads(event.data)
    except json.JSONDecodeError as exc:
        raise StreamError(
            f"{label} sent malformed JSON in the stream: {snippet(event.data)}"
        ) from exc


async def iter_stream(
    response: httpx.Response,
    decoder: SSEDecoder | NDJSONDecoder,
    on_first_byte: Callable[[int], None],
    label: str,
) -> AsyncIterator[StreamEvent]:
    """Yield decoded events; a cut connection or a read stall becomes a StreamError."""
    first = True
    try:
        async for chunk in response.aiter_raw():
            now = time.perf_counter_ns()
            if first and chunk:
                on_first_byte(now)
                first = False
            for event in decoder.feed(chunk, now):
                yield event
    except httpx.ReadTimeout as exc:
        raise RequestTimeout(f"{label} stream stalled longer than the timeout") from exc
    except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
        raise StreamError(f"{label} closed the stream mid-response ({type(exc).__name__})") from exc
    for event in decoder.flush(time.perf_counter_ns()):
        yield event


async def bounded(awaitable: Awaitable[T], seconds: float, label: str) -> T:
    """Bound a whole request, not just its gaps, by the user's timeout."""
    try:
        return await asyncio.wait_for(awaitable, timeout=seconds)
    except asyncio.TimeoutError as exc:
        raise RequestTimeout(
            f"{label} request took longer than the timeout ({seconds:g} s)"
        ) from exc
