"""The same suite through every backend, against its test double."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_lmbench.testing import FakeModel, LMStudioTestServer, OllamaTestServer
from pytest_lmbench.testing.oracle import oracle_rules

from .conftest import write_suite


def _run(
    pytester: pytest.Pytester, base_url: str, backend: str, model: str
) -> tuple[pytest.RunResult, dict]:  # type: ignore[type-arg]
    suite = pytester.path / "suite"
    result = pytester.runpytest(
        f"--lm-suite-dir={suite}",
        f"--lm-backend={backend}",
        f"--lm-model={model}",
        f"--lm-base-url={base_url}",
        f"--lm-output-dir={pytester.path / 'out'}",
        f"--lm-db=sqlite:///{pytester.path / 'r.db'}",
        "--lm-runs=2",
        "--lm-warmup=0",
        "-p",
        "no:cacheprovider",
    )
    return result, json.loads((pytester.path / "out" / "latest.json").read_text())


def test_ollama_backend(pytester: pytest.Pytester) -> None:
    root = write_suite(pytester.path / "suite")
    with OllamaTestServer([FakeModel(key="llama3.2:3b")]) as server:
        server.engine.script.token_interval_s = 0.0005
        server.engine.answers[:] = oracle_rules([root])
        result, report = _run(pytester, server.base_url, "ollama", "llama3.2:3b")
        keep_alive = [
            r.json.get("keep_alive")
            for r in server.engine.requests
            if r.path == "/api/chat" and not r.json.get("messages")
        ]
    result.assert_outcomes(passed=4)
    assert keep_alive[0] not in (0, "0")  # loaded ...
    assert keep_alive[-1] in (0, "0")  # ... then unloaded
    [throughput] = [r for r in report["results"] if r["kind"] == "throughput"]
    assert throughput["server_stats"]["last"]["source"] == "Ollama durations"
    assert throughput["timing"]["server_decode_tps"]["n"] == 2
    assert report["run"]["environment"]["server"]["server_version"]


def test_openai_compatible_backend(pytester: pytest.Pytester) -> None:
    root = write_suite(pytester.path / "suite")
    with LMStudioTestServer([FakeModel(key="qwen/qwen3-4b")]) as server:
        server.engine.script.token_interval_s = 0.0005
        server.engine.answers[:] = oracle_rules([root])
        result, report = _run(pytester, server.base_url, "openai", "qwen/qwen3-4b")
        paths = {r.path for r in server.engine.requests}
    result.assert_outcomes(passed=4)
    assert "/v1/chat/completions" in paths
    assert not any(p.startswith("/api/v1/models/load") for p in paths)  # nothing to load
    [model] = report["models"]
    assert model["status"] == "ok"
    assert model["load"]["applied"] == {}


def test_openai_backend_refuses_applied_settings_it_cannot_apply(pytester: pytest.Pytester) -> None:
    write_suite(pytester.path / "suite")
    with LMStudioTestServer([FakeModel(key="m")]) as server:
        server.engine.answers[:] = oracle_rules([pytester.path / "suite"])
        pytester.runpytest(
            f"--lm-suite-dir={pytester.path / 'suite'}",
            "--lm-backend=openai",
            "--lm-model=m",
            f"--lm-base-url={server.base_url}",
            f"--lm-output-dir={pytester.path / 'out'}",
            "--lm-no-db",
            "--lm-context-length=8192",
            "-k",
            "capital_fr",
        )
    [model] = json.loads((Path(pytester.path) / "out" / "latest.json").read_text())["models"]
    assert model["load"]["requested"] == {"context_length": 8192}
    assert model["load"]["applied"] == {}
    assert "no load API" in model["load"]["not_applied"]["context_length"]
