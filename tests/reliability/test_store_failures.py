"""A result the store could not take is retried at session end, and if it still fails
the terminal says so, the run is ``incomplete`` and the exit status is non-zero;
the JSON report holds every result either way."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_lmbench.records import ResultEntry
from pytest_lmbench.storage.progress import RunProgress
from pytest_lmbench.storage.store import Store, StoreError
from pytest_lmbench.testing import LMStudioTestServer

from .conftest import QWEN, db_path, run_session, stored_runs, suite


def _failing(monkeypatch: pytest.MonkeyPatch, case_id: str, times: int) -> list[str]:
    """Make storing ``case_id`` fail ``times`` times (a database restarting, a lock held)."""
    real = Store.add_result
    attempts: list[str] = []

    def add_result(
        self: Store, run_id: str, result: ResultEntry, progress: RunProgress | None = None
    ) -> Any:
        if result.case_id == case_id:
            attempts.append(case_id)
            if len(attempts) <= times:
                raise StoreError("server closed the connection unexpectedly")
        return real(self, run_id, result, progress)

    monkeypatch.setattr(Store, "add_result", add_result)
    return attempts


def test_a_write_that_fails_once_is_stored_at_session_end(
    pytester: pytest.Pytester, lms: LMStudioTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts = _failing(monkeypatch, "q02", times=1)
    session = run_session(pytester, lms, suite(pytester, lms), [QWEN])
    assert attempts == ["q02", "q02"]
    assert session.result.ret == pytest.ExitCode.OK
    assert session.report["run"]["status"] == "completed"
    (run,) = stored_runs(db_path(pytester.path)).values()
    assert run.status == "completed"
    assert len(run.outcomes) == 3


def test_a_write_that_keeps_failing_is_said_and_the_run_is_incomplete(
    pytester: pytest.Pytester, lms: LMStudioTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing(monkeypatch, "q02", times=99)
    session = run_session(pytester, lms, suite(pytester, lms), [QWEN])
    session.result.stdout.fnmatch_lines(
        ["1 result could not be stored: server closed the connection unexpectedly (they are *"]
    )
    assert session.result.ret == pytest.ExitCode.TESTS_FAILED
    assert session.report["run"]["status"] == "incomplete"
    assert {r["case_id"] for r in session.report["results"]} == {"q01", "q02", "q03"}
    (run,) = stored_runs(db_path(pytester.path)).values()
    assert run.status == "incomplete"
    assert len(run.outcomes) == 2
