"""The terminal summary of a real session: per capability, counts and metric means."""

from __future__ import annotations

import json

import pytest

from pytest_lmbench.testing import LMStudioTestServer
from pytest_lmbench.testing.answers import AnswerRule
from pytest_lmbench.testing.oracle import oracle_rules

from .conftest import lmbench_args, write_suite


def test_summary_shows_failed_counts_and_metric_means(
    pytester: pytest.Pytester, lmstudio_server: LMStudioTestServer
) -> None:
    root = write_suite(pytester.path / "suite")
    rules = oracle_rules([root])
    # One QA case answered wrongly: exact_match and f1 0 there, 1 on the other case.
    rules = [
        AnswerRule(match=r.match, content="It was 1970.") if "Moon landing" in r.match else r
        for r in rules
    ]
    lmstudio_server.engine.answers[:] = rules
    lmstudio_server.engine.script.ttft_s = 0.001
    lmstudio_server.engine.script.token_interval_s = 0.0001

    result = pytester.runpytest(
        f"--lm-suite-dir={root}",
        "--lm-model=qwen/qwen3-4b",
        *lmbench_args(lmstudio_server, pytester.path),
    )

    result.assert_outcomes(passed=3, failed=1)
    lines = result.stdout.lines
    start = lines.index(next(x for x in lines if x.startswith("    general_text:")))
    assert lines[start].startswith("    general_text: 1/2 passed (50%), 1 failed, avg latency ")
    assert lines[start + 1] == (
        "      means: exact_match 0.500 · f1 0.500 · repetition_ratio 0.000"
    )
    reasoning = next(x for x in lines if x.startswith("    reasoning:"))
    assert reasoning.startswith("    reasoning: 1/1 passed (100%), 0 failed, avg latency ")
    assert lines[lines.index(reasoning) + 1] == (
        "      means: accuracy 1.000 · repetition_ratio 0.000"
    )
    throughput = next(x for x in lines if x.startswith("    throughput:"))
    assert throughput.startswith("    throughput: 1/1 passed (100%), 0 failed, avg latency ")
    # The terminal shows what the JSON summary holds.
    report = json.loads((pytester.path / "out" / "latest.json").read_text())
    general = report["summary"]["models"]["qwen/qwen3-4b"]["capabilities"]["general_text"]
    assert general["failed_tests"] == 1
    assert general["mean_exact_match"] == pytest.approx(0.5)
    assert general["mean_f1"] == pytest.approx(0.5)


def test_the_terminal_says_why_items_were_skipped_even_under_q(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    result = pytester.runpytest(
        "--pyargs",
        "capability_suites",
        "--lm-model=qwen/qwen3-4b",  # no vision in the test server's model list
        "-m",
        "vision",
        "--lm-max-tests=2",
        "-q",
        *lmbench_args(lms, pytester.path),
    )
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        ["skipped: 2 items: qwen/qwen3-4b lacks the vision capability (capabilities.vision*"]
    )


def test_capability_runs_show_per_model_progress(
    pytester: pytest.Pytester, lms: LMStudioTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pytest_lmbench.reporting.progress.INTERVAL_MODEL_S", 0.0)
    result = pytester.runpytest(
        "--pyargs",
        "capability_suites",
        "--lm-model=qwen/qwen3-4b",
        "-k",
        "math",
        "--lm-max-tests=3",
        "--lm-min-quality=0",
        *lmbench_args(lms, pytester.path),
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "lmbench: qwen/qwen3-4b: 1 of 3 capability items done",
            "lmbench: qwen/qwen3-4b: 2 of 3 capability items done, about * s left",
        ]
    )
    quiet = pytester.runpytest(
        "--pyargs",
        "capability_suites",
        "--lm-model=qwen/qwen3-4b",
        "-k",
        "math",
        "--lm-max-tests=3",
        "--lm-min-quality=0",
        "-q",
        *lmbench_args(lms, pytester.path),
    )
    assert "capability items done" not in quiet.stdout.str()
