"""LM Studio 0.3.x (no v1): text chats through /api/v0/chat/completions and its stats."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pytest_lmbench.backends.base import ChatRequest, ChatResult, ImageInput
from pytest_lmbench.backends.lmstudio import LMStudioBackend, v0_stats
from pytest_lmbench.testing import ANSWER_KEY, FakeModel, LMStudioTestServer, png_with_text
from pytest_lmbench.testing.openai_compat import RUNTIME

from ..conftest import run_throughput_case

QWEN, GEMMA = "qwen/qwen3-4b", "google/gemma-3-4b"
V0, OPENAI = "/api/v0/chat/completions", "/v1/chat/completions"
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}


@pytest.fixture
def old_server(lmstudio_server: LMStudioTestServer) -> LMStudioTestServer:
    lmstudio_server.engine.quirks.has_v1 = False
    lmstudio_server.engine.script.ttft_s = 0.002
    lmstudio_server.engine.script.token_interval_s = 0.0002
    return lmstudio_server


def backend_for(server: LMStudioTestServer, api: str = "auto") -> Iterator[LMStudioBackend]:
    backend = LMStudioBackend(server.base_url, timeout_s=10.0, api=api, lms_path="")
    yield backend
    backend.close()


@pytest.fixture
def backend(old_server: LMStudioTestServer) -> Iterator[LMStudioBackend]:
    yield from backend_for(old_server)


def chat(backend: LMStudioBackend, model: str, request: ChatRequest) -> ChatResult:
    async def run() -> ChatResult:
        async with backend.async_client() as client:
            return await backend.chat(client, model, request)

    return asyncio.run(run())


def chat_paths(server: LMStudioTestServer) -> list[str]:
    return [r.path for r in server.engine.requests if "chat" in r.path]


def test_v0_stream_stats_reach_server_stats(
    backend: LMStudioBackend, old_server: LMStudioTestServer
) -> None:
    old_server.engine.quirks.v0_stream_stats = True
    result = chat(backend, QWEN, ChatRequest(prompt="Hello", max_tokens=40))
    assert chat_paths(old_server) == [V0]
    assert result.route == V0
    stats = result.server_stats
    assert stats["source"] == "LM Studio v0 stats"
    assert set(stats["stats"]) >= {"tokens_per_second", "time_to_first_token", "generation_time"}
    assert stats["server_ttft_s"] == stats["stats"]["time_to_first_token"]
    assert stats["server_decode_tps"] == pytest.approx(stats["stats"]["tokens_per_second"])
    assert stats["server_generation_s"] == stats["stats"]["generation_time"]
    assert stats["server_stop_reason"] == "maxPredictedTokensReached"
    assert stats["runtime"] == RUNTIME
    assert stats["model_info"]["quant"] == "Q4_K_M"
    # The usage on the same final chunk gives the counts: nothing is estimated.
    assert result.token_count_estimated is False
    assert result.output_tokens == len(result.timeline.token_chunk_ns)
    assert (result.finish_reason, result.output_tokens) == ("length", 40)
    # Later chats stay on v0: it answers with stats.
    chat(backend, QWEN, ChatRequest(prompt="Again"))
    assert chat_paths(old_server) == [V0, V0]


def test_a_v0_stream_without_stats_or_usage_moves_later_chats_to_v1(
    backend: LMStudioBackend, old_server: LMStudioTestServer
) -> None:
    first = chat(backend, QWEN, ChatRequest(prompt="Hello"))
    assert first.route == V0
    assert first.server_stats == {}  # the documented 0.3.x stream: neither stats nor usage
    assert first.token_count_estimated is True
    second = chat(backend, QWEN, ChatRequest(prompt="Again"))
    assert second.route == OPENAI
    assert second.token_count_estimated is False  # /v1 sends usage with include_usage
    assert chat_paths(old_server) == [V0, OPENAI]


def test_forced_native_stays_on_v0(old_server: LMStudioTestServer) -> None:
    for backend in backend_for(old_server, "native"):
        for _ in range(2):
            assert chat(backend, QWEN, ChatRequest(prompt="Hello")).route == V0
    assert chat_paths(old_server) == [V0, V0]


def test_forced_openai_never_uses_v0(old_server: LMStudioTestServer) -> None:
    old_server.engine.quirks.v0_stream_stats = True
    for backend in backend_for(old_server, "openai"):
        assert chat(backend, QWEN, ChatRequest(prompt="Hello")).route == OPENAI


def test_tools_stay_on_v1_and_images_too_unless_native(
    backend: LMStudioBackend, old_server: LMStudioTestServer
) -> None:
    old_server.engine.quirks.v0_stream_stats = True
    tools = ChatRequest(prompt="Weather in Paris?", tools=(WEATHER_TOOL,))
    assert chat(backend, QWEN, tools).route == OPENAI
    png = png_with_text({ANSWER_KEY: "A red square."})
    image = ChatRequest(prompt="What is in the image?", images=(ImageInput(png),))
    assert chat(backend, GEMMA, image).route == OPENAI
    for native in backend_for(old_server, "native"):
        result = chat(native, GEMMA, image)
        assert (result.route, result.content) == (V0, "A red square.")
        assert native.route_for(tools) == OPENAI


def test_a_0_4_server_never_uses_v0(lmstudio_server: LMStudioTestServer) -> None:
    lmstudio_server.engine.quirks.v0_stream_stats = True
    for backend in backend_for(lmstudio_server):
        assert backend.route_for(ChatRequest(prompt="Hi")) == "/api/v1/chat"
        assert backend.route_for(ChatRequest(prompt="Hi", seed=1)) == OPENAI


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({}, {}),
        ({"stats": {}}, {}),  # /v1 in 0.3.14 sends an empty stats object (fact sheet §6)
        ({"stats": None, "runtime": "x"}, {}),
        (
            {"stats": {"tokens_per_second": 50, "time_to_first_token": 0.1, "stop_reason": 3}},
            {"server_decode_tps": 50.0, "server_ttft_s": 0.1},
        ),
        ({"stats": {"tokens_per_second": True}}, {}),
    ],
)
def test_v0_stats_mapping(payload: dict[str, Any], expected: dict[str, Any]) -> None:
    out = v0_stats(payload)
    assert {k: v for k, v in out.items() if k.startswith("server_")} == expected
    assert ("source" in out) == bool(payload.get("stats"))


def test_non_streamed_v0_answer_is_read_too() -> None:
    body = {
        "model": "m",
        "choices": [{"message": {"content": "hi"}, "finish_reason": None}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
        "stats": {"time_to_first_token": 0.2, "stop_reason": "maxPredictedTokensReached"},
    }

    def reply(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/models":
            return httpx.Response(200, json={"error": "Unexpected endpoint or method."})
        return httpx.Response(200, json=body)

    backend = LMStudioBackend("http://lms.test", timeout_s=5.0, lms_path="")

    async def run() -> ChatResult:
        async with httpx.AsyncClient(transport=httpx.MockTransport(reply)) as client:
            return await backend.chat(client, "m", ChatRequest(prompt="x"))

    backend._has_v1 = False  # probed through the mock above in real use
    result = asyncio.run(run())
    backend.close()
    assert result.route == V0
    assert result.server_stats["server_ttft_s"] == 0.2
    assert result.finish_reason == "length"  # from stop_reason, the choice had none


# -- through the plugin -------------------------------------------------------------------


def test_throughput_items_compare_client_and_v0_server_figures(pytester: pytest.Pytester) -> None:
    case = {"prompt_tokens": 16, "gen_tokens": 20, "concurrency": 1}
    with LMStudioTestServer([FakeModel(key=QWEN)]) as server:
        server.engine.quirks.has_v1 = False
        server.engine.quirks.v0_stream_stats = True
        server.engine.script.token_interval_s = 0.004
        server.engine.script.server_tps_factor = 1.5  # the server claims 50 % more
        outcome, item = run_throughput_case(
            pytester, server.base_url, QWEN, case, "--lm-runs=2", "--lm-warmup=0"
        )
        paths = set(chat_paths(server))
    outcome.assert_outcomes(passed=1)
    assert paths == {V0}
    assert item["flags"]["route"] == V0
    assert item["timing"]["server_ttft_s"]["n"] == 2
    assert item["timing"]["server_decode_tps"]["n"] == 2
    assert item["flags"]["disagreement"] is True
    assert item["server_stats"]["comparisons"]["decode_tps"]["relative_diff"] < -0.1
    assert item["server_stats"]["last"]["source"] == "LM Studio v0 stats"
