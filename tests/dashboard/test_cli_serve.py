"""``lmbench serve`` finds the store as the other commands do: after the demo, the demo's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from pytest_lmbench import cli
from pytest_lmbench.dashboard import server

from .conftest import fill_store, free_port


def test_serve_after_the_demo_reads_the_demos_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LMBENCH_DB", raising=False)
    monkeypatch.delenv("LMBENCH_DASHBOARD_TOKEN", raising=False)
    (tmp_path / "lmbench-results").mkdir()
    fill_store(f"sqlite:///{tmp_path / 'lmbench-results' / 'results.db'}")
    seen: dict[str, Any] = {}

    def fake_serve(db_url: str, access: Any, **kwargs: Any) -> int:
        seen.update(db_url=db_url, access=access, **kwargs)
        return 0

    monkeypatch.setattr(server, "serve", fake_serve)
    assert cli.main(["serve", "--port", "8123", "--read-only"]) == 0
    assert seen["db_url"] == f"sqlite:///{tmp_path / 'lmbench-results' / 'results.db'}"
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8123)
    assert seen["access"].read_only
    assert "reading ./lmbench-results/results.db" in capsys.readouterr().err


def test_serve_runs_until_ctrl_c(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    fill_store(url)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "LMBENCH_DASHBOARD_TOKEN"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_lmbench", "serve", "--db", url, "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first == f"lmbench: dashboard on http://127.0.0.1:{port}/ reading {url}\n"
        deadline = time.monotonic() + 30
        while True:
            try:
                runs = httpx.get(f"http://127.0.0.1:{port}/api/runs", timeout=5).json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert len(runs) == 3
    finally:
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert err.startswith("lmbench: token for POST /api/runs: ")  # made at start, shown once
