"""The fake LM Studio's OpenAI-compatible and legacy v0 routes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pytest_lmbench.testing import (
    ANSWER_KEY,
    AnswerRule,
    FakeModel,
    LMStudioTestServer,
    png_with_text,
)

QWEN, GEMMA = "qwen/qwen3-4b", "google/gemma-3-4b"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def chunks(url: str, body: dict[str, Any]) -> list[Any]:
    """Parsed ``data:`` payloads of an OpenAI-style stream (``[DONE]`` kept as a string)."""
    with httpx.stream("POST", url, json={**body, "stream": True}) as response:
        assert response.status_code == 200
        return list(_data(response.iter_lines()))


def _data(lines: Iterator[str]) -> Iterator[Any]:
    for line in lines:
        if line.startswith("data: "):
            raw = line.removeprefix("data: ")
            yield raw if raw == "[DONE]" else json.loads(raw)


@pytest.fixture
def url(lmstudio_server: LMStudioTestServer) -> str:
    return lmstudio_server.base_url + "/v1/chat/completions"


def test_openai_models_have_no_created_field(lmstudio_server: LMStudioTestServer) -> None:
    body = httpx.get(lmstudio_server.base_url + "/v1/models").json()
    assert body["object"] == "list"
    assert body["data"][0] == {"id": QWEN, "object": "model", "owned_by": "organization_owner"}


def test_non_streaming_chat(url: str) -> None:
    body = httpx.post(url, json={"model": QWEN, "messages": user("Hello"), "max_tokens": 5}).json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == body["system_fingerprint"] == QWEN
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "length"
    assert len(choice["message"]["content"].split()) == 5
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
    assert "stats" not in body


def test_stream_role_chunk_content_finish_done(url: str) -> None:
    events = chunks(url, {"model": QWEN, "messages": user("Hello"), "max_tokens": 4})
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert events[0]["object"] == "chat.completion.chunk"
    contents = [e["choices"][0]["delta"]["content"] for e in events[1:5]]
    assert "".join(contents) == "the quick brown fox"
    assert events[5]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "length",
    }
    assert events[6:] == ["[DONE]"]
    assert all("usage" not in e for e in events[:-1])


def test_stream_usage_chunk_only_with_include_usage(url: str) -> None:
    body = {"model": QWEN, "messages": user("Hi"), "stream_options": {"include_usage": True}}
    events = chunks(url, body)
    usage_chunk = events[-2]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": 5, "completion_tokens": 12, "total_tokens": 17}
    assert events[-3]["choices"][0]["finish_reason"] == "stop"
    assert events[-1] == "[DONE]"


def test_tool_call_stream_deltas(lmstudio_server: LMStudioTestServer, url: str) -> None:
    arguments = {"city": "Paris", "unit": "celsius"}
    lmstudio_server.engine.answers.append(
        AnswerRule("weather", tool_calls=[{"name": "get_weather", "arguments": arguments}])
    )
    events = chunks(url, {"model": QWEN, "messages": user("weather in Paris?"), "tools": TOOLS})
    deltas = [e["choices"][0]["delta"] for e in events if e != "[DONE]" and e["choices"]]
    first = deltas[1]["tool_calls"][0]
    assert first["index"] == 0
    assert first["type"] == "function"
    assert first["id"].isdigit()
    assert first["function"] == {"name": "get_weather", "arguments": ""}
    fragments = [d["tool_calls"][0] for d in deltas[2:] if "tool_calls" in d]
    assert len(fragments) > 1
    assert all(set(f) == {"index", "function"} for f in fragments)
    assert json.loads("".join(f["function"]["arguments"] for f in fragments)) == arguments
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_call_non_streaming(lmstudio_server: LMStudioTestServer, url: str) -> None:
    lmstudio_server.engine.answers.append(
        AnswerRule("weather", tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}])
    )
    body = httpx.post(
        url, json={"model": QWEN, "messages": user("weather?"), "tools": TOOLS}
    ).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["id"].isdigit()
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Oslo"}'}
    without_tools = httpx.post(url, json={"model": QWEN, "messages": user("weather?")}).json()
    assert "tool_calls" not in without_tools["choices"][0]["message"]


def test_raw_string_arguments_are_sent_verbatim(
    lmstudio_server: LMStudioTestServer, url: str
) -> None:
    lmstudio_server.engine.answers.append(
        AnswerRule("weather", tool_calls=[{"name": "get_weather", "arguments": "{city: Oslo"}])
    )
    body = httpx.post(url, json={"model": QWEN, "messages": user("weather"), "tools": TOOLS})
    call = body.json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["arguments"] == "{city: Oslo"


def test_vision_image_url_parts(url: str) -> None:
    png = base64.b64encode(png_with_text({ANSWER_KEY: "Seven cats."})).decode()
    content = [
        {"type": "text", "text": "How many cats in the image?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
    ]
    messages = [{"role": "user", "content": content}]
    body = httpx.post(url, json={"model": GEMMA, "messages": messages}).json()
    assert body["choices"][0]["message"]["content"] == "Seven cats."
    remote = [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    bad = httpx.post(url, json={"model": GEMMA, "messages": [{"role": "user", "content": remote}]})
    assert bad.status_code == 400
    assert bad.json() == {"error": "'url' field must be a base64 encoded image."}
    no_vision = httpx.post(url, json={"model": QWEN, "messages": messages})
    assert no_vision.status_code == 400
    assert no_vision.json()["error"]["message"] == "Model does not support images"


def test_string_form_errors(url: str) -> None:
    fmt = httpx.post(
        url,
        json={"model": QWEN, "messages": user("hi"), "response_format": {"type": "json_object"}},
    )
    assert fmt.status_code == 400
    assert fmt.json() == {"error": "'response_format.type' must be 'json_schema' or 'text'"}
    unknown = httpx.post(url, json={"model": "made/up", "messages": user("hi")})
    assert unknown.status_code == 404
    error = unknown.json()["error"]
    assert error["code"] == "model_not_found"
    assert error["param"] == "model"
    assert error["type"] == "invalid_request_error"
    assert QWEN in error["message"]


@pytest.mark.parametrize(
    ("field", "expected_key"),
    [("reasoning_content", "reasoning_content"), ("reasoning", "reasoning")],
)
def test_reasoning_field_quirk(field: str, expected_key: str) -> None:
    with LMStudioTestServer([FakeModel("openai/gpt-oss-20b", reasoning=True)]) as server:
        server.engine.quirks.reasoning_field = field  # type: ignore[assignment]
        server.engine.answers.append(AnswerRule("hi", "Hello!", reasoning="User greets me."))
        url = server.base_url + "/v1/chat/completions"
        body = httpx.post(url, json={"model": "openai/gpt-oss-20b", "messages": user("hi")}).json()
        events = chunks(url, {"model": "openai/gpt-oss-20b", "messages": user("hi")})
    message = body["choices"][0]["message"]
    assert message[expected_key] == "User greets me."
    assert message["content"] == "Hello!"
    assert body["usage"]["completion_tokens_details"] == {"reasoning_tokens": 3}
    streamed = "".join(
        e["choices"][0]["delta"].get(expected_key, "") for e in events[1:] if e != "[DONE]"
    )
    assert streamed == "User greets me."


def test_inline_think_tags() -> None:
    with LMStudioTestServer([FakeModel("qwen/qwq", reasoning=True)]) as server:
        server.engine.quirks.reasoning_field = "inline"
        server.engine.answers.append(AnswerRule("hi", "Hello!", reasoning="User greets me."))
        url = server.base_url + "/v1/chat/completions"
        body = httpx.post(url, json={"model": "qwen/qwq", "messages": user("hi")}).json()
        events = chunks(url, {"model": "qwen/qwq", "messages": user("hi")})
    expected = "<think>User greets me.</think>\n\nHello!"
    assert body["choices"][0]["message"]["content"] == expected
    streamed = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e != "[DONE]")
    assert streamed == expected


def test_completion_tokens_off_by_one(lmstudio_server: LMStudioTestServer, url: str) -> None:
    lmstudio_server.engine.quirks.completion_tokens_off_by_one = True
    capped = httpx.post(url, json={"model": QWEN, "messages": user("hi"), "max_tokens": 8}).json()
    assert capped["usage"]["completion_tokens"] == 7
    assert len(capped["choices"][0]["message"]["content"].split()) == 8
    natural = httpx.post(url, json={"model": QWEN, "messages": user("hi")}).json()
    assert natural["usage"]["completion_tokens"] == 12
    v1 = httpx.post(
        lmstudio_server.base_url + "/api/v1/chat",
        json={"model": QWEN, "input": "hi", "max_output_tokens": 1},
    ).json()
    assert v1["stats"]["total_output_tokens"] == 0


def test_v0_models_and_model(lmstudio_server: LMStudioTestServer) -> None:
    url = lmstudio_server.base_url
    lmstudio_server.engine.preload(GEMMA, context_length=8192)
    rows = {r["id"]: r for r in httpx.get(url + "/api/v0/models").json()["data"]}
    assert rows[QWEN]["type"] == "llm"
    assert rows[QWEN]["state"] == "not-loaded"
    assert "loaded_context_length" not in rows[QWEN]
    assert rows[GEMMA]["type"] == "vlm"
    assert rows[GEMMA]["state"] == "loaded"
    assert rows[GEMMA]["loaded_context_length"] == 8192
    assert rows[GEMMA]["capabilities"] == ["tool_use"]
    assert rows[QWEN]["compatibility_type"] == "gguf"
    one = httpx.get(url + "/api/v0/models/" + QWEN).json()
    assert one == rows[QWEN]
    assert httpx.get(url + "/api/v0/models/none").status_code == 404


def test_v0_chat_stats_model_info_runtime(lmstudio_server: LMStudioTestServer) -> None:
    url = lmstudio_server.base_url + "/api/v0/chat/completions"
    body = httpx.post(url, json={"model": QWEN, "messages": user("hi"), "max_tokens": 6}).json()
    stats = body["stats"]
    assert stats["stop_reason"] == "maxPredictedTokensReached"
    assert stats["tokens_per_second"] == pytest.approx(6 / stats["generation_time"])
    assert stats["time_to_first_token"] >= 0.015
    assert body["model_info"] == {
        "arch": "qwen3",
        "quant": "Q4_K_M",
        "format": "gguf",
        "context_length": 4096,
    }
    assert body["runtime"]["supported_formats"] == ["gguf"]


def test_v0_stream_omits_stats_unless_quirk_off(lmstudio_server: LMStudioTestServer) -> None:
    url = lmstudio_server.base_url + "/api/v0/chat/completions"
    body = {"model": QWEN, "messages": user("hi"), "stream_options": {"include_usage": True}}
    events = chunks(url, body)
    assert all("stats" not in e and "usage" not in e for e in events if e != "[DONE]")
    lmstudio_server.engine.quirks.v0_stream_stats = True
    final = chunks(url, body)[-2]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["stats"]["stop_reason"] == "eosFound"
    assert final["usage"]["completion_tokens"] == 12


def test_embeddings() -> None:
    models = [FakeModel("text-embedding-nomic", kind="embedding"), FakeModel(QWEN)]
    with LMStudioTestServer(models) as server:
        for route in ("/v1/embeddings", "/api/v0/embeddings"):
            body = httpx.post(
                server.base_url + route,
                json={"model": "text-embedding-nomic", "input": ["a", "b"]},
            ).json()
            assert body["object"] == "list"
            assert body["model"] == "text-embedding-nomic"
            assert [d["index"] for d in body["data"]] == [0, 1]
            assert len(body["data"][0]["embedding"]) == 16
            assert body["data"][0]["embedding"] != body["data"][1]["embedding"]
        llm = httpx.post(server.base_url + "/v1/embeddings", json={"model": QWEN, "input": "a"})
    assert llm.status_code == 400
