"""Fixtures for plugin tests: a fast LM Studio test server and a small user suite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_lmbench.testing import FakeModel, LMStudioTestServer
from pytest_lmbench.testing.oracle import oracle_rules

MODELS = [
    FakeModel(key="qwen/qwen3-4b", tool_use=True, vision=False),
    FakeModel(key="google/gemma-3-4b", kind="vlm", tool_use=True, vision=True),
    FakeModel(key="broken/model", load_error="Failed to load model: out of memory (needs 40 GB)"),
    FakeModel(key="text-embedding-nomic", kind="embedding", tool_use=False),
]


@pytest.fixture
def lms() -> Iterator[LMStudioTestServer]:
    with LMStudioTestServer(list(MODELS)) as server:
        server.engine.script.ttft_s = 0.002
        server.engine.script.token_interval_s = 0.0002
        yield server


def write_suite(root: Path) -> Path:
    """A tiny user suite: two QA cases, one math case, one throughput point."""
    qa = root / "general_text"
    qa.mkdir(parents=True)
    (qa / "qa_template.md").write_text("Question: {{ question }}\nAnswer briefly.\n")
    (qa / "qa.json").write_text(
        json.dumps(
            {
                "capability": "general_text",
                "task": "qa",
                "template": "qa_template.md",
                "cases": [
                    {
                        "id": "capital_fr",
                        "input": {"question": "Capital of France?"},
                        "references": ["Paris"],
                    },
                    {
                        "id": "moon_year",
                        "input": {"question": "First Moon landing year?"},
                        "references": ["1969"],
                    },
                ],
            }
        )
    )
    math = root / "reasoning"
    math.mkdir()
    (math / "math.md").write_text("{{ question }}\nEnd with 'Answer: <number>'.\n")
    (math / "math.json").write_text(
        json.dumps(
            {
                "capability": "reasoning",
                "task": "math",
                "template": "math.md",
                "cases": [
                    {
                        "id": "math_001",
                        "input": {"question": "2 apples plus 3 apples?"},
                        "references": ["5"],
                    }
                ],
            }
        )
    )
    tp = root / "throughput"
    tp.mkdir()
    (tp / "grid.json").write_text(
        json.dumps(
            {
                "capability": "throughput",
                "cases": [{"prompt_tokens": 64, "gen_tokens": 16, "concurrency": 1}],
            }
        )
    )
    return root


@pytest.fixture
def suite(pytester: pytest.Pytester, lms: LMStudioTestServer) -> Path:
    root = write_suite(pytester.path / "suite")
    lms.engine.answers[:] = oracle_rules([root])
    return root


def lmbench_args(server: LMStudioTestServer, tmp: Path, *extra: str) -> list[str]:
    return [
        f"--lm-base-url={server.base_url}",
        f"--lm-output-dir={tmp / 'out'}",
        f"--lm-db=sqlite:///{tmp / 'results.db'}",
        "--lm-runs=2",
        "--lm-warmup=1",
        "-p",
        "no:cacheprovider",
        *extra,
    ]
