"""Ollama's /api/ps facts after a load (VRAM size and share) reach the model's report entry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_lmbench.backends.base import LoadConfig
from pytest_lmbench.backends.ollama import OllamaBackend
from pytest_lmbench.testing import FakeModel, Fault, OllamaTestServer

QWEN = "qwen3:4b"


@pytest.fixture
def backend(ollama_server: OllamaTestServer) -> Iterator[OllamaBackend]:
    backend = OllamaBackend(ollama_server.base_url, timeout_s=10.0)
    yield backend
    backend.close()


def test_load_reports_the_vram_size_and_share(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.engine.models[QWEN].vram_fraction = 0.25
    facts = backend.load(QWEN, LoadConfig()).facts
    assert facts["source"] == "Ollama /api/ps"
    assert facts["size_bytes"] == 2_500_000_000
    assert facts["size_vram_bytes"] == 625_000_000
    assert facts["vram_share"] == 0.25
    assert facts["context_length"] == 4096
    assert facts["expires_at"]


def test_no_ps_answer_means_no_facts(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    # Unknown is absent, never a zero VRAM share.
    ollama_server.engine.faults.append(Fault("http_error", route="/api/ps", status=500))
    result = backend.load(QWEN, LoadConfig())
    assert result.facts == {}


def test_json_report_of_an_ollama_run_shows_vram(pytester: pytest.Pytester) -> None:
    folder = pytester.path / "suite" / "throughput"
    folder.mkdir(parents=True)
    case = {"prompt_tokens": 16, "gen_tokens": 4, "concurrency": 1}
    (folder / "grid.json").write_text(json.dumps({"capability": "throughput", "cases": [case]}))
    model = FakeModel(key="llama3.2:3b", size_bytes=2_000_000_000, vram_fraction=0.5)
    with OllamaTestServer([model]) as server:
        server.engine.script.token_interval_s = 0.0005
        pytester.runpytest(
            f"--lm-suite-dir={folder.parent}",
            "--lm-backend=ollama",
            "--lm-model=llama3.2:3b",
            f"--lm-base-url={server.base_url}",
            f"--lm-output-dir={pytester.path / 'out'}",
            "--lm-no-db",
            "--lm-runs=1",
            "--lm-warmup=0",
            "-p",
            "no:cacheprovider",
        ).assert_outcomes(passed=1)
    report = json.loads((Path(pytester.path) / "out" / "latest.json").read_text())
    [entry] = report["models"]
    facts = entry["metadata"]["load_facts"]
    assert facts["size_vram_bytes"] == 1_000_000_000
    assert facts["vram_share"] == 0.5
    assert entry["load"]["applied"] == {}  # facts, not settings
