"""Write throughput of the results store against bare sqlite3.

    python benchmarks/bench_store.py [--results 10000]

Writes N realistic results (prompt/output ~500 chars, metrics and timing
with 20 keys, 3 measured requests each) through ``Store.add_result`` into a
temporary SQLite file: one committed transaction per result, as a session
does. The baseline inserts the same JSON payload with ``sqlite3.executemany``
in a single transaction, the floor any store on SQLite could approach.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_lmbench.records import ModelEntry, ResultEntry, RunInfo
from pytest_lmbench.storage.store import open_store

RUN_ID = "bench-run"
TEXT = ("The quick brown fox jumps over the lazy dog. " * 12)[:500]


def make_result(i: int) -> ResultEntry:
    metrics = {f"metric_{k}": k * 0.01 + i * 1e-6 for k in range(19)}
    metrics["quality_score"] = (i % 100) / 100
    timing: dict[str, Any] = {f"stat_{k}": {"median": k + 0.5, "n": 3} for k in range(19)}
    timing["samples"] = [
        {
            "ttfr_s": 0.05,
            "ttft_s": 0.1 + j / 100,
            "decode_tps": 50.0 + j,
            "prefill_tps": 900.0,
            "e2e_s": 2.5,
            "output_tokens": 128,
            "prompt_tokens": 512,
            "token_count_estimated": False,
            "server_ttft_s": None,
            "server_decode_tps": 51.0,
        }
        for j in range(3)
    ]
    return ResultEntry(
        nodeid=f"bench.py::test_case[model-{i}]",
        model="model",
        kind="capability",
        capability="bench",
        case_id=str(i),
        outcome="passed",
        prompt=TEXT,
        output=TEXT,
        metrics=metrics,
        timing=timing,
        duration_s=1.25,
        finished_at="2026-05-01T12:00:00+00:00",
    )


def bench_store(path: Path, results: list[ResultEntry]) -> float:
    with open_store(f"sqlite:///{path}") as store:
        store.begin_run(
            RunInfo(
                id=RUN_ID,
                started_at="2026-05-01T12:00:00+00:00",
                backend="bench",
                base_url="http://127.0.0.1",
                plugin_version="0",
            )
        )
        store.save_model(RUN_ID, ModelEntry(key="model", status="ok"))
        start = time.perf_counter()
        for result in results:
            store.add_result(RUN_ID, result)
        return time.perf_counter() - start


def bench_baseline(path: Path, results: list[ResultEntry]) -> float:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(
        "CREATE TABLE results (nodeid TEXT, prompt TEXT, output TEXT, metrics TEXT, timing TEXT)"
    )
    start = time.perf_counter()
    rows = [
        (r.nodeid, r.prompt, r.output, json.dumps(r.metrics), json.dumps(r.timing)) for r in results
    ]
    with connection:
        connection.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?)", rows)
    elapsed = time.perf_counter() - start
    connection.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=10_000)
    n = parser.parse_args().results
    results = [make_result(i) for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="lmbench-bench-") as folder:
        store_s = bench_store(Path(folder) / "store.db", results)
        baseline_s = bench_baseline(Path(folder) / "baseline.db", results)
    store_rate, baseline_rate = n / store_s, n / baseline_s
    print(f"store.add_result: {n} results in {store_s:.2f} s = {store_rate:,.0f} results/s")
    print(f"store per result: {store_s / n * 1e3:.3f} ms (own transaction, 3 measurements)")
    print(f"sqlite3 executemany baseline: {baseline_rate:,.0f} results/s (one transaction)")
    print(f"store / baseline throughput: {store_rate / baseline_rate:.3f}")


if __name__ == "__main__":
    main()
