"""OllamaBackend against the fake Ollama (a real HTTP server on loopback)."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
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
from pytest_lmbench.backends.ollama import OllamaBackend
from pytest_lmbench.errors import (
    AuthError,
    BackendHTTPError,
    BackendUnreachable,
    ModelNotFound,
    StreamError,
)
from pytest_lmbench.testing import (
    ANSWER_KEY,
    AnswerRule,
    Fault,
    OllamaTestServer,
    RecordedRequest,
    png_with_text,
)
from pytest_lmbench.testing.httpserver import Exchange, FakeHTTPServer, NDJSONWriter

QWEN, GEMMA = "qwen3:4b", "gemma3:4b"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
def backend(ollama_server: OllamaTestServer) -> Iterator[OllamaBackend]:
    backend = OllamaBackend(ollama_server.base_url, timeout_s=10.0)
    yield backend
    backend.close()


def chat(backend: OllamaBackend, model: str, request: ChatRequest) -> ChatResult:
    async def run() -> ChatResult:
        async with backend.async_client() as client:
            return await backend.chat(client, model, request)

    return asyncio.run(run())


def sent(server: OllamaTestServer, path: str) -> list[RecordedRequest]:
    return [r for r in server.engine.requests if r.path == path]


def last_chat_body(server: OllamaTestServer) -> dict[str, Any]:
    body = sent(server, "/api/chat")[-1].json
    assert isinstance(body, dict)
    return body


# -- server info and listing --------------------------------------------------------------


def test_server_info(backend: OllamaBackend) -> None:
    assert backend.server_info() == {
        "backend": "ollama",
        "label": "Ollama",
        "server_version": "0.12.0",
        "build": "ollama 0.12.0",
    }


def test_unreachable_names_the_fix() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = OllamaBackend(f"http://127.0.0.1:{port}", timeout_s=2.0)
    with pytest.raises(BackendUnreachable, match=r"cannot reach Ollama .*`ollama serve`"):
        backend.server_info()
    with pytest.raises(BackendUnreachable):
        chat(backend, QWEN, ChatRequest(prompt="hi"))
    backend.close()


def test_list_models_with_show_capabilities(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.engine.preload(QWEN, context_length=4096)
    models = {m.key: m for m in backend.list_models()}
    assert set(models) == {QWEN, GEMMA}
    qwen, gemma = models[QWEN], models[GEMMA]
    assert (qwen.kind, qwen.vision, qwen.tool_use) == ("llm", False, True)
    assert (gemma.kind, gemma.vision, gemma.tool_use) == ("vlm", True, True)
    assert qwen.architecture == "qwen3"
    assert qwen.params_string == "4.0B"
    assert qwen.quantization == "Q4_K_M"
    assert qwen.size_bytes == 2_500_000_000
    assert qwen.format == "gguf"
    assert qwen.max_context_length == 32768  # from /api/show model_info
    assert qwen.loaded_instances == (QWEN,)
    assert gemma.loaded_instances == ()
    shown = {r.json["model"] for r in sent(ollama_server, "/api/show")}
    assert shown == {QWEN, GEMMA}


def test_list_models_without_show_leaves_capabilities_unknown(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.engine.faults.append(Fault("http_error", route="/api/show", status=500))
    models = {m.key: m for m in backend.list_models()}
    assert models[GEMMA].vision is None
    assert models[GEMMA].tool_use is None
    assert models[GEMMA].max_context_length is None
    assert models[GEMMA].architecture == "gemma3"  # /api/tags facts are still there


def test_auth_token_is_sent(ollama_server: OllamaTestServer) -> None:
    ollama_server.engine.script.auth_token = "sekrit"
    anonymous = OllamaBackend(ollama_server.base_url)
    authed = OllamaBackend(ollama_server.base_url, token="sekrit")
    try:
        with pytest.raises(AuthError, match="LM_API_TOKEN"):
            anonymous.list_models()
        assert len(authed.list_models()) == 2
    finally:
        anonymous.close()
        authed.close()


# -- load and unload ----------------------------------------------------------------------


def test_load_confirms_context_from_ps(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    config = LoadConfig(context_length=8192, gpu_offload="max", flash_attention=True)
    result = backend.load(QWEN, config)
    body = last_chat_body(ollama_server)
    assert body == {
        "model": QWEN,
        "messages": [],
        "keep_alive": "30m",
        "stream": False,
        "options": {"num_ctx": 8192, "num_gpu": 32},  # max: every layer /api/show counts
    }
    assert result.instance_id == QWEN
    assert result.requested == config.requested()
    assert result.applied == {"context_length": 8192, "gpu_offload": "max"}
    assert result.facts["num_gpu"] == 32
    assert set(result.not_applied) == {"flash_attention"}
    assert "OLLAMA_FLASH_ATTENTION" in result.not_applied["flash_attention"]
    assert result.client_load_time_s > 0
    assert result.load_time_s is None  # the load reply carries no load_duration
    assert ollama_server.engine.load_calls == 1
    status = backend.loaded_status(QWEN)
    assert status["context_length"] == 8192
    assert status["size_bytes"] == 2_500_000_000
    assert status["vram_share"] == 1.0
    assert status["expires_at"]


def test_load_without_options_sends_none(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    result = backend.load(GEMMA, LoadConfig())
    assert "options" not in last_chat_body(ollama_server)
    assert (result.applied, result.not_applied) == ({}, {})


def test_context_not_confirmed_is_not_applied(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    # Already loaded at 4096: the fake keeps it, so /api/ps contradicts the request.
    ollama_server.engine.preload(QWEN, context_length=4096)
    result = backend.load(QWEN, LoadConfig(context_length=8192))
    assert result.applied == {}
    assert result.not_applied == {
        "context_length": "/api/ps shows context_length 4096 after the load"
    }


def test_unload_sends_keep_alive_zero(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    backend.load(QWEN, LoadConfig())
    assert backend.loaded_status(QWEN)
    backend.unload(QWEN)
    body = last_chat_body(ollama_server)
    assert body["keep_alive"] == 0
    assert body["messages"] == []
    assert ollama_server.engine.loaded == {}
    assert backend.loaded_status(QWEN) == {}


def test_load_of_unknown_model_lists_models(backend: OllamaBackend) -> None:
    with pytest.raises(ModelNotFound) as caught:
        backend.load("nope:1b", LoadConfig())
    message = str(caught.value)
    assert "nope:1b" in message
    assert f"{QWEN}, {GEMMA}" in message or f"{GEMMA}, {QWEN}" in message
    assert "ollama pull nope:1b" in message
    assert caught.value.status == 404


# -- chat ---------------------------------------------------------------------------------


def test_chat_body_carries_options(backend: OllamaBackend, ollama_server: OllamaTestServer) -> None:
    request = ChatRequest(
        prompt="hello", system_prompt="be brief", max_tokens=4, temperature=0.5, seed=3
    )
    result = chat(backend, QWEN, request)
    body = last_chat_body(ollama_server)
    assert body["stream"] is True
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"},
    ]
    assert body["options"] == {"num_predict": 4, "temperature": 0.5, "seed": 3}
    assert body["keep_alive"] == "30m"
    assert "tools" not in body
    assert result.content == "the quick brown fox"
    assert result.finish_reason == "length"
    assert result.model == QWEN
    assert result.route == "/api/chat"


def test_chat_streaming_timing(backend: OllamaBackend, ollama_server: OllamaTestServer) -> None:
    script = ollama_server.engine.script
    script.ttft_s, script.token_interval_s = 0.15, 0.01
    result = chat(backend, QWEN, ChatRequest(prompt="count", max_tokens=10))
    line = result.timeline
    assert line.first_token_ns is not None
    assert line.last_token_ns is not None
    assert line.end_ns is not None
    ttft = (line.first_token_ns - line.start_ns) / 1e9
    assert 0.14 <= ttft < 0.4
    assert len(line.token_chunk_ns) == 10
    decode = (line.last_token_ns - line.first_token_ns) / 1e9
    assert 0.08 <= decode < 0.4  # nine gaps of 10 ms
    assert line.first_token_ns < line.last_token_ns <= line.end_ns
    assert result.output_tokens == 10
    assert result.token_count_estimated is False
    assert result.finish_reason == "length"


def test_durations_become_server_stats(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    script = ollama_server.engine.script
    script.ttft_s, script.token_interval_s = 0.1, 0.01
    result = chat(backend, QWEN, ChatRequest(prompt="one two three", max_tokens=8))
    stats = result.server_stats
    raw = stats["durations"]
    assert stats["source"] == "Ollama durations"
    assert all(isinstance(raw[k], int) for k in ("eval_duration", "prompt_eval_duration"))
    assert raw["eval_count"] == result.output_tokens == stats["server_output_tokens"] == 8
    assert raw["prompt_eval_count"] == result.prompt_tokens == stats["server_prompt_tokens"]
    assert stats["server_decode_tps"] == pytest.approx(8 / raw["eval_duration"] * 1e9)
    assert stats["server_decode_tps"] == pytest.approx(100, rel=0.35)  # 1 / token_interval
    assert stats["server_prefill_s"] == pytest.approx(raw["prompt_eval_duration"] / 1e9)
    assert stats["server_prefill_s"] == pytest.approx(0.09, abs=0.05)  # ttft - one interval
    assert stats["server_prefill_tps"] == pytest.approx(
        raw["prompt_eval_count"] / raw["prompt_eval_duration"] * 1e9
    )
    assert stats["server_load_s"] == pytest.approx(raw["load_duration"] / 1e9)
    assert stats["server_total_s"] == pytest.approx(raw["total_duration"] / 1e9)


def test_thinking_is_reasoning(backend: OllamaBackend, ollama_server: OllamaTestServer) -> None:
    rule = AnswerRule(match="ponder", reasoning="hmm let me see", content="forty two")
    ollama_server.engine.answers.append(rule)
    result = chat(backend, QWEN, ChatRequest(prompt="ponder this"))
    assert result.reasoning == "hmm let me see"
    assert result.content == "forty two"
    assert len(result.timeline.token_chunk_ns) == 6  # reasoning words count as tokens


def test_tool_calls_are_whole_calls(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    calls = [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    ollama_server.engine.answers.append(AnswerRule(match="weather", tool_calls=calls))
    result = chat(backend, QWEN, ChatRequest(prompt="weather in Paris?", tools=(WEATHER_TOOL,)))
    assert last_chat_body(ollama_server)["tools"] == [WEATHER_TOOL]
    assert [c.name for c in result.tool_calls] == ["get_weather"]
    assert json.loads(result.tool_calls[0].arguments_json) == {"city": "Paris"}
    assert result.content == ""
    assert result.timeline.first_token_ns is not None  # the call line is the first output


def test_a_conversation_goes_back_in_ollamas_shape(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    call = ToolCall(name="get_weather", arguments_json='{"city": "Paris"}', id="call_1_1")
    history = (AssistantTurn("", (call,)), ToolResult("call_1_1", "get_weather", '{"t": 21}'))
    ollama_server.engine.answers.append(AnswerRule(match="weather", step=1, content="21 C"))
    request = ChatRequest(prompt="weather in Paris?", tools=(WEATHER_TOOL,), history=history)
    result = chat(backend, QWEN, request)
    assert result.content == "21 C"  # the double saw one earlier answer: step 1
    assert last_chat_body(ollama_server)["messages"][-2:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "tool_name": "get_weather", "content": '{"t": 21}'},
    ]


def test_images_are_sent_as_bare_base64(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    png = png_with_text({ANSWER_KEY: "a red square"})
    request = ChatRequest(prompt="What is in this image?", images=(ImageInput(png),))
    result = chat(backend, GEMMA, request)
    assert result.content == "a red square"
    user = last_chat_body(ollama_server)["messages"][-1]
    assert user["images"] == [base64.b64encode(png).decode("ascii")]


def test_unknown_model_in_chat_lists_models(backend: OllamaBackend) -> None:
    with pytest.raises(ModelNotFound) as caught:
        chat(backend, "nope:1b", ChatRequest(prompt="hi"))
    message = str(caught.value)
    assert "model 'nope:1b' not found" in message
    assert QWEN in message
    assert GEMMA in message


def test_http_error_on_chat(backend: OllamaBackend, ollama_server: OllamaTestServer) -> None:
    fault = Fault("http_error", match="boom", status=500, body={"error": "out of memory"})
    ollama_server.engine.faults.append(fault)
    with pytest.raises(BackendHTTPError, match=r"Ollama chat failed \(HTTP 500\): out of memory"):
        chat(backend, QWEN, ChatRequest(prompt="boom"))


def test_error_line_in_stream(backend: OllamaBackend, ollama_server: OllamaTestServer) -> None:
    fault = Fault("error_event", match="boom", after_tokens=2, body={"error": "runner crashed"})
    ollama_server.engine.faults.append(fault)
    with pytest.raises(StreamError, match="runner crashed"):
        chat(backend, QWEN, ChatRequest(prompt="boom"))


def test_cut_stream(backend: OllamaBackend, ollama_server: OllamaTestServer) -> None:
    ollama_server.engine.faults.append(Fault("cut", match="boom", after_tokens=3))
    with pytest.raises(StreamError, match="closed the stream mid-response"):
        chat(backend, QWEN, ChatRequest(prompt="boom"))


def test_malformed_line(backend: OllamaBackend, ollama_server: OllamaTestServer) -> None:
    ollama_server.engine.faults.append(Fault("malformed", match="boom", after_tokens=1))
    with pytest.raises(StreamError, match="malformed JSON"):
        chat(backend, QWEN, ChatRequest(prompt="boom"))


class _NoDoneServer(FakeHTTPServer):
    """Streams content and then ends cleanly, without the final ``done: true`` line."""

    def handle(self, exchange: Exchange) -> None:
        out = NDJSONWriter(exchange)
        out.line({"model": QWEN, "message": {"role": "assistant", "content": "hi"}, "done": False})
        out.close()


def test_stream_without_done_line() -> None:
    with _NoDoneServer() as server:
        backend = OllamaBackend(server.base_url)
        try:
            with pytest.raises(StreamError, match="without a `done: true` line"):
                chat(backend, QWEN, ChatRequest(prompt="hi"))
        finally:
            backend.close()
