"""Two sessions with different fingerprints write to one PostgreSQL at once.

One is started by the dashboard, the other by hand (as on another machine):
both show up live on the one dashboard, and neither loses a row.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import capability_suites
from pytest_lmbench.testing import FakeModel, LMStudioTestServer
from pytest_lmbench.testing.oracle import oracle_rules

from .conftest import Served

MODEL = "qwen/qwen3-4b"
MAX_TESTS = 6
ITEMS = 2 * MAX_TESTS  # --lm-max-tests caps each capability


def _server(ttft_s: float) -> LMStudioTestServer:
    server = LMStudioTestServer([FakeModel(key=MODEL, tool_use=True)])
    server.engine.script.ttft_s = ttft_s
    server.engine.script.token_interval_s = 0.002
    server.engine.answers[:] = oracle_rules([Path(capability_suites.__file__).parent])
    return server


@pytest.fixture
def slow() -> Iterator[LMStudioTestServer]:
    """For the session started by hand: 12 items of at least a second each, so it is
    still running when the second one (a few seconds to start on a busy machine) is."""
    with _server(1.0) as server:
        yield server


@pytest.fixture
def lms() -> Iterator[LMStudioTestServer]:
    with _server(0.002) as server:
        yield server


@pytest.fixture
def pg_url(db_url: str) -> str:
    if not db_url.startswith("postgresql"):
        pytest.skip("two sessions at once: the shared store is PostgreSQL")
    return db_url


def test_two_sessions_at_once_both_show_live_and_keep_every_row(
    pg_url: str,
    serve_dashboard: Callable[..., Served],
    lms: LMStudioTestServer,
    slow: LMStudioTestServer,
    tmp_path: Path,
) -> None:
    served = serve_dashboard(pg_url)
    by_hand = str(uuid.uuid4())
    common = ["--lm-capabilities=reasoning,general_text", f"--lm-max-tests={MAX_TESTS}"]
    other = subprocess.Popen(
        [
            sys.executable,
            *("-m", "pytest", "--pyargs", "capability_suites", f"--lm-run-id={by_hand}"),
            *(f"--lm-model={MODEL}", f"--lm-base-url={slow.base_url}", "--lm-max-tokens=96"),
            *common,
            *(f"--lm-output-dir={tmp_path / 'other'}", "-p", "no:cacheprovider", "-q"),
        ],
        cwd=tmp_path,
        env={**os.environ, "LMBENCH_DB": pg_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with served.client() as client:
            deadline = time.monotonic() + 120
            while client.get(f"/api/runs/{by_hand}").status_code == 404:
                assert time.monotonic() < deadline, "the session started by hand never showed"
                time.sleep(0.05)
            body = {
                "models": [MODEL],
                "capabilities": ["reasoning", "general_text"],
                "base_url": lms.base_url,
                "options": {"lm_max_tests": str(MAX_TESTS), "lm_max_tokens": "64"},
            }
            auth = {"Authorization": f"Bearer {served.token}"}
            started = client.post("/api/runs", json=body, headers=auth).json()["run_id"]
            ids = {started, by_hand}
            both_live = False
            deadline = time.monotonic() + 180
            while True:
                runs = {r["id"]: r for r in client.get("/api/runs").json() if r["id"] in ids}
                running = [r for r in runs.values() if r["status"] == "running"]
                both_live |= len(running) == 2 and all(
                    r["progress"]["items_selected"] for r in running
                )
                if len(runs) == 2 and not running:
                    break
                assert time.monotonic() < deadline, f"runs did not finish: {runs}"
                time.sleep(0.05)
            details = {i: client.get(f"/api/runs/{i}").json() for i in ids}
            results = {i: client.get(f"/api/runs/{i}/results").json() for i in ids}
    finally:
        other.wait(60)
    assert both_live, "the two runs were never seen running at the same time"
    assert other.returncode == 0
    for run_id in ids:
        detail = details[run_id]
        assert detail["status"] == "completed"
        assert detail["progress"]["items_selected"] == ITEMS
        assert detail["results"] == len(results[run_id]) == ITEMS
    prints = {details[i]["fingerprint"] for i in ids}
    assert len(prints) == 2  # --lm-max-tokens is part of each model's fingerprint
