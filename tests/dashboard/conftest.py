"""A real dashboard (uvicorn on a loopback port) over a store on SQLite or PostgreSQL."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi", reason="the dashboard extra is not installed")
import uvicorn

from pytest_lmbench.dashboard.security import Access
from pytest_lmbench.dashboard.server import build
from pytest_lmbench.dashboard.state import Dashboard
from pytest_lmbench.records import ModelEntry, ResultEntry, RunInfo
from pytest_lmbench.storage.progress import RunProgress
from pytest_lmbench.storage.store import open_store

from ..storage.conftest import fresh_pg_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'results.db'}"
        return
    yield from fresh_pg_schema("lmbench_d")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Served:
    state: Dashboard
    base_url: str
    token: str
    csrf: str

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30.0, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def serve_dashboard(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start a dashboard over ``db_url``; every one started is shut down after the test."""
    servers: list[tuple[uvicorn.Server, threading.Thread, Dashboard]] = []

    def start(db_url: str, *, read_only: bool = False, token: str = "t0ken") -> Served:
        access = Access.for_host("127.0.0.1", token, read_only=read_only)
        state, app = build(db_url, access, host="127.0.0.1", runs_dir=tmp_path / "runs", poll_s=0.1)
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.02)
        servers.append((server, thread, state))
        return Served(state, f"http://127.0.0.1:{port}", access.token, access.csrf)

    yield start
    for server, thread, state in servers:
        server.should_exit = True
        thread.join(60)
        state.store.close()


# --- a store with two finished runs of one model and a running one -------------------------

MODEL = "qwen/qwen3-4b"
RUN_A = "aaaa1111-0000-4000-8000-000000000001"
RUN_B = "bbbb2222-0000-4000-8000-000000000002"
RUNNING = "cccc3333-0000-4000-8000-000000000003"
SPEED = "throughput/grid.json::pp512-tg128-c1[qwen/qwen3-4b]"
MATH = "reasoning/math.json::math_001[qwen/qwen3-4b]"
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def _speed(decodes: list[float]) -> ResultEntry:
    median = sorted(decodes)[len(decodes) // 2]
    return ResultEntry(
        nodeid=SPEED,
        model=MODEL,
        kind="throughput",
        capability="throughput",
        case_id="pp512-tg128-c1",
        outcome="passed",
        timing={
            "decode_tps": {"median": median, "ci95_low": min(decodes), "ci95_high": max(decodes)},
            "ttft_s": {"median": 0.1},
            "concurrency": 1,
            "samples": [
                {"ttft_s": 0.1, "decode_tps": d, "output_tokens": 128, "batch": i}
                for i, d in enumerate(decodes)
            ],
        },
        # Raw readings (--lm-store-samples): the run page draws them over the run's time.
        hardware={
            "samples": [
                {"t_s": t / 10, "signal": "gpu_power_w", "value": 200.0 + t, "gpu_index": 0}
                for t in range(20)
            ]
        },
        duration_s=2.0,
    )


def _math(outcome: str = "passed", output: str = "Answer: 5") -> ResultEntry:
    return ResultEntry(
        nodeid=MATH,
        model=MODEL,
        kind="capability",
        capability="reasoning",
        task="math",
        case_id="math_001",
        outcome=outcome,  # type: ignore[arg-type]
        prompt="2 apples plus 3 apples?",
        output=output,
        metrics={"quality_score": 1.0 if outcome == "passed" else 0.0},
        timing={"ttft_s": 0.2, "decode_tps": 40.0},
    )


def _run(run_id: str, day: int, fingerprint: str, host: str = "bench-1") -> RunInfo:
    return RunInfo(
        id=run_id,
        started_at=f"2026-05-0{day}T12:00:00+00:00",
        backend="lmstudio",
        base_url="http://127.0.0.1:1234",
        plugin_version="0.1.0",
        environment={"hostname": host},
        fingerprint=fingerprint,
    )


def fill_store(url: str) -> None:
    with open_store(url) as store:
        for run_id, day, print_, decodes, math in (
            (RUN_A, 1, "fp-1", [50.0, 51.0, 49.0, 50.5, 50.2], _math()),
            (RUN_B, 2, "fp-2", [30.0, 31.0, 29.5, 30.2, 30.8], _math("failed", HOSTILE)),
        ):
            store.begin_run(_run(run_id, day, print_))
            store.save_model(
                run_id, ModelEntry(key=MODEL, status="ok", metadata={"fingerprint": print_})
            )
            store.add_result(run_id, _speed(decodes))
            store.add_result(run_id, math)
            store.finish_run(run_id, "completed", f"2026-05-0{day}T12:05:00+00:00")
        store.begin_run(_run(RUNNING, 3, "fp-2", host="bench-2"))
        store.save_model(RUNNING, ModelEntry(key=MODEL, status="ok"))
        store.set_progress(RUNNING, RunProgress(items_selected=4, current_item=SPEED))
        store.add_result(
            RUNNING,
            _math(),
            RunProgress(
                items_selected=4,
                items_done=1,
                items_passed=1,
                current_item=SPEED,
                current_model=MODEL,
            ),
        )


@pytest.fixture
def filled(db_url: str) -> str:
    fill_store(db_url)
    return db_url


def begin_run_elsewhere(url: str, run_id: str, started_at: str) -> None:
    """Another session (here: another store connection) begins a run on the store."""
    with open_store(url) as store:
        store.begin_run(
            RunInfo(
                id=run_id,
                started_at=started_at,
                backend="ollama",
                base_url="http://127.0.0.1:11434",
                plugin_version="0.1.0",
            )
        )
