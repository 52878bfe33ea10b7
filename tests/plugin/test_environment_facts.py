"""run.environment names the server build and each model's facts; the build is fingerprinted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.sampling.fingerprint import hardware_identity
from pytest_lmbench.testing import FakeModel, OllamaTestServer

MODEL = "llama3.2:3b"


def _run(pytester: pytest.Pytester, server: OllamaTestServer, out: str) -> dict[str, Any]:
    folder = pytester.path / "suite" / "throughput"
    if not folder.exists():
        folder.mkdir(parents=True)
        case = {"prompt_tokens": 16, "gen_tokens": 4, "concurrency": 1}
        (folder / "grid.json").write_text(json.dumps({"capability": "throughput", "cases": [case]}))
    pytester.runpytest(
        f"--lm-suite-dir={folder.parent}",
        "--lm-backend=ollama",
        f"--lm-model={MODEL}",
        f"--lm-base-url={server.base_url}",
        f"--lm-output-dir={pytester.path / out}",
        "--lm-no-db",
        "--lm-formats=json",
        "--lm-runs=1",
        "--lm-warmup=0",
        "-p",
        "no:cacheprovider",
    ).assert_outcomes(passed=1)
    report: dict[str, Any] = json.loads((Path(pytester.path) / out / "latest.json").read_text())
    return report


def test_environment_has_the_build_and_a_model_block(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = FakeModel(key=MODEL, architecture="llama", params_string="3.2B", quantization="Q8_0")
    with OllamaTestServer([model]) as server:
        server.engine.script.token_interval_s = 0.0005
        first = _run(pytester, server, "a")
        monkeypatch.setattr("pytest_lmbench.testing.ollama.VERSION", "0.13.1")
        second = _run(pytester, server, "b")
    environment = first["run"]["environment"]
    assert environment["server"]["build"] == "ollama 0.12.0"
    assert environment["models"][MODEL] == {
        "size_bytes": 2_500_000_000,
        "quantization": "Q8_0",
        "architecture": "llama",
        "params_string": "3.2B",
        "format": "gguf",
        "max_context_length": 32768,
    }
    assert hardware_identity(environment)["server_build"] == "ollama 0.12.0"
    # Another server version and build: another fingerprint, its speed is not comparable.
    assert second["run"]["environment"]["server"]["build"] == "ollama 0.13.1"
    prints = [r["models"][0]["metadata"]["fingerprint"] for r in (first, second)]
    assert all(prints)
    assert prints[0] != prints[1]
    assert first["run"]["fingerprint"] != second["run"]["fingerprint"]
