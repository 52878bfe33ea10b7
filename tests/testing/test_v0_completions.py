"""The fake LM Studio's legacy ``POST /api/v0/completions`` (fact sheet §2.3)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from pytest_lmbench.testing import AnswerRule, Fault, LMStudioTestServer

QWEN = "qwen/qwen3-4b"


def _url(server: LMStudioTestServer) -> str:
    return server.base_url + "/api/v0/completions"


def _events(server: LMStudioTestServer, body: dict[str, Any]) -> list[Any]:
    with httpx.stream("POST", _url(server), json={**body, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line.removeprefix("data: ") for line in response.iter_lines() if line]
    return [line if line == "[DONE]" else json.loads(line) for line in lines]


def test_text_completion_hits_max_tokens(lmstudio_server: LMStudioTestServer) -> None:
    body = {"model": QWEN, "prompt": "Once upon a time", "max_tokens": 6, "temperature": 0}
    reply = httpx.post(_url(lmstudio_server), json=body).json()
    assert reply["id"].startswith("cmpl-")
    assert reply["object"] == "text_completion"
    assert reply["model"] == QWEN
    (choice,) = reply["choices"]
    assert choice == {
        "index": 0,
        "text": "the quick brown fox jumps over",
        "logprobs": None,
        "finish_reason": "length",
    }
    # No prompt template: the prompt's four words are all the input tokens.
    assert reply["usage"] == {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}
    assert reply["stats"]["stop_reason"] == "maxPredictedTokensReached"
    assert reply["model_info"]["context_length"] == 4096
    assert reply["runtime"]["supported_formats"] == ["gguf"]


def test_text_completion_stops_on_its_own(lmstudio_server: LMStudioTestServer) -> None:
    lmstudio_server.engine.answers.append(AnswerRule(match="Paris is", content=" in France."))
    reply = httpx.post(_url(lmstudio_server), json={"model": QWEN, "prompt": "Paris is"}).json()
    assert reply["choices"][0]["text"] == " in France."
    assert reply["choices"][0]["finish_reason"] == "stop"
    assert reply["stats"]["stop_reason"] == "eosFound"


def test_streamed_text_completion(lmstudio_server: LMStudioTestServer) -> None:
    events = _events(lmstudio_server, {"model": QWEN, "prompt": "Go", "max_tokens": 3})
    assert events[-1] == "[DONE]"
    *deltas, last = events[:-1]
    assert "".join(e["choices"][0]["text"] for e in deltas) == "the quick brown"
    assert {e["choices"][0]["finish_reason"] for e in deltas} == {None}
    assert last["choices"][0]["finish_reason"] == "length"
    # v0 streams carry no stats and no usage by default (fact sheet §2.2).
    assert "stats" not in last
    assert "usage" not in last
    lmstudio_server.engine.quirks.v0_stream_stats = True
    last = _events(lmstudio_server, {"model": QWEN, "prompt": "Go", "max_tokens": 3})[-2]
    assert last["stats"]["stop_reason"] == "maxPredictedTokensReached"
    assert last["usage"]["completion_tokens"] == 3


def test_text_completion_errors(lmstudio_server: LMStudioTestServer) -> None:
    url = _url(lmstudio_server)
    no_prompt = httpx.post(url, json={"model": QWEN})
    assert (no_prompt.status_code, no_prompt.json()) == (
        400,
        {"error": "'prompt' field is required"},
    )
    unknown = httpx.post(url, json={"model": "nope/nope", "prompt": "hi"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"


def test_text_completion_stream_faults(lmstudio_server: LMStudioTestServer) -> None:
    lmstudio_server.engine.faults.append(Fault("error_event", match="boom", after_tokens=1))
    events = _events(lmstudio_server, {"model": QWEN, "prompt": "boom", "max_tokens": 4})
    assert events[-1]["error"]["message"] == "Injected stream error"
    assert "[DONE]" not in events
