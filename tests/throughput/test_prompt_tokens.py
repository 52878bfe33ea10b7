"""Prompt token counts from the server's tokenizer when its stream brings no usage."""

from __future__ import annotations

import json
from typing import Any

import httpx

from pytest_lmbench.backends.base import ChatResult, StreamTimeline
from pytest_lmbench.backends.openai import OpenAIBackend
from pytest_lmbench.runners.prompt_tokens import fill_prompt_tokens


def _backend(routes: dict[str, Any], calls: list[str]) -> OpenAIBackend:
    def reply(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path not in routes:
            return httpx.Response(404, json={"detail": "Not Found"})
        return httpx.Response(200, json=routes[request.url.path](json.loads(request.content)))

    return OpenAIBackend("http://server.test", transport=httpx.MockTransport(reply))


def _result(prompt_tokens: int | None) -> ChatResult:
    return ChatResult(
        route="/v1/chat/completions",
        model="m",
        content="x",
        reasoning="",
        tool_calls=[],
        finish_reason="length",
        prompt_tokens=prompt_tokens,
        output_tokens=4,
        token_count_estimated=True,
        server_stats={},
        timeline=StreamTimeline(start_ns=0),
    )


def test_llama_cpp_python_counts_through_its_extras_route() -> None:
    calls: list[str] = []
    routes = {"/extras/tokenize/count": lambda body: {"count": len(body["input"].split())}}
    backend = _backend(routes, calls)
    results, source = fill_prompt_tokens(backend, [_result(None), _result(None)], ["a b", "c d e"])
    assert [r.prompt_tokens for r in results] == [2, 3]
    assert source == "tokenizer"
    assert calls == ["/extras/tokenize/count"] * 2


def test_llama_cpp_server_counts_through_tokenize_and_a_missing_route_is_asked_once() -> None:
    calls: list[str] = []
    backend = _backend({"/tokenize": lambda body: {"tokens": [1] * len(body["content"])}}, calls)
    assert backend.count_prompt_tokens("abcd") == 4
    assert backend.count_prompt_tokens("ab") == 2
    assert calls == ["/extras/tokenize/count", "/tokenize", "/tokenize"]


def test_usage_from_the_server_wins_and_no_tokenizer_leaves_null() -> None:
    calls: list[str] = []
    backend = _backend({}, calls)
    results, source = fill_prompt_tokens(backend, [_result(7)], ["p"])
    assert (results[0].prompt_tokens, source, calls) == (7, "server", [])
    results, source = fill_prompt_tokens(backend, [_result(None)], ["p"])
    assert (results[0].prompt_tokens, source) == (None, None)  # unknown, never 0
