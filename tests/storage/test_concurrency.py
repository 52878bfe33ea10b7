"""Concurrent writers: two processes lose no row; a locked SQLite file is retried.

The two processes start on a fresh database, so they also race to create the schema.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from pytest_lmbench.storage import store as store_module
from pytest_lmbench.storage import url as url_module
from pytest_lmbench.storage.models import Measurement, Result
from pytest_lmbench.storage.store import StoreError, open_store

PER_PROCESS = 200

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pytest_lmbench.records import ResultEntry, RunInfo
    from pytest_lmbench.storage.store import open_store

    url, name, count, barrier = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    # Wait until both writers are up, so their writes really overlap.
    (barrier / name).touch()
    deadline = time.monotonic() + 60
    while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    with open_store(url) as store:
        store.begin_run(RunInfo(
            id=name, started_at="2026-05-01T12:00:00+00:00", backend="lmstudio",
            base_url="http://127.0.0.1:1234", plugin_version="0.1.0",
        ))
        for i in range(count):
            samples = [{"ttft_s": 0.1, "decode_tps": 50.0 + j} for j in range(3)]
            store.add_result(name, ResultEntry(
                nodeid=f"t.py::test[{i}]", model="m", kind="throughput", capability="speed",
                case_id=str(i), outcome="passed", output="x" * 500,
                timing={"decode_tps": {"median": 51.0}, "samples": samples},
            ))
        store.finish_run(name, "completed", "2026-05-01T12:01:00+00:00")
    """
)


def test_two_processes_lose_no_row(store_url: str, tmp_path: Path) -> None:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, store_url, name, str(PER_PROCESS), str(barrier)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("writer-a", "writer-b")
    ]
    for writer in writers:
        _, stderr = writer.communicate(timeout=300)
        assert writer.returncode == 0, stderr

    with open_store(store_url) as store:
        with store._engine.connect() as connection:
            results = connection.execute(select(func.count()).select_from(Result)).scalar()
            samples = connection.execute(select(func.count()).select_from(Measurement)).scalar()
        assert results == 2 * PER_PROCESS
        assert samples == 3 * 2 * PER_PROCESS
        for name in ("writer-a", "writer-b"):
            report = store.load_report(name)
            assert report.run.status == "completed"
            assert [r.case_id for r in report.results] == [str(i) for i in range(PER_PROCESS)]


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_locked_database_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Any
) -> None:
    # A tiny busy timeout makes SQLite give up at once, so the store's own retries act.
    monkeypatch.setattr(url_module, "BUSY_TIMEOUT_MS", 20)
    sleeps: list[float] = []
    real_sleep = time.sleep

    def counting_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", counting_sleep)
    path = tmp_path / "results.db"
    with open_store(f"sqlite:///{path}") as store:
        store.begin_run(make.run("run-1"))
        holder = _hold_write_lock(path)
        release = threading.Timer(0.3, holder.commit)
        release.start()
        try:
            store.add_result("run-1", make.capability())
        finally:
            release.join()
            holder.close()
        assert len(store.load_report("run-1").results) == 1
    assert sleeps  # it did back off at least once


def test_lock_retries_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Any
) -> None:
    monkeypatch.setattr(url_module, "BUSY_TIMEOUT_MS", 10)
    monkeypatch.setattr(store_module, "LOCK_RETRIES", 2)
    path = tmp_path / "results.db"
    with open_store(f"sqlite:///{path}") as store:
        store.begin_run(make.run("run-1"))
        holder = _hold_write_lock(path)
        try:
            with pytest.raises(StoreError, match=r"storing result .* failed: database is locked"):
                store.add_result("run-1", make.capability())
        finally:
            holder.close()
