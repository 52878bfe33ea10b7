"""pytest_lmbench_result and pytest_lmbench_report: a team's own fields in results and reports."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from pytest_lmbench.testing import LMStudioTestServer

from .conftest import lmbench_args

HOOKS = """
def pytest_lmbench_result(record, item):
    record.flags["team"] = "inference"
    record.metrics["answer_chars"] = len(record.output or "")

def pytest_lmbench_report(report, config):
    report.run.environment["ci_job"] = "42"
    report.summary["note"] = "nightly"
"""


def _run(pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path) -> pytest.RunResult:
    return pytester.runpytest(
        f"--lm-suite-dir={suite}",
        "--lm-model=qwen/qwen3-4b",
        "-k",
        "math",
        *lmbench_args(lms, pytester.path),
    )


def test_hooks_add_fields_to_the_stored_and_reported_results(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    pytester.makeconftest(HOOKS)
    _run(pytester, lms, suite).assert_outcomes(passed=1)
    report = json.loads((pytester.path / "out" / "latest.json").read_text())
    [item] = report["results"]
    assert item["flags"]["team"] == "inference"
    assert item["metrics"]["answer_chars"] == len(item["output"])
    assert report["run"]["environment"]["ci_job"] == "42"
    assert report["summary"]["note"] == "nightly"
    with contextlib.closing(sqlite3.connect(pytester.path / "results.db")) as db:
        [(flags,)] = db.execute("SELECT flags FROM results").fetchall()
    assert json.loads(flags)["team"] == "inference"


def test_a_failing_result_hook_makes_the_item_an_error_and_the_run_goes_on(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    pytester.makeconftest(
        "def pytest_lmbench_result(record, item):\n    raise ValueError('no team')\n"
    )
    _run(pytester, lms, suite)
    [item] = json.loads((pytester.path / "out" / "latest.json").read_text())["results"]
    assert item["outcome"] == "error"
    assert item["error"] == "pytest_lmbench_result hook raised ValueError: no team"
