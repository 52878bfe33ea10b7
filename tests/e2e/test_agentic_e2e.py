"""Agentic conversations on a real llama.cpp server (SmolLM2-135M: the pipeline, not its score)."""

from __future__ import annotations

import asyncio
import json

import pytest

from pytest_lmbench.backends.base import (
    AssistantTurn,
    ChatRequest,
    ChatResult,
    ToolCall,
    ToolResult,
)
from pytest_lmbench.backends.llamacpp import ManagedLlamaServer
from pytest_lmbench.backends.openai import OpenAIBackend

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


def test_a_real_server_takes_the_conversation_with_tool_results(llama: ManagedLlamaServer) -> None:
    call = ToolCall(name="get_weather", arguments_json='{"location": "Oslo"}', id="call_1_1")
    request = ChatRequest(
        prompt="What is the weather in Oslo?",
        tools=(TOOL,),
        max_tokens=24,
        history=(
            AssistantTurn("", (call,)),
            ToolResult("call_1_1", "get_weather", '{"temperature": 11, "conditions": "rain"}'),
        ),
    )
    backend = OpenAIBackend(llama.base_url, timeout_s=120.0)

    async def run() -> ChatResult:
        async with backend.async_client() as client:
            return await backend.chat(client, llama.model_key, request)

    try:
        result = asyncio.run(run())
    finally:
        backend.close()
    assert result.output_tokens
    assert result.timeline.end_ns is not None


def test_bundled_agentic_cases_on_a_real_model(
    pytester: pytest.Pytester, llama: ManagedLlamaServer
) -> None:
    result = pytester.runpytest(
        "--pyargs",
        "capability_suites",
        "--lm-backend=openai",
        f"--lm-base-url={llama.base_url}",
        f"--lm-model={llama.model_key}",
        "-m",
        "agentic",
        "-k",
        "ag_001 or ag_013 or ag_016",
        "--lm-max-tokens=64",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "--lm-formats=json",
        "-p",
        "no:cacheprovider",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("errors", 0) == outcomes.get("error", 0) == 0
    results = json.loads((pytester.path / "out" / "latest.json").read_text())["results"]
    assert {r["case_id"] for r in results} == {"ag_001", "ag_013", "ag_016"}
    for item in results:
        metrics = item["metrics"]
        assert metrics["agentic_accuracy"] in (0.0, 1.0)
        assert 0.0 <= metrics["calls_correct"] <= 1.0
        assert metrics["total_latency_s"] > 0
        # One measured request per turn: each tool-calling turn, then the answer (or the cut).
        assert len(item["timing"]["samples"]) >= metrics["steps_taken"]
