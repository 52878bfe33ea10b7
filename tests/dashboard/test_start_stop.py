"""Starting runs from the API and following them: a pytest subprocess per run.

The runs benchmark the bundled suites against the bundled LM Studio test server
and write into the dashboard's own store, so the SSE stream shows them move.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import capability_suites
from pytest_lmbench.dashboard.launcher import Launcher
from pytest_lmbench.testing import FakeModel, LMStudioTestServer
from pytest_lmbench.testing.oracle import oracle_rules

from .conftest import Served

MODEL = "qwen/qwen3-4b"


@pytest.fixture
def lms() -> Iterator[LMStudioTestServer]:
    with LMStudioTestServer([FakeModel(key=MODEL, tool_use=True)]) as server:
        server.engine.script.ttft_s = 0.002
        server.engine.script.token_interval_s = 0.0002
        server.engine.answers[:] = oracle_rules([Path(capability_suites.__file__).parent])
        yield server


def _start(client: httpx.Client, served: Served, base_url: str, max_tests: int) -> str:
    body = {
        "models": [MODEL],
        "capabilities": ["reasoning"],
        "base_url": base_url,
        # A JSON number is taken as its text, as on the command line.
        "options": {"lm_max_tests": max_tests, "lm_max_tokens": "64"},
        "api_token": "sk-not-to-be-seen",
    }
    auth = {"Authorization": f"Bearer {served.token}"}
    response = client.post("/api/runs", json=body, headers=auth)
    assert response.status_code == 201, response.text
    run_id: str = response.json()["run_id"]
    return run_id


def _wait_for_row(client: httpx.Client, run_id: str, timeout_s: float = 90.0) -> None:
    """The subprocess stores its run once pytest has started (seconds on a busy machine)."""
    deadline = time.monotonic() + timeout_s
    while client.get(f"/api/runs/{run_id}").status_code == 404:
        assert time.monotonic() < deadline, "the started run never reached the store"
        time.sleep(0.2)


def _events(client: httpx.Client, run_id: str) -> Iterator[tuple[str, Any]]:
    with client.stream("GET", f"/api/runs/{run_id}/events", timeout=120.0) as stream:
        event = ""
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.partition(":")[2].strip()
            elif line.startswith("data:"):
                yield event, json.loads(line.partition(":")[2])


def test_a_started_run_progresses_over_sse_to_completion(
    db_url: str, serve_dashboard: Callable[..., Served], lms: LMStudioTestServer
) -> None:
    served = serve_dashboard(db_url)
    with served.client() as client:
        run_id = _start(client, served, lms.base_url, max_tests=3)
        _wait_for_row(client, run_id)
        seen = list(_events(client, run_id))
        results = client.get(f"/api/runs/{run_id}/results").json()
        detail = client.get(f"/api/runs/{run_id}").json()
    kinds = [kind for kind, _ in seen]
    assert kinds[-1] == "done"
    assert set(kinds[:-1]) == {"progress"}
    done_counts = [data["progress"]["items_done"] for _, data in seen]
    assert done_counts == sorted(done_counts)  # it only moves forward
    final = seen[-1][1]
    assert final["status"] == "completed"
    assert final["progress"]["items_selected"] == 3
    assert final["progress"]["items_done"] == 3
    assert final["progress"]["percent"] == 100.0
    assert len(results) == 3
    assert all(r["capability"] == "reasoning" for r in results)
    # The LM Studio token went to the run's environment only.
    assert "sk-not-to-be-seen" not in json.dumps(detail)
    assert served.state.launcher is not None
    log = (served.state.launcher.folder / run_id / "pytest.log").read_text()
    assert "sk-not-to-be-seen" not in log


def test_stopping_a_run_midway_interrupts_it_and_keeps_its_results(
    db_url: str, serve_dashboard: Callable[..., Served], lms: LMStudioTestServer
) -> None:
    lms.engine.script.token_interval_s = 0.02  # about a second per answer
    served = serve_dashboard(db_url)
    auth = {"Authorization": f"Bearer {served.token}"}
    with served.client() as client:
        run_id = _start(client, served, lms.base_url, max_tests=20)
        _wait_for_row(client, run_id)
        stopped = False
        final: Any = None
        for kind, data in _events(client, run_id):
            if not stopped and data["progress"]["items_done"] >= 1:
                response = client.post(f"/api/runs/{run_id}/stop", headers=auth)
                assert response.status_code == 202, response.text
                stopped = True
            if kind == "done":
                final = data
        assert stopped
        results = client.get(f"/api/runs/{run_id}/results").json()
        # Stopping again: it has ended.
        assert client.post(f"/api/runs/{run_id}/stop", headers=auth).status_code == 409
    assert final["status"] == "interrupted"
    assert 1 <= len(results) < 20
    assert final["progress"]["percent"] == len(results) * 100 / 20  # where it stopped
    assert final["results"] == len(results)


def test_started_runs_write_below_an_absolute_runs_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each run's pytest starts in its own folder: a relative --runs-dir would nest.
    monkeypatch.chdir(tmp_path)
    launcher = Launcher("sqlite:///x.db", Path("lmbench-results") / "runs")
    assert launcher.folder == tmp_path / "lmbench-results" / "runs"
