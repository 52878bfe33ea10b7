"""Two pytest sessions write one fresh SQLite file at the same time and lose no row.

Both race to create the schema, then interleave their runs, models and results
(WAL, busy timeout and retries in the store are what make this work).
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from pytest_lmbench.testing import LMStudioTestServer
from pytest_lmbench.testing.httpserver import Exchange

from .conftest import (
    QA_FACTS,
    QWEN,
    answer_suite,
    db_path,
    db_url,
    fast,
    lmbench_args,
    lmstudio_models,
    read_report,
    spawn_pytest,
    stored_runs,
    write_suite,
)

ITEMS = len(QA_FACTS) + 2  # every general_text case plus two tooling cases


class MeetingServer(LMStudioTestServer):
    """Holds each model load until the other session's load arrives too.

    Loads come after the store is open and the run begun, just before the first
    item; so both sessions write their items at the same time, whatever their
    start-up took.
    """

    def __init__(self, barrier: threading.Barrier) -> None:
        super().__init__(lmstudio_models())
        self._barrier = barrier

    def handle(self, exchange: Exchange) -> None:
        if exchange.path == "/api/v1/models/load":
            self._barrier.wait(timeout=60)
        super().handle(exchange)


def session_args(server: LMStudioTestServer, folder: Path, shared: Path) -> list[str]:
    root = write_suite(folder / "suite", tuple(QA_FACTS), tooling=("t01", "t02"))
    answer_suite(server, root)
    # A long timeout: the first session's load waits for the second session to start.
    args = lmbench_args(server, folder, f"--lm-db={db_url(shared)}", "--lm-timeout=60")
    return [f"--lm-suite-dir={root}", f"--lm-model={QWEN}", *args]


def test_two_sessions_writing_one_sqlite_file_lose_no_row(pytester: pytest.Pytester) -> None:
    shared = pytester.path / "shared"
    shared.mkdir()
    barrier = threading.Barrier(2)
    with MeetingServer(barrier) as one, MeetingServer(barrier) as other:
        folders = [pytester.path / "a", pytester.path / "b"]
        processes: list[subprocess.Popen[str]] = []
        for server, folder in zip((one, other), folders, strict=True):
            fast(server.engine)
            folder.mkdir()
            processes.append(spawn_pytest(session_args(server, folder, shared), folder))
        try:
            outputs = [p.communicate(timeout=120)[0] for p in processes]
        finally:
            barrier.abort()  # never leave a handler thread waiting
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.communicate()
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == pytest.ExitCode.OK, output
        assert "results store:" not in output  # no write was given up on

    runs = stored_runs(db_path(shared))
    reports = [read_report(folder) for folder in folders]
    assert sorted(runs) == sorted(r["run"]["id"] for r in reports)
    for report in reports:
        run = runs[report["run"]["id"]]
        assert run.status == "completed"
        assert len(run.outcomes) == ITEMS
        assert run.outcomes == {r["nodeid"]: r["outcome"] for r in report["results"]}
        assert set(run.outcomes.values()) == {"passed"}
    assert sum(len(run.outcomes) for run in runs.values()) == 2 * ITEMS
    # The two runs overlapped (the meeting makes sure): each began before the other ended.
    first, second = (r["run"] for r in reports)
    assert first["started_at"] < second["finished_at"]
    assert second["started_at"] < first["finished_at"]
