"""Embedding requests: OpenAI-compatible ``/v1/embeddings`` and Ollama's ``/api/embed``.

A backend that serves embeddings has an ``embed(client, model, inputs)`` coroutine
returning :class:`EmbedResult`; it is not part of the ``Backend`` protocol, so a
server type without embeddings needs nothing (its embedding items error, saying so).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from pytest_lmbench.backends import http
from pytest_lmbench.backends.stream import as_int
from pytest_lmbench.errors import StreamError

OPENAI_ROUTE = "/v1/embeddings"
OLLAMA_ROUTE = "/api/embed"


@dataclass(frozen=True)
class EmbedResult:
    route: str
    model: str | None  # the model the server says answered
    vectors: int  # embeddings returned
    # Input tokens as the server counts them; None when it gives none (LM Studio says 0).
    prompt_tokens: int | None
    start_ns: int  # time.perf_counter_ns() when the request went out
    end_ns: int  # ... and when its whole answer was read


async def post(
    client: httpx.AsyncClient, base_url: str, route: str, body: dict[str, Any], label: str
) -> EmbedResult:
    """POST one embedding request and read the vectors and the token count it reports."""
    started = time.perf_counter_ns()
    try:
        response = await client.post(base_url + route, json=body)
    except httpx.TransportError as exc:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            raise http.unreachable(label, base_url, exc) from exc
        raise StreamError(f"{label} connection failed mid-request ({type(exc).__name__})") from exc
    ended = time.perf_counter_ns()
    payload = http.parse_json_body(response)
    err = http.error_from_body(response.status_code, payload, label=label, what="embeddings")
    if err is not None:
        raise err
    if not isinstance(payload, dict):
        raise StreamError(f"{label} answered embeddings with a body that is not a JSON object")
    if route == OLLAMA_ROUTE:
        vectors = payload.get("embeddings")
        tokens = as_int(payload.get("prompt_eval_count"))
    else:
        vectors = payload.get("data")
        usage = payload.get("usage")
        tokens = as_int(usage.get("prompt_tokens")) if isinstance(usage, dict) else None
    model = payload.get("model")
    return EmbedResult(
        route=route,
        model=str(model) if model else None,
        vectors=len(vectors) if isinstance(vectors, list) else 0,
        prompt_tokens=tokens if tokens else None,
        start_ns=started,
        end_ns=ended,
    )
