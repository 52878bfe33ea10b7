"""A long throughput item says where it is, in a CI log (no TTY) within 5 s; -q keeps quiet."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from pytest_lmbench.runners.progress import ThroughputTally
from pytest_lmbench.testing import FakeModel, LMStudioTestServer

from ..conftest import run_throughput_case

MODEL = "qwen/qwen3-4b"
# 2 measured requests of 40 tokens at 50 ms each: about 4 s, one log line at 3 s.
CASE = {"prompt_tokens": 16, "gen_tokens": 40, "concurrency": 1}
LINE = re.compile(
    r"^lmbench: throughput/grid\.json::pp16-tg40-c1\[qwen/qwen3-4b\]: "
    r"(\d) of 2 requests done, batch (\d) of 2, [\d.]+ tok/s so far, (\d+) s$"
)


@pytest.fixture
def slow_server() -> Iterator[LMStudioTestServer]:
    with LMStudioTestServer([FakeModel(key=MODEL)]) as server:
        server.engine.script.token_interval_s = 0.05
        yield server


def test_a_slow_item_prints_progress_lines_with_its_name(
    pytester: pytest.Pytester, slow_server: LMStudioTestServer
) -> None:
    result, item = run_throughput_case(
        pytester, slow_server.base_url, MODEL, CASE, "--lm-runs=2", "--lm-warmup=0"
    )
    assert item["outcome"] == "passed"
    found = [m for line in result.outlines if (m := LINE.match(line))]
    assert found, result.stdout.str()
    assert int(found[0][3]) <= 5  # seconds into the item at its first line


def test_q_keeps_it_quiet(pytester: pytest.Pytester, slow_server: LMStudioTestServer) -> None:
    result, _ = run_throughput_case(
        pytester, slow_server.base_url, MODEL, CASE, "--lm-runs=2", "--lm-warmup=0", "-q"
    )
    assert not any(line.startswith("lmbench: throughput/") for line in result.outlines)


def test_the_line_counts_warmup_and_finished_requests() -> None:
    tally = ThroughputTally("x", warmup_batches=1, measured_batches=2, concurrency=4)
    tally.batch = 1
    tally.request_done(10)
    assert tally.line().startswith("x: 1 of 12 requests done, batch 1 of 3 (warmup), ")
    tally.batch = 2
    assert "batch 2 of 3, " in tally.line()
