"""The fake LM Studio over real loopback HTTP: native v1 REST and its strict schemas."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pytest_lmbench.testing import (
    ANSWER_KEY,
    AUTH_REQUIRED_MESSAGE,
    NO_IMAGE_ANSWER,
    AnswerRule,
    FakeModel,
    LMStudioTestServer,
    png_with_text,
)

QWEN, GEMMA = "qwen/qwen3-4b", "google/gemma-3-4b"


def sse(response: httpx.Response) -> Iterator[tuple[str | None, Any]]:
    """(event name, parsed data) per SSE event."""
    name = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            raw = line.removeprefix("data: ")
            yield name, raw if raw == "[DONE]" else json.loads(raw)
            name = None


def stream_v1(url: str, body: dict[str, Any]) -> list[tuple[str | None, Any]]:
    with httpx.stream("POST", url + "/api/v1/chat", json={**body, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(sse(response))


def data_url(text: str | None) -> str:
    png = png_with_text({ANSWER_KEY: text} if text else {})
    return "data:image/png;base64," + base64.b64encode(png).decode()


# -- models, load, unload -------------------------------------------------------------------


def test_v1_models_lists_downloaded_models(lmstudio_server: LMStudioTestServer) -> None:
    body = httpx.get(lmstudio_server.base_url + "/api/v1/models").json()
    by_key = {m["key"]: m for m in body["models"]}
    assert set(by_key) == {QWEN, GEMMA}
    qwen = by_key[QWEN]
    assert qwen["type"] == "llm"
    assert qwen["quantization"] == {"name": "Q4_K_M", "bits_per_weight": 4}
    assert qwen["capabilities"] == {"vision": False, "trained_for_tool_use": True}
    assert by_key[GEMMA]["capabilities"]["vision"] is True
    assert qwen["loaded_instances"] == []
    assert {
        "publisher",
        "display_name",
        "size_bytes",
        "params_string",
        "max_context_length",
    } <= set(qwen)


def test_v1_embedding_model_shape() -> None:
    model = FakeModel("text-embedding-nomic", kind="embedding", architecture="nomic-bert")
    with LMStudioTestServer([model]) as server:
        server.engine.preload("text-embedding-nomic")
        (row,) = httpx.get(server.base_url + "/api/v1/models").json()["models"]
    assert row["type"] == "embedding"
    assert "architecture" not in row
    assert "capabilities" not in row
    assert row["loaded_instances"][0]["config"] == {"context_length": 4096}


def test_v1_load_unload_and_instances(lmstudio_server: LMStudioTestServer) -> None:
    url, engine = lmstudio_server.base_url, lmstudio_server.engine
    first = httpx.post(
        url + "/api/v1/models/load",
        json={
            "model": QWEN,
            "context_length": 8192,
            "flash_attention": False,
            "echo_load_config": True,
        },
    ).json()
    assert first["type"] == "llm"
    assert first["status"] == "loaded"
    assert first["instance_id"] == QWEN
    assert first["load_time_seconds"] >= engine.script.load_delay_s - 0.001
    assert first["load_config"]["context_length"] == 8192
    assert first["load_config"]["flash_attention"] is False
    second = httpx.post(url + "/api/v1/models/load", json={"model": QWEN}).json()
    assert second["instance_id"] == f"{QWEN}:2"
    assert "load_config" not in second
    listed = httpx.get(url + "/api/v1/models").json()["models"]
    qwen = next(m for m in listed if m["key"] == QWEN)
    assert [i["id"] for i in qwen["loaded_instances"]] == [QWEN, f"{QWEN}:2"]
    assert qwen["loaded_instances"][0]["config"]["parallel"] == 4
    reply = httpx.post(url + "/api/v1/models/unload", json={"instance_id": f"{QWEN}:2"})
    assert reply.json() == {"instance_id": f"{QWEN}:2"}
    assert engine.load_calls == 2
    assert engine.unload_calls == 1
    assert set(engine.loaded) == {QWEN}


def test_v1_load_echo_only_applicable_keys() -> None:
    model = FakeModel("nomic-embed", kind="embedding")
    with LMStudioTestServer([model]) as server:
        reply = httpx.post(
            server.base_url + "/api/v1/models/load",
            json={"model": "nomic-embed", "flash_attention": True, "echo_load_config": True},
        ).json()
    assert reply["type"] == "embedding"
    assert reply["load_config"] == {"context_length": 4096}


def test_v1_load_errors(lmstudio_server: LMStudioTestServer) -> None:
    url = lmstudio_server.base_url
    unknown = httpx.post(url + "/api/v1/models/load", json={"model": "totally/made-up-9000"})
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": {
            "type": "model_not_found",
            "message": "Model totally/made-up-9000 not found in downloaded models",
        }
    }
    extra = httpx.post(url + "/api/v1/models/load", json={"model": QWEN, "gpu": "max"})
    assert extra.status_code == 400
    assert extra.json()["error"]["message"] == "Unrecognized key(s) in object: 'gpu'"
    assert extra.json()["error"]["type"] == "invalid_request"
    missing = httpx.post(url + "/api/v1/models/load", json={})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "missing_required_parameter"
    gone = httpx.post(url + "/api/v1/models/unload", json={"instance_id": "nothing"})
    assert gone.status_code == 404
    assert lmstudio_server.engine.load_calls == 0


def test_load_error_model() -> None:
    broken = FakeModel("broken/model", load_error="Failed to load model: out of memory")
    with LMStudioTestServer([broken]) as server:
        load = httpx.post(server.base_url + "/api/v1/models/load", json={"model": "broken/model"})
        chat = httpx.post(
            server.base_url + "/api/v1/chat",
            json={"model": "broken/model", "input": "hi", "stream": True},
        )
        openai = httpx.post(
            server.base_url + "/v1/chat/completions",
            json={"model": "broken/model", "messages": [{"role": "user", "content": "hi"}]},
        )
    assert load.status_code == 500
    assert load.json()["error"]["message"] == "Failed to load model: out of memory"
    assert chat.status_code == 500  # before any SSE: a failed JIT load is an HTTP error
    assert chat.json()["error"]["message"] == "Failed to load model: out of memory"
    assert openai.status_code == 500
    assert openai.json()["error"]["message"] == "Failed to load model: out of memory"


# -- v1 chat --------------------------------------------------------------------------------


def test_v1_chat_json(lmstudio_server: LMStudioTestServer) -> None:
    lmstudio_server.engine.answers.append(AnswerRule("capital of France", "Paris."))
    body = httpx.post(
        lmstudio_server.base_url + "/api/v1/chat",
        json={
            "model": QWEN,
            "input": "What is the capital of France?",
            "system_prompt": "Be brief",
        },
    ).json()
    assert body["model_instance_id"] == QWEN
    assert body["output"] == [{"type": "message", "content": "Paris."}]
    stats = body["stats"]
    assert stats["input_tokens"] == 6 + 2 + 4  # words of input + system prompt + template
    assert stats["total_output_tokens"] == 1
    assert stats["reasoning_output_tokens"] == 0
    assert stats["time_to_first_token_seconds"] >= 0.015
    assert "model_load_time_seconds" in stats  # this request JIT-loaded the model
    assert body["response_id"].startswith("resp_")
    again = httpx.post(
        lmstudio_server.base_url + "/api/v1/chat",
        json={"model": QWEN, "input": "Hello", "store": False},
    ).json()
    assert "response_id" not in again
    assert "model_load_time_seconds" not in again["stats"]
    assert again["stats"]["total_output_tokens"] == lmstudio_server.engine.script.default_words


def test_v1_chat_stream_event_order(lmstudio_server: LMStudioTestServer) -> None:
    events = stream_v1(lmstudio_server.base_url, {"model": QWEN, "input": "Hello there"})
    names = [name for name, _ in events]
    assert all(data["type"] == name for name, data in events)
    assert names[:7] == [
        "chat.start",
        "model_load.start",
        "model_load.progress",
        "model_load.end",
        "prompt_processing.start",
        "prompt_processing.progress",
        "prompt_processing.end",
    ]
    assert names[7] == "message.start"
    assert names[-2:] == ["message.end", "chat.end"]
    deltas = [d["content"] for n, d in events if n == "message.delta"]
    assert len(deltas) == 12
    result = events[-1][1]["result"]
    assert result["output"] == [{"type": "message", "content": "".join(deltas)}]
    assert result["stats"]["model_load_time_seconds"] >= 0.009
    assert events[0][1]["model_instance_id"] == QWEN
    # Loaded now: the next stream has no model_load events.
    names = [n for n, _ in stream_v1(lmstudio_server.base_url, {"model": QWEN, "input": "Hi"})]
    assert "model_load.start" not in names


def test_v1_reasoning_blocks_come_first() -> None:
    model = FakeModel("qwen/qwq", reasoning=True)
    with LMStudioTestServer([model]) as server:
        server.engine.answers.append(AnswerRule("2+2", "4", reasoning="Two plus two is four."))
        events = stream_v1(server.base_url, {"model": "qwen/qwq", "input": "2+2?"})
        off = httpx.post(
            server.base_url + "/api/v1/chat",
            json={"model": "qwen/qwq", "input": "2+2?", "reasoning": "off"},
        ).json()
    names = [n for n, _ in events if n and not n.startswith(("model_load", "prompt_"))]
    assert names == [
        "chat.start",
        "reasoning.start",
        *["reasoning.delta"] * 5,
        "reasoning.end",
        "message.start",
        "message.delta",
        "message.end",
        "chat.end",
    ]
    result = events[-1][1]["result"]
    assert result["output"] == [
        {"type": "reasoning", "content": "Two plus two is four."},
        {"type": "message", "content": "4"},
    ]
    assert result["stats"]["reasoning_output_tokens"] == 5
    assert result["stats"]["total_output_tokens"] == 6
    assert off["output"] == [{"type": "message", "content": "4"}]


def test_v1_max_output_tokens(lmstudio_server: LMStudioTestServer) -> None:
    body = httpx.post(
        lmstudio_server.base_url + "/api/v1/chat",
        json={"model": QWEN, "input": "Write a long story", "max_output_tokens": 30},
    ).json()
    assert body["stats"]["total_output_tokens"] == 30
    assert len(body["output"][0]["content"].split()) == 30


def test_v1_strict_schema(lmstudio_server: LMStudioTestServer) -> None:
    url = lmstudio_server.base_url + "/api/v1/chat"
    stop = httpx.post(url, json={"model": QWEN, "input": "hi", "stop": ["\n"]})
    assert stop.status_code == 400
    assert stop.json()["error"]["message"] == "Unrecognized key(s) in object: 'stop'"
    wrong_item = httpx.post(
        url, json={"model": QWEN, "input": [{"type": "message", "content": "hi"}]}
    )
    assert wrong_item.status_code == 400
    assert wrong_item.json() == {
        "error": {
            "message": "Invalid discriminator value. Expected 'text' | 'image'",
            "type": "invalid_request",
            "code": "invalid_union",
            "param": "input",
        }
    }
    no_model = httpx.post(url, json={"input": "hi"})
    assert no_model.status_code == 400
    assert no_model.json()["error"] == {
        "type": "invalid_request",
        "message": '"model" is required',
        "code": "missing_required_parameter",
        "param": "model",
    }
    messages = httpx.post(url, json={"model": QWEN, "messages": []})
    assert "Unrecognized key(s) in object: 'messages'" in messages.text
    unknown = httpx.post(url, json={"model": "nope/nope", "input": "hi"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "model_not_found"
    reasoning = httpx.post(url, json={"model": QWEN, "input": "hi", "reasoning": "on"})
    assert reasoning.status_code == 400  # qwen here has no reasoning capability
    assert lmstudio_server.engine.jit_loads == 0


@pytest.mark.parametrize(
    ("key", "value", "code", "message"),
    [
        ("temperature", 1.5, "too_big", "Number must be less than or equal to 1"),
        ("top_p", -0.1, "too_small", "Number must be greater than or equal to 0"),
        ("min_p", "0.5", "invalid_type", "Expected number"),
    ],
)
def test_v1_chat_sampling_values_are_in_0_1(
    lmstudio_server: LMStudioTestServer, key: str, value: Any, code: str, message: str
) -> None:
    url = lmstudio_server.base_url + "/api/v1/chat"
    reply = httpx.post(url, json={"model": QWEN, "input": "hi", key: value})
    assert reply.status_code == 400
    assert reply.json() == {
        "error": {"type": "invalid_request", "message": message, "code": code, "param": key}
    }
    top = httpx.post(url, json={"model": QWEN, "input": "hi", "temperature": 1, "top_p": 0})
    assert top.status_code == 200


def test_v1_vision_answer_proves_the_image_arrived(lmstudio_server: LMStudioTestServer) -> None:
    url = lmstudio_server.base_url + "/api/v1/chat"
    items = [
        {"type": "text", "content": "What is in this image?"},
        {"type": "image", "data_url": data_url("A red square.")},
    ]
    with_image = httpx.post(url, json={"model": GEMMA, "input": items}).json()
    assert with_image["output"][-1]["content"] == "A red square."
    text_only = httpx.post(url, json={"model": GEMMA, "input": "What is in this image?"}).json()
    assert text_only["output"][-1]["content"] == NO_IMAGE_ANSWER
    no_vision = httpx.post(url, json={"model": QWEN, "input": items})
    assert no_vision.status_code == 400
    assert no_vision.json()["error"]["message"] == "Model does not support images"


# -- cross-cutting ----------------------------------------------------------------------


def test_auth(lmstudio_server: LMStudioTestServer) -> None:
    url = lmstudio_server.base_url
    lmstudio_server.engine.script.auth_token = "sk-lm-abc:xyz"
    missing = httpx.get(url + "/api/v1/models")
    assert missing.status_code == 401
    assert missing.json() == {
        "error": {
            "type": "invalid_request",
            "message": AUTH_REQUIRED_MESSAGE,
            "code": "invalid_api_key",
        }
    }
    wrong = httpx.get(url + "/v1/models", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    right = httpx.get(url + "/api/v1/models", headers={"Authorization": "Bearer sk-lm-abc:xyz"})
    assert right.status_code == 200
    lmstudio_server.engine.script.auth_token = None
    assert httpx.get(url + "/api/v1/models", headers={"Authorization": "Bearer x"}).is_success


def test_unknown_route_answers_200(lmstudio_server: LMStudioTestServer) -> None:
    url = lmstudio_server.base_url
    reply = httpx.post(url + "/chat/completions", json={})
    assert reply.status_code == 200
    assert reply.json() == {"error": "Unexpected endpoint or method. (POST /chat/completions)"}
    assert httpx.delete(url + "/api/v1/models").json() == {
        "error": "Unexpected endpoint or method. (DELETE /api/v1/models)"
    }
    lmstudio_server.engine.quirks.unknown_route_200 = False
    assert httpx.get(url + "/nope").status_code == 404


def test_old_server_without_v1(lmstudio_server: LMStudioTestServer) -> None:
    lmstudio_server.engine.quirks.has_v1 = False
    reply = httpx.get(lmstudio_server.base_url + "/api/v1/models")
    assert reply.status_code == 200
    assert reply.json() == {"error": "Unexpected endpoint or method. (GET /api/v1/models)"}
    assert httpx.get(lmstudio_server.base_url + "/api/v0/models").json()["object"] == "list"


def test_requests_are_recorded(lmstudio_server: LMStudioTestServer) -> None:
    httpx.post(
        lmstudio_server.base_url + "/api/v1/chat",
        json={"model": QWEN, "input": "hi"},
        headers={"X-Trace": "42"},
    )
    (request,) = lmstudio_server.engine.requests
    assert (request.method, request.path) == ("POST", "/api/v1/chat")
    assert request.headers["x-trace"] == "42"
    assert request.json == {"model": QWEN, "input": "hi"}
    assert request.received_ns > 0
    lmstudio_server.engine.reset()
    assert lmstudio_server.engine.requests == []
    assert lmstudio_server.engine.loaded == {}


def test_jit_off_needs_a_loaded_model(lmstudio_server: LMStudioTestServer) -> None:
    engine = lmstudio_server.engine
    engine.quirks.jit_load = False
    reply = httpx.post(
        lmstudio_server.base_url + "/v1/chat/completions",
        json={"model": QWEN, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] is None
    assert reply.json()["error"]["message"].startswith("No models loaded.")
    assert httpx.get(lmstudio_server.base_url + "/v1/models").json()["data"] == []


def test_auto_evict_keeps_one_jit_model(lmstudio_server: LMStudioTestServer) -> None:
    url = lmstudio_server.base_url + "/api/v1/chat"
    httpx.post(url, json={"model": QWEN, "input": "hi"})
    httpx.post(url, json={"model": GEMMA, "input": "hi"})
    assert set(lmstudio_server.engine.loaded) == {GEMMA}
    assert lmstudio_server.engine.jit_loads == 2


def test_substitute_single_model_quirk(lmstudio_server: LMStudioTestServer) -> None:
    engine = lmstudio_server.engine
    engine.quirks.substitute_single_model = True
    engine.preload(QWEN)
    body = httpx.post(
        lmstudio_server.base_url + "/api/v1/chat", json={"model": GEMMA, "input": "hi"}
    ).json()
    assert body["model_instance_id"] == QWEN
    also_unknown = httpx.post(
        lmstudio_server.base_url + "/v1/chat/completions",
        json={"model": "made/up", "messages": [{"role": "user", "content": "hi"}]},
    ).json()
    assert also_unknown["model"] == QWEN


def test_v1_chat_context_length_applies_to_jit_load(lmstudio_server: LMStudioTestServer) -> None:
    body = {"model": QWEN, "input": "hi", "context_length": 16384}
    httpx.post(lmstudio_server.base_url + "/api/v1/chat", json=body)
    assert lmstudio_server.engine.loaded[QWEN].config["context_length"] == 16384
    assert lmstudio_server.engine.loaded[QWEN].jit is True
