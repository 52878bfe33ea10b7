"""OpenAIBackend against the fake LM Studio's ``/v1/chat/completions`` (real HTTP, real timing)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_lmbench.backends.base import (
    AssistantTurn,
    ChatRequest,
    ChatResult,
    ImageInput,
    LoadConfig,
    ToolCall,
    ToolResult,
)
from pytest_lmbench.backends.openai import OpenAIBackend
from pytest_lmbench.errors import AuthError, BackendHTTPError, StreamError
from pytest_lmbench.testing import (
    ANSWER_KEY,
    AnswerRule,
    Fault,
    LMStudioTestServer,
    png_with_text,
)
from pytest_lmbench.testing.engine import ReasoningField
from pytest_lmbench.testing.httpserver import Exchange, FakeHTTPServer, SSEWriter

QWEN, GEMMA = "qwen/qwen3-4b", "google/gemma-3-4b"


def tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


@pytest.fixture
def backend(lmstudio_server: LMStudioTestServer) -> Iterator[OpenAIBackend]:
    backend = OpenAIBackend(lmstudio_server.base_url, timeout_s=10.0)
    yield backend
    backend.close()


def chat(backend: OpenAIBackend, model: str, request: ChatRequest) -> ChatResult:
    async def run() -> ChatResult:
        async with backend.async_client() as client:
            return await backend.chat(client, model, request)

    return asyncio.run(run())


def last_body(server: LMStudioTestServer) -> dict[str, Any]:
    body = [r for r in server.engine.requests if r.path == "/v1/chat/completions"][-1].json
    assert isinstance(body, dict)
    return body


# -- listing and load ---------------------------------------------------------------------


def test_lists_models(backend: OpenAIBackend) -> None:
    assert [m.key for m in backend.list_models()] == [QWEN, GEMMA]
    assert backend.server_info()["models_listed"] == 2


def test_load_is_honestly_not_applied(backend: OpenAIBackend) -> None:
    result = backend.load(QWEN, LoadConfig(context_length=8192))
    assert result.applied == {}
    assert "no load API" in result.not_applied["context_length"]


def test_a_server_the_session_started_applies_its_launch_settings(
    backend: OpenAIBackend,
) -> None:
    backend.launch_config = {"context_length": 4096}
    same = backend.load(QWEN, LoadConfig(context_length=4096, flash_attention=True))
    assert same.applied == {"context_length": 4096}
    assert list(same.not_applied) == ["flash_attention"]
    other = backend.load(QWEN, LoadConfig(context_length=8192))
    assert other.applied == {"context_length": 4096}
    assert other.not_applied == {
        "context_length": "the server was started with context_length=4096"
    }
    backend.launch_config = {"flash_attention": False}
    off = backend.load(QWEN, LoadConfig(flash_attention=True))
    assert off.not_applied == {
        "flash_attention": "the server was started with flash_attention=False"
    }


# -- streaming ----------------------------------------------------------------------------


def test_request_body(backend: OpenAIBackend, lmstudio_server: LMStudioTestServer) -> None:
    request = ChatRequest(prompt="hi", system_prompt="terse", max_tokens=3, temperature=0, seed=1)
    chat(backend, QWEN, request)
    body = last_body(lmstudio_server)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"][0] == {"role": "system", "content": "terse"}
    assert (body["max_tokens"], body["temperature"], body["seed"]) == (3, 0, 1)


def test_a_conversation_goes_back_in_openais_shape(
    backend: OpenAIBackend, lmstudio_server: LMStudioTestServer
) -> None:
    call = ToolCall(name="f", arguments_json='{"x": 1}', id="call_1_1")
    history = (AssistantTurn("", (call,)), ToolResult("call_1_1", "f", "42"))
    lmstudio_server.engine.answers.append(AnswerRule(match="use f", step=1, content="It is 42."))
    result = chat(backend, QWEN, ChatRequest(prompt="use f", tools=(tool("f"),), history=history))
    assert result.content == "It is 42."  # the double saw one earlier answer: step 1
    assert last_body(lmstudio_server)["messages"][-2:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1_1",
                    "type": "function",
                    "function": {"name": "f", "arguments": '{"x": 1}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1_1", "content": "42"},
    ]


def test_role_only_first_chunk_is_not_the_first_token(
    backend: OpenAIBackend, lmstudio_server: LMStudioTestServer
) -> None:
    script = lmstudio_server.engine.script
    script.ttft_s, script.token_interval_s = 0.15, 0.005
    result = chat(backend, QWEN, ChatRequest(prompt="go", max_tokens=6))
    line = result.timeline
    assert line.first_byte_ns is not None
    assert line.first_token_ns is not None
    # The role chunk arrives at once; the first token only after the scripted TTFT.
    assert (line.first_byte_ns - line.start_ns) / 1e9 < 0.1
    assert (line.first_token_ns - line.start_ns) / 1e9 >= 0.14
    assert len(line.token_chunk_ns) == 6
    assert result.content == "the quick brown fox jumps over"


def test_usage_comes_from_the_final_chunk(
    backend: OpenAIBackend, lmstudio_server: LMStudioTestServer
) -> None:
    # The off-by-one quirk makes usage differ from the chunk count: usage must win.
    lmstudio_server.engine.quirks.completion_tokens_off_by_one = True
    result = chat(backend, QWEN, ChatRequest(prompt="say a few words", max_tokens=5))
    assert result.finish_reason == "length"
    assert len(result.timeline.token_chunk_ns) == 5
    assert result.output_tokens == 4
    assert result.token_count_estimated is False
    assert result.prompt_tokens is not None
    assert result.prompt_tokens > 0
    assert result.model == QWEN


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_fields(
    backend: OpenAIBackend, lmstudio_server: LMStudioTestServer, field: ReasoningField
) -> None:
    engine = lmstudio_server.engine
    engine.quirks.reasoning_field = field
    engine.answers.append(AnswerRule(match="think", reasoning="step one", content="done"))
    result = chat(backend, QWEN, ChatRequest(prompt="think"))
    assert (result.reasoning, result.content) == ("step one", "done")


def test_tool_call_deltas_accumulate_by_index(
    backend: OpenAIBackend, lmstudio_server: LMStudioTestServer
) -> None:
    calls = [
        {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
        {"name": "get_time", "arguments": {"zone": "Europe/Paris"}},
    ]
    lmstudio_server.engine.answers.append(AnswerRule(match="paris", tool_calls=calls))
    request = ChatRequest(prompt="weather and time in paris", tools=(tool("get_weather"),))
    result = chat(backend, QWEN, request)
    assert last_body(lmstudio_server)["tools"] == [tool("get_weather")]
    assert result.finish_reason == "tool_calls"
    assert [c.name for c in result.tool_calls] == ["get_weather", "get_time"]
    assert [json.loads(c.arguments_json) for c in result.tool_calls] == [
        c["arguments"] for c in calls
    ]
    assert all(c.id for c in result.tool_calls)
    # Argument fragments are output tokens too.
    assert len(result.timeline.token_chunk_ns) > 2


def test_image_as_data_url(backend: OpenAIBackend) -> None:
    png = png_with_text({ANSWER_KEY: "a red square"})
    request = ChatRequest(prompt="What is in the image?", images=(ImageInput(png),))
    assert chat(backend, GEMMA, request).content == "a red square"


# -- failures -----------------------------------------------------------------------------


def test_unknown_model_error_object(backend: OpenAIBackend) -> None:
    with pytest.raises(BackendHTTPError) as caught:
        chat(backend, "nope/model", ChatRequest(prompt="hi"))
    assert caught.value.status == 404
    assert caught.value.code == "model_not_found"
    assert "(HTTP 404, model_not_found)" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_string_error_with_status(
    backend: OpenAIBackend, lmstudio_server: LMStudioTestServer
) -> None:
    fault = Fault("http_error", match="boom", status=400, body={"error": "bad things"})
    lmstudio_server.engine.faults.append(fault)
    with pytest.raises(BackendHTTPError, match=r"\(HTTP 400\): bad things"):
        chat(backend, QWEN, ChatRequest(prompt="boom"))


def test_error_body_with_http_200(
    backend: OpenAIBackend, lmstudio_server: LMStudioTestServer
) -> None:
    fault = Fault("error_200", match="boom", body={"error": "Model crashed"})
    lmstudio_server.engine.faults.append(fault)
    with pytest.raises(BackendHTTPError, match="Model crashed") as caught:
        chat(backend, QWEN, ChatRequest(prompt="boom"))
    assert caught.value.status == 200


def test_plain_text_error(backend: OpenAIBackend, lmstudio_server: LMStudioTestServer) -> None:
    fault = Fault("http_error", match="boom", status=502, body="Bad Gateway")
    lmstudio_server.engine.faults.append(fault)
    with pytest.raises(BackendHTTPError, match=r"\(HTTP 502\): Bad Gateway"):
        chat(backend, QWEN, ChatRequest(prompt="boom"))


def test_auth_error_names_the_token(lmstudio_server: LMStudioTestServer) -> None:
    lmstudio_server.engine.script.auth_token = "sekrit"
    backend = OpenAIBackend(lmstudio_server.base_url)
    try:
        with pytest.raises(AuthError, match="LM_API_TOKEN"):
            chat(backend, QWEN, ChatRequest(prompt="hi"))
    finally:
        backend.close()
    authed = OpenAIBackend(lmstudio_server.base_url, token="sekrit")
    try:
        assert chat(authed, QWEN, ChatRequest(prompt="hi", max_tokens=2)).content
    finally:
        authed.close()


def test_error_event_mid_stream(
    backend: OpenAIBackend, lmstudio_server: LMStudioTestServer
) -> None:
    fault = Fault("error_event", match="boom", after_tokens=2)
    lmstudio_server.engine.faults.append(fault)
    with pytest.raises(StreamError, match="Injected stream error"):
        chat(backend, QWEN, ChatRequest(prompt="boom"))


def test_cut_stream(backend: OpenAIBackend, lmstudio_server: LMStudioTestServer) -> None:
    lmstudio_server.engine.faults.append(Fault("cut", match="boom", after_tokens=2))
    with pytest.raises(StreamError, match="closed the stream mid-response"):
        chat(backend, QWEN, ChatRequest(prompt="boom"))


def test_stall_beyond_timeout(lmstudio_server: LMStudioTestServer) -> None:
    fault = Fault("stall", match="boom", after_tokens=1, seconds=1.0)
    lmstudio_server.engine.faults.append(fault)
    backend = OpenAIBackend(lmstudio_server.base_url, timeout_s=0.3)
    try:
        with pytest.raises(StreamError, match=r"stalled|longer than the timeout"):
            chat(backend, QWEN, ChatRequest(prompt="boom"))
    finally:
        backend.close()


class _NoDoneServer(FakeHTTPServer):
    """A clean SSE end after content: no finish_reason and no ``[DONE]``."""

    def handle(self, exchange: Exchange) -> None:
        sse = SSEWriter(exchange)
        for delta in ({"role": "assistant"}, {"content": "Hel"}, {"content": "lo"}):
            sse.data({"model": QWEN, "choices": [{"index": 0, "delta": delta}]})
        sse.close()


def test_stream_without_done_is_an_error() -> None:
    with _NoDoneServer() as server:
        backend = OpenAIBackend(server.base_url)
        try:
            with pytest.raises(StreamError, match=r"without a finish reason or \[DONE\]"):
                chat(backend, QWEN, ChatRequest(prompt="hi"))
        finally:
            backend.close()
