"""The run row records the session's progress as items finish (what the dashboard shows)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pytest_lmbench.testing import LMStudioTestServer

from .conftest import lmbench_args

# Before each item, read the run row the way another process would: the previous
# item's result and the progress must already be committed.
SPY = """
import json, sqlite3
from pathlib import Path

def pytest_runtest_setup(item):
    db = Path(item.config.getoption("lm_db").removeprefix("sqlite:///"))
    with sqlite3.connect(db) as c:
        row = c.execute(
            "SELECT items_selected, items_done, items_passed, current_item, current_model, "
            "(SELECT count(*) FROM results) FROM runs"
        ).fetchone()
    with open(Path(str(item.config.rootpath)) / "seen.jsonl", "a") as f:
        f.write(json.dumps([item.nodeid, *row]) + "\\n")
"""


def test_each_result_moves_the_run_rows_progress_in_the_same_commit(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    pytester.makeconftest(SPY)
    result = pytester.runpytest(
        f"--lm-suite-dir={suite}", "--lm-model=qwen/qwen3-4b", *lmbench_args(lms, pytester.path)
    )
    result.assert_outcomes(passed=4)
    seen = [json.loads(line) for line in (pytester.path / "seen.jsonl").read_text().splitlines()]
    assert len(seen) == 4
    for done, (nodeid, selected, items_done, passed, current, model, stored) in enumerate(seen):
        assert (selected, items_done, passed, stored) == (4, done, done, done)
        assert current == nodeid  # the item about to run is the current one
        assert model == "qwen/qwen3-4b"

    with sqlite3.connect(pytester.path / "results.db") as c:
        row = c.execute(
            "SELECT status, items_selected, items_done, items_passed, items_failed, "
            "items_errored, current_item FROM runs"
        ).fetchone()
    assert row == ("completed", 4, 4, 4, 0, 0, None)


def test_under_xdist_the_controller_records_how_many_items_but_no_current_one(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    result = pytester.runpytest(
        "-n",
        "2",
        f"--lm-suite-dir={suite}",
        "--lm-model=qwen/qwen3-4b",
        "--lm-model=google/gemma-3-4b",
        *lmbench_args(lms, pytester.path),
    )
    result.assert_outcomes(passed=8)
    with sqlite3.connect(pytester.path / "results.db") as c:
        row = c.execute(
            "SELECT status, items_selected, items_done, items_passed, current_item FROM runs"
        ).fetchone()
    assert row == ("completed", 8, 8, 8, None)


def test_a_run_id_that_could_name_a_path_is_refused(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    result = pytester.runpytest(
        f"--lm-suite-dir={suite}",
        "--lm-model=qwen/qwen3-4b",
        "--lm-run-id=../etc",
        *lmbench_args(lms, pytester.path),
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--lm-run-id*must be 1-64 letters, digits*'../etc'*"])
