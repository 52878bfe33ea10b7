"""A measured request whose stream ends without a token fails the item.

llama-cpp-python's server, for one, ends a running stream with ``[DONE]`` when
another request arrives (``interrupt_requests``); those streams are clean but
empty, and must never pass as measured.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest

import pytest_lmbench.runners.prompts as prompts
from pytest_lmbench.runners.throughput import NO_TOKENS
from pytest_lmbench.testing import FakeModel, LMStudioTestServer
from pytest_lmbench.testing.answers import AnswerRule

from ..conftest import run_throughput_case

MODEL = "qwen/qwen3-4b"


@pytest.fixture
def server() -> Iterator[LMStudioTestServer]:
    with LMStudioTestServer([FakeModel(key=MODEL)]) as srv:
        srv.engine.script.token_interval_s = 0.002
        yield srv


def run_grid(
    pytester: pytest.Pytester, server: LMStudioTestServer, *args: str
) -> tuple[pytest.RunResult, dict]:  # type: ignore[type-arg]
    case = {"prompt_tokens": 16, "gen_tokens": 8, "concurrency": 2}
    return run_throughput_case(
        pytester, server.base_url, MODEL, case, "--lm-runs=2", "--lm-warmup=0", *args
    )


@pytest.mark.usefixtures("numbered_prompts")
def test_streams_without_tokens_fail_the_item_and_keep_null_figures(
    pytester: pytest.Pytester, server: LMStudioTestServer
) -> None:
    # Requests 2 and 3 are batch 0, 4 and 5 batch 1: the second of each ends at once.
    for number in (3, 5):
        server.engine.answers.append(AnswerRule(match=f"[{number:012x}]", content=""))
    result, item = run_grid(pytester, server)
    result.assert_outcomes(failed=1)
    message = (
        "2 of 4 measured requests produced no tokens (1 of 2 in batch 0, 1 of 2 in batch 1): "
        "the server ended those streams before their first token"
    )
    assert item["outcome"] == "failed"
    assert item["error"] == message
    result.stdout.fnmatch_lines([f"*{message}*"])
    samples = item["timing"]["samples"]
    silent = [s for s in samples if s["error"]]
    assert [s["batch"] for s in silent] == [0, 1]
    for sample in silent:
        assert sample["error"] == NO_TOKENS
        # Unknown, not zero: a failed stream has no count and no speed.
        assert sample["output_tokens"] is None
        assert sample["ttft_s"] is None
        assert sample["decode_tps"] is None
    assert all(s["output_tokens"] == 8 and s["error"] is None for s in samples if s not in silent)
    # The batch figures need every stream; the per-request ones keep the good requests.
    assert item["timing"]["aggregate_decode_tps"] is None
    assert item["timing"]["ttft_s"]["n"] == 2


def test_a_benchmark_of_silent_streams_is_left_out_of_pytest_benchmark(
    pytester: pytest.Pytester, server: LMStudioTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    server.engine.answers.append(AnswerRule(match="Notes:", content=""))  # every request
    bench = pytester.path / "bench.json"
    result, item = run_grid(pytester, server, f"--benchmark-json={bench}")
    result.assert_outcomes(failed=1)
    assert item["error"].startswith("4 of 4 measured requests produced no tokens (2 of 2 in")
    assert json.loads(bench.read_text())["benchmarks"] == []


def test_numbered_prompts_restore_the_random_prefix() -> None:
    assert vars(prompts)["secrets"] is secrets  # the fixture above is undone after each test
