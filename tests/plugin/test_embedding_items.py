"""Embedding items: an embedding model is benchmarked, not skipped (issue 14)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_lmbench.testing import LMStudioTestServer, OllamaTestServer
from pytest_lmbench.testing.httpserver import EngineServer
from pytest_lmbench.testing.models import installed_models

EMBED = {"lmstudio": "text-embedding-nomic-embed-text-v1.5", "ollama": "nomic-embed-text:latest"}
ROUTE = {"lmstudio": "/v1/embeddings", "ollama": "/api/embed"}


@pytest.fixture(params=["lmstudio", "ollama"])
def double(request: pytest.FixtureRequest) -> Iterator[tuple[str, EngineServer]]:
    name = request.param
    server: EngineServer = (
        OllamaTestServer(installed_models(ollama=True))
        if name == "ollama"
        else LMStudioTestServer(installed_models())
    )
    with server:
        yield name, server


def run(pytester: pytest.Pytester, name: str, server: EngineServer, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        "--pyargs",
        "capability_suites",
        f"--lm-backend={name}",
        f"--lm-base-url={server.base_url}",
        f"--lm-output-dir={pytester.path / 'out'}",
        f"--lm-db=sqlite:///{pytester.path / 'r.db'}",
        "--lm-runs=2",
        "--lm-warmup=1",
        "-m",
        "throughput",
        "-p",
        "no:cacheprovider",
        *args,
    )


def test_an_embedding_model_gets_embedding_items_at_batch_1_8_32(
    pytester: pytest.Pytester, double: tuple[str, EngineServer]
) -> None:
    name, server = double
    result = run(pytester, name, server, f"--lm-model={EMBED[name]}", "-rs")
    # Its generation grid needs chat: skipped with the server's reason.
    result.assert_outcomes(passed=3, skipped=4)
    sent = [len(r.json["input"]) for r in server.engine.requests if r.path == ROUTE[name]]
    assert sent == [1] * 3 + [8] * 3 + [32] * 3  # one warmup and two measured runs each
    report: dict[str, Any] = json.loads((pytester.path / "out" / "latest.json").read_text())
    items = {r["case_id"]: r for r in report["results"] if r["outcome"] == "passed"}
    assert set(items) == {"embed-pp64-b1", "embed-pp64-b8", "embed-pp64-b32"}
    for batch, item in ((1, items["embed-pp64-b1"]), (32, items["embed-pp64-b32"])):
        timing = item["timing"]
        assert timing["embed_batch"] == batch
        assert timing["e2e_s"]["n"] == timing["inputs_per_s"]["n"] == 2
        assert timing["inputs_per_s"]["median"] > 0
        assert timing["embed_tokens_per_s"]["median"] > 0
        assert {"p50", "p95", "ci95_low"} <= set(timing["e2e_s"])
        assert item["flags"]["route"] == ROUTE[name]
        # LM Studio reports 0 input tokens: ours are estimated, and said so.
        assert item["flags"]["token_count_estimated"] is (name == "lmstudio")
    connection = sqlite3.connect(pytester.path / "r.db")
    try:
        rows = connection.execute("SELECT count(*) FROM measurements").fetchone()[0]
    finally:
        connection.close()
    assert rows == 6  # two measured requests per item, as for other throughput items


def test_a_chat_model_gets_no_embedding_items(
    pytester: pytest.Pytester, double: tuple[str, EngineServer]
) -> None:
    name, server = double
    chat_model = "qwen/qwen3-4b" if name == "lmstudio" else "qwen3:4b"
    result = run(pytester, name, server, f"--lm-model={chat_model}", "-k", "embed")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert not [r for r in server.engine.requests if r.path == ROUTE[name]]
