"""``--lm-gpu-offload=auto`` against the Ollama test server's out-of-memory knob (issue 14)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_lmbench.testing import OllamaTestServer
from pytest_lmbench.testing.models import FakeModel
from pytest_lmbench.testing.oracle import oracle_rules

from .conftest import write_suite

MODEL = "qwen3:4b"  # 32 layers


@pytest.fixture
def ollama() -> Iterator[OllamaTestServer]:
    model = FakeModel(MODEL, architecture="qwen3", params_string="4B", layers=32)
    with OllamaTestServer([model]) as server:
        server.engine.script.ttft_s = 0.001
        server.engine.script.token_interval_s = 0.0002
        yield server


def run(pytester: pytest.Pytester, server: OllamaTestServer, *args: str) -> dict[str, Any]:
    suite = write_suite(pytester.path / "suite")
    server.engine.answers[:] = oracle_rules([suite])
    pytester.runpytest(
        f"--lm-suite-dir={suite}",
        "--lm-backend=ollama",
        f"--lm-base-url={server.base_url}",
        f"--lm-model={MODEL}",
        "--lm-gpu-offload=auto",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "-k",
        "capital",
        "-p",
        "no:cacheprovider",
        *args,
    )
    report: dict[str, Any] = json.loads((pytester.path / "out" / "latest.json").read_text())
    return report


def load_layers(server: OllamaTestServer) -> list[int]:
    return [
        r.json["options"]["num_gpu"]
        for r in server.engine.requests
        if r.path == "/api/chat" and not r.json.get("messages") and r.json.get("keep_alive") != 0
    ]


def test_oom_at_full_and_three_quarters_loads_at_half(
    pytester: pytest.Pytester, ollama: OllamaTestServer
) -> None:
    ollama.engine.models[MODEL].max_offload = 0.5
    report = run(pytester, ollama)
    assert load_layers(ollama) == [32, 24, 16]  # 1, 0.75, 0.5 of 32 layers
    [model] = report["models"]
    assert model["status"] == "ok"
    facts = model["metadata"]["load_facts"]
    assert [a["gpu_offload"] for a in facts["offload_attempts"]] == ["1", "0.75", "0.5"]
    assert all("out of memory" in a["error"] for a in facts["offload_attempts"][:2])
    assert facts["offload_attempts"][2] == {"gpu_offload": "0.5", "loaded": True}
    assert (facts["gpu_offload_loaded"], facts["num_gpu"]) == ("0.5", 16)
    assert model["load"]["requested"] == {"gpu_offload": "auto"}
    assert model["load"]["applied"]["gpu_offload"] == "0.5"
    [item] = report["results"]
    assert item["outcome"] == "passed"
    chats = [r for r in ollama.engine.requests if r.json and r.json.get("messages")]
    assert chats[0].json["options"]["num_gpu"] == 16  # chats keep the level that loaded


def test_out_of_memory_at_every_level_is_a_load_error(
    pytester: pytest.Pytester, ollama: OllamaTestServer
) -> None:
    ollama.engine.models[MODEL].max_offload = 0.1
    report = run(pytester, ollama)
    assert load_layers(ollama) == [32, 24, 16, 8]
    [model] = report["models"]
    assert model["status"] == "load_failed"
    assert "out of memory at every GPU offload level (1, 0.75, 0.5, 0.25)" in model["error"]
    [item] = report["results"]
    assert item["outcome"] == "error"


def test_another_load_failure_is_not_retried(
    pytester: pytest.Pytester, ollama: OllamaTestServer
) -> None:
    ollama.engine.models[MODEL].load_error = "invalid file magic"
    report = run(pytester, ollama)
    assert load_layers(ollama) == [32]
    assert "invalid file magic" in report["models"][0]["error"]
