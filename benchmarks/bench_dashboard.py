"""Dashboard answer times on a large store: 1,000 runs and 200,000 results.

    python benchmarks/bench_dashboard.py [--runs 1000] [--per-run 200]

Fills a temporary SQLite store in bulk (five models, one per run, each run a
throughput item with 3 measured requests and capability items), serves it with
``lmbench serve``'s app on a loopback uvicorn, and times the runs page, one run's
page and one model's history page by their ``Server-Timing`` header (server time,
median of 5 after one warm-up). Each is printed with the time of a bare sqlite3
query of the same rows, and the ratio. Target: under 300 ms each.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import httpx
import uvicorn
from sqlalchemy import Table, insert

from pytest_lmbench.dashboard.security import Access
from pytest_lmbench.dashboard.server import build
from pytest_lmbench.records import ModelEntry, ResultEntry, RunInfo
from pytest_lmbench.storage import models as m
from pytest_lmbench.storage.store import open_store

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
MODELS = [f"org/model-{i}" for i in range(5)]
TARGET_MS = 300.0
# The same rows each page reads, asked of sqlite3 directly.
RUNS_SQL = (
    "SELECT r.*, (SELECT count(*) FROM results s WHERE s.run_id = r.id) "
    "FROM runs r ORDER BY started_at DESC LIMIT 200"
)
RUN_SQL = "SELECT * FROM results WHERE run_id = ?"
HISTORY_SQL = (
    "SELECT r.id, r.started_at, s.decode_tps_median, s.quality_score "
    "FROM results s JOIN runs r ON r.id = s.run_id WHERE s.model_key = ?"
)
REPEAT = 5


def _run(i: int) -> RunInfo:
    return RunInfo(
        id=f"run-{i:06d}",
        started_at=(T0 + timedelta(hours=i)).isoformat(),
        status="completed",
        finished_at=None,
        backend="lmstudio",
        base_url="http://127.0.0.1:1234",
        plugin_version="0.1.0",
        environment={"hostname": f"bench-{i % 3}"},
        fingerprint=f"fp-{i % 7}",
    )


def _results(model: str, n: int) -> list[ResultEntry]:
    speed = ResultEntry(
        nodeid=f"throughput/grid.json::pp512-tg128-c1[{model}]",
        model=model,
        kind="throughput",
        capability="throughput",
        case_id="pp512-tg128-c1",
        outcome="passed",
        timing={
            "decode_tps": {"median": 50.0, "ci95_low": 49.0, "ci95_high": 51.0},
            "ttft_s": {"median": 0.1},
            "concurrency": 1,
            "samples": [{"ttft_s": 0.1, "decode_tps": 50.0 + j, "batch": j} for j in range(3)],
        },
    )
    capability = [
        ResultEntry(
            nodeid=f"reasoning/math.json::math_{k:04d}[{model}]",
            model=model,
            kind="capability",
            capability="reasoning",
            task="math",
            case_id=f"math_{k:04d}",
            outcome="passed" if k % 5 else "failed",
            prompt="What is 6 x 7? " * 8,
            output="Answer: 42",
            metrics={"quality_score": (k % 10) / 10, "exact_match": k % 2 == 0},
            timing={"ttft_s": 0.2, "decode_tps": 40.0, "output_tokens": 12},
        )
        for k in range(n - 1)
    ]
    return [speed, *capability]


def fill(url: str, runs: int, per_run: int) -> None:
    store = open_store(url)
    tables = {name: cast(Table, getattr(m, name).__table__) for name in ("Run", "Model", "Result")}
    measurements = cast(Table, m.Measurement.__table__)
    templates = {model: _results(model, per_run) for model in MODELS}
    with store._engine.begin() as connection:  # one transaction: a fill, not a session
        for i in range(runs):
            run = _run(i)
            model = MODELS[i % len(MODELS)]
            connection.execute(insert(tables["Run"]), [m.run_row(run.model_dump(mode="json"))])
            entry = ModelEntry(key=model, status="ok", metadata={"fingerprint": run.fingerprint})
            connection.execute(
                insert(tables["Model"]), [m.model_row(run.id, entry.model_dump(mode="json"))]
            )
            rows, children = [], []
            for result in templates[model]:
                row, samples, _ = m.result_row(run.id, result.model_dump(mode="json"))
                rows.append(row)
                children.append(samples)
            ids = (
                connection.execute(
                    insert(tables["Result"]).returning(
                        tables["Result"].c.id, sort_by_parameter_order=True
                    ),
                    rows,
                )
                .scalars()
                .all()
            )
            batch = [
                {**s, "idx": k, "result_id": rid}
                for rid, samples in zip(ids, children, strict=True)
                for k, s in enumerate(samples or [])
            ]
            if batch:
                connection.execute(insert(measurements), batch)
    store.close()


def _served(url: str) -> tuple[str, uvicorn.Server, threading.Thread]:
    access = Access.for_host("127.0.0.1", None, read_only=True)
    _state, app = build(url, access, host="127.0.0.1", runs_dir=Path(tempfile.gettempdir()))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}", server, thread


def server_ms(client: httpx.Client, path: str) -> float:
    times = []
    for attempt in range(REPEAT + 1):
        response = client.get(path)
        response.raise_for_status()
        if attempt:  # the first warms caches and the connection pool
            times.append(float(response.headers["server-timing"].split("dur=")[1]))
    return statistics.median(times)


def bare_ms(db: Path, sql: str, *args: Any) -> float:
    connection = sqlite3.connect(db)
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        connection.execute(sql, args).fetchall()
        times.append((time.perf_counter() - start) * 1e3)
    connection.close()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--per-run", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lmbench-dash-") as folder:
        db = Path(folder) / "results.db"
        url = f"sqlite:///{db}"
        start = time.perf_counter()
        fill(url, args.runs, args.per_run)
        total = args.runs * args.per_run
        print(f"filled {args.runs} runs, {total:,} results in {time.perf_counter() - start:.1f} s")
        base, server, thread = _served(url)
        run_id = _run(args.runs - 1).id
        pages = [
            ("runs page (200 newest runs)", "/", RUNS_SQL, ()),
            (f"run page ({args.per_run} results)", f"/runs/{run_id}", RUN_SQL, (run_id,)),
            ("model history page", f"/models/{MODELS[0]}", HISTORY_SQL, (MODELS[0],)),
        ]
        try:
            with httpx.Client(base_url=base, timeout=60) as client:
                for label, path, sql, params in pages:
                    ours, bare = server_ms(client, path), bare_ms(db, sql, *params)
                    verdict = "ok" if ours < TARGET_MS else f"over {TARGET_MS:.0f} ms"
                    print(
                        f"{label}: {ours:.1f} ms server time ({verdict}); "
                        f"bare query {bare:.1f} ms; ratio {ours / bare:.1f}"
                    )
        finally:
            server.should_exit = True
            thread.join(30)


if __name__ == "__main__":
    main()
