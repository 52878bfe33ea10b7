"""The managed llama.cpp server's model facts come from the GGUF header; its build from itself."""

from __future__ import annotations

import json
import os
from importlib.metadata import version
from pathlib import Path

import pytest

from pytest_lmbench.backends.llamacpp import physical_cores

from .conftest import _unavailable


def test_managed_server_fingerprints_real_model_facts(pytester: pytest.Pytester) -> None:
    reason = _unavailable()
    if reason:
        if os.environ.get("LMBENCH_REQUIRE_LLAMACPP") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    pytester.runpytest(
        "--pyargs",
        "capability_suites",
        "--lm-serve-gguf=smollm2",
        "-k",
        "general_text and qa_001",
        "--lm-max-tokens=8",
        "--lm-context-length=2048",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "--lm-formats=json",
        "-p",
        "no:cacheprovider",
    )
    report = json.loads((Path(pytester.path) / "out" / "latest.json").read_text())
    [model] = report["models"]
    facts = model["metadata"]
    assert facts["quantization"] == "Q4_1"
    assert facts["architecture"] == "llama"
    assert facts["params_string"] == "135M"
    assert facts["max_context_length"] == 8192
    assert facts["fingerprint"]
    # The session started the server with the requested context: applied, as a fact.
    assert model["load"]["applied"] == {
        "context_length": 2048,
        "threads": physical_cores(),  # one decode thread per core, recorded as applied
        "threads_batch": os.cpu_count(),
    }
    assert model["load"]["not_applied"] == {}
    environment = report["run"]["environment"]
    assert environment["server"]["build"] == f"llama-cpp-python {version('llama_cpp_python')}"
    assert environment["models"][model["key"]]["quantization"] == "Q4_1"
    assert report["run"]["fingerprint"]
