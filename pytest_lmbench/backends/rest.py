"""A backend's REST side (list, load, unload, server facts): bounded in time and size.

Streaming chats are in :mod:`pytest_lmbench.backends.http`.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import httpx

from pytest_lmbench.backends import transport
from pytest_lmbench.backends.http import (
    STREAM_POOL_LIMITS,
    auth_headers,
    error_from_body,
    make_timeout,
    retry_after_s,
    snippet,
    ssl_context,
    unreachable,
)
from pytest_lmbench.errors import BackendHTTPError, RequestTimeout


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
        """A client for streamed chats: the fast transport where httptools is installed.

        Streams are asked for uncompressed: a compressed stream is decoded (and
        capped) by :class:`~pytest_lmbench.backends.body.BodyDecoder`, but is only
        slower to read.
        """
        headers = {**auth_headers(self._token), "Accept-Encoding": "identity"}
        timeout = make_timeout(self._timeout_s)
        # Behind a proxy from the environment, httpx's own transport goes through it.
        if transport.available() and not urllib.request.getproxies():
            fast = transport.StreamTransport(ssl_context())
            return transport.StreamingClient(fast, headers=headers, timeout=timeout)
        return httpx.AsyncClient(
            headers=headers, timeout=timeout, verify=ssl_context(), limits=STREAM_POOL_LIMITS
        )

    def close(self) -> None:
        self._client.close()


MAX_429_RETRIES = 3


def _retry_after_s(status: int, headers: httpx.Headers, deadline: float) -> float | None:
    """Seconds to wait before asking again after HTTP 429, or None: do not retry.

    Only a wait that still fits before the call's deadline is honoured.
    """
    if status != 429:
        return None
    wait_s = retry_after_s(headers)
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
