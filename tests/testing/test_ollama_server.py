"""The fake Ollama over real loopback HTTP."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest

from pytest_lmbench.testing import (
    ANSWER_KEY,
    NO_IMAGE_ANSWER,
    AnswerRule,
    FakeModel,
    OllamaTestServer,
    png_with_text,
)

QWEN, GEMMA = "qwen3:4b", "gemma3:4b"
DURATIONS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": QWEN, "messages": [{"role": "user", "content": text}], **extra}


def ndjson(url: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with httpx.stream("POST", url, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        return [json.loads(line) for line in response.iter_lines() if line]


def test_tags_version_show(ollama_server: OllamaTestServer) -> None:
    url = ollama_server.base_url
    tags = httpx.get(url + "/api/tags").json()["models"]
    assert [t["name"] for t in tags] == [QWEN, GEMMA]
    assert tags[0]["details"]["quantization_level"] == "Q4_K_M"
    assert tags[0]["details"]["parameter_size"] == "4.0B"
    assert httpx.get(url + "/api/version").json() == {"version": "0.12.0"}
    show = httpx.post(url + "/api/show", json={"model": GEMMA}).json()
    assert show["capabilities"] == ["completion", "vision", "tools"]
    assert show["model_info"]["general.architecture"] == "gemma3"
    assert show["model_info"]["general.parameter_count"] == 4_300_000_000
    missing = httpx.post(url + "/api/show", json={"model": "nope"})
    assert (missing.status_code, missing.json()) == (404, {"error": "model 'nope' not found"})
    assert httpx.get(url + "/api/nothing").status_code == 404


def test_latest_tag_is_implicit() -> None:
    with OllamaTestServer([FakeModel("llama3")]) as server:
        assert httpx.get(server.base_url + "/api/tags").json()["models"][0]["name"] == (
            "llama3:latest"
        )
        body = {**chat("hi"), "model": "llama3:latest", "stream": False}
        assert httpx.post(server.base_url + "/api/chat", json=body).json()["done"] is True


def test_streaming_chat_and_final_line(ollama_server: OllamaTestServer) -> None:
    lines = ndjson(ollama_server.base_url + "/api/chat", chat("Hello", options={"num_predict": 5}))
    assert len(lines) == 6
    assert all(line["done"] is False for line in lines[:5])
    assert "".join(line["message"]["content"] for line in lines) == "the quick brown fox jumps"
    final = lines[-1]
    assert final["done_reason"] == "length"
    assert final["prompt_eval_count"] == 5
    assert final["eval_count"] == 5
    assert all(isinstance(final[k], int) and final[k] >= 0 for k in DURATIONS)
    assert final["load_duration"] >= 9_000_000  # the JIT load took load_delay_s
    assert final["message"] == {"role": "assistant", "content": ""}


def test_durations_are_real_nanoseconds(ollama_server: OllamaTestServer) -> None:
    script = ollama_server.engine.script
    script.ttft_s, script.token_interval_s = 0.1, 0.01
    ollama_server.engine.preload(QWEN)
    start = time.perf_counter()
    final = ndjson(ollama_server.base_url + "/api/chat", chat("hi", options={"num_predict": 10}))[
        -1
    ]
    wall_ns = (time.perf_counter() - start) * 1e9
    assert final["eval_count"] == 10
    # Generous bounds: a busy machine wakes the server late, never early.
    assert final["eval_duration"] == pytest.approx(0.1e9, abs=0.025e9)
    assert final["prompt_eval_duration"] == pytest.approx(0.09e9, abs=0.025e9)
    assert final["total_duration"] == pytest.approx(0.19e9, abs=0.04e9)
    assert final["total_duration"] <= wall_ns
    assert final["eval_count"] / final["eval_duration"] * 1e9 == pytest.approx(100, rel=0.15)


def test_non_streaming_and_generate(ollama_server: OllamaTestServer) -> None:
    url = ollama_server.base_url
    ollama_server.engine.answers.append(AnswerRule("capital", "Paris.", reasoning="France."))
    body = httpx.post(url + "/api/chat", json=chat("capital of France?", stream=False)).json()
    assert body["message"] == {"role": "assistant", "content": "Paris.", "thinking": "France."}
    assert body["done"] is True
    assert body["eval_count"] == 2
    no_think = httpx.post(url + "/api/chat", json=chat("capital?", stream=False, think=False))
    assert "thinking" not in no_think.json()["message"]
    generated = httpx.post(
        url + "/api/generate", json={"model": QWEN, "prompt": "capital?", "stream": False}
    ).json()
    assert generated["response"] == "Paris."
    assert generated["done_reason"] == "stop"
    streamed = ndjson(url + "/api/generate", {"model": QWEN, "prompt": "capital?"})
    assert "".join(line["response"] for line in streamed) == "Paris."


def test_tool_calls(ollama_server: OllamaTestServer) -> None:
    ollama_server.engine.answers.append(
        AnswerRule("weather", tool_calls=[{"name": "get_weather", "arguments": {"city": "Rome"}}])
    )
    tools = [{"type": "function", "function": {"name": "get_weather"}}]
    lines = ndjson(ollama_server.base_url + "/api/chat", chat("weather?", tools=tools))
    calls = [line["message"]["tool_calls"] for line in lines if "tool_calls" in line["message"]]
    assert calls == [[{"function": {"name": "get_weather", "arguments": {"city": "Rome"}}}]]
    assert lines[-1]["done_reason"] == "stop"


def test_vision(ollama_server: OllamaTestServer) -> None:
    image = base64.b64encode(png_with_text({ANSWER_KEY: "A lighthouse."})).decode()
    message = {"role": "user", "content": "Describe the image.", "images": [image]}
    url = ollama_server.base_url + "/api/chat"
    seen = httpx.post(url, json={"model": GEMMA, "messages": [message], "stream": False}).json()
    assert seen["message"]["content"] == "A lighthouse."
    blind = httpx.post(url, json={**chat("Describe the image."), "model": GEMMA, "stream": False})
    assert blind.json()["message"]["content"] == NO_IMAGE_ANSWER
    refused = httpx.post(url, json={"model": QWEN, "messages": [message]})
    assert refused.status_code == 400


def test_load_unload_and_ps(ollama_server: OllamaTestServer) -> None:
    url, engine = ollama_server.base_url, ollama_server.engine
    loaded = httpx.post(
        url + "/api/chat", json={"model": QWEN, "messages": [], "options": {"num_ctx": 8192}}
    ).json()
    assert loaded["done_reason"] == "load"
    assert loaded["done"] is True
    (row,) = httpx.get(url + "/api/ps").json()["models"]
    assert row["name"] == QWEN
    assert row["context_length"] == 8192
    assert row["size_vram"] == row["size"]
    assert "expires_at" in row
    unloaded = httpx.post(url + "/api/chat", json={"model": QWEN, "messages": [], "keep_alive": 0})
    assert unloaded.json()["done_reason"] == "unload"
    assert httpx.get(url + "/api/ps").json() == {"models": []}
    assert (engine.load_calls, engine.unload_calls) == (1, 1)
    httpx.post(url + "/api/chat", json=chat("hi", stream=False, keep_alive=0))
    assert engine.loaded == {}
    assert engine.jit_loads == 1
    assert engine.unload_calls == 2


def test_unknown_model(ollama_server: OllamaTestServer) -> None:
    reply = httpx.post(ollama_server.base_url + "/api/chat", json={**chat("hi"), "model": "x"})
    assert (reply.status_code, reply.json()) == (404, {"error": "model 'x' not found"})
