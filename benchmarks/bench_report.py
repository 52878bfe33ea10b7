"""Time the report writers on a 10,000-result run.

Run: ``.venv/bin/python benchmarks/bench_report.py [n_results]``

Each writer is timed best of 3 with ``time.perf_counter`` and compared with a
baseline: plain ``json.dumps`` of the same report data (as dicts). One line per figure.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_lmbench.records import (
    LoadInfo,
    ModelEntry,
    Report,
    ResultEntry,
    RunInfo,
)
from pytest_lmbench.reporting.csv_report import write_csv
from pytest_lmbench.reporting.html_report import render_html
from pytest_lmbench.reporting.summary import build_summary

MODELS = {"qwen3-4b-instruct": 52.0, "gemma-3-270m-it": 190.0, "llama-3.2-3b-instruct": 61.0}
TASKS = [
    ("general_text", "qa"),
    ("general_text", "summarization"),
    ("general_text", "classification"),
    ("reasoning", "math"),
    ("reasoning", "logical"),
    ("tooling", "function_call"),
    ("vision", "caption"),
]
WORDS = "the model answered with a short and mostly correct explanation of each step".split()
REPEATS = 3


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def _aggregate(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    n = len(ordered)
    mean = sum(ordered) / n
    std = (sum((v - mean) ** 2 for v in ordered) / max(n - 1, 1)) ** 0.5

    def pct(q: float) -> float:
        return ordered[min(n - 1, round(q * (n - 1)))]

    half = 1.96 * std / n**0.5
    return {
        "n": n,
        "mean": mean,
        "median": pct(0.5),
        "p50": pct(0.5),
        "p90": pct(0.9),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "std": std,
        "min": ordered[0],
        "max": ordered[-1],
        "ci95_low": pct(0.5) - half,
        "ci95_high": pct(0.5) + half,
    }


def _throughput(rng: random.Random, model: str, index: int) -> ResultEntry:
    concurrency = (1, 2, 4, 8)[index % 4]
    tps = MODELS[model] / (1 + 0.15 * (concurrency - 1))
    samples = []
    for _ in range(16):
        ttft = rng.lognormvariate(-1.8, 0.25) * concurrency
        rate = rng.gauss(tps, tps * 0.04)
        samples.append(
            {
                "ttft_s": ttft,
                "decode_tps": rate,
                "prefill_tps": rng.gauss(2400, 80),
                "e2e_s": ttft + 128 / rate,
                "itl_s": 1 / rate,
                "output_tokens": 128,
            }
        )
    timing: dict[str, Any] = {
        k: _aggregate([s[k] for s in samples])
        for k in ("ttft_s", "decode_tps", "prefill_tps", "e2e_s", "itl_s")
    }
    timing.update(
        concurrency=concurrency,
        prompt_tokens=512,
        gen_tokens=128,
        aggregate_output_tps=timing["decode_tps"]["mean"] * concurrency,
        requests_per_s=concurrency / timing["e2e_s"]["mean"],
        samples=samples,
    )
    case_id = f"pp512-tg128-c{concurrency}-r{index}"
    return ResultEntry(
        nodeid=f"lmbench::throughput[{model}-{case_id}]",
        model=model,
        kind="throughput",
        capability="throughput",
        case_id=case_id,
        outcome="passed",
        timing=timing,
        hardware={"vram_gb": {"min": 3.1, "max": 3.4, "avg": 3.2}, "energy_j": 400.0},
        duration_s=20.0,
    )


def _capability(rng: random.Random, model: str, index: int) -> ResultEntry:
    capability, task = TASKS[index % len(TASKS)]
    roll = rng.random()
    outcome = (
        "passed"
        if roll < 0.8
        else "failed"
        if roll < 0.93
        else "error"
        if roll < 0.97
        else "skipped"
    )
    quality = None if outcome in ("error", "skipped") else round(rng.random(), 3)
    long_output = index % 50 == 0  # a few runaway generations exercise truncation
    return ResultEntry(
        nodeid=f"lmbench::{capability}/{task}[{model}-{task}_{index:05d}]",
        model=model,
        kind="capability",
        capability=capability,
        task=task,
        case_id=f"{task}_{index:05d}",
        outcome=outcome,  # type: ignore[arg-type]
        error="StreamError: stream stalled" if outcome == "error" else None,
        prompt=f"Answer briefly.\n\n{_text(rng, 60)}",
        output=None if outcome == "skipped" else _text(rng, 900 if long_output else 80),
        reference=[_text(rng, 6)],
        metrics={
            "exact_match": float(rng.random() < 0.5),
            "f1": quality,
            "quality_score": quality,
            "repetition_ratio": round(rng.random() * 0.1, 3),
            "coherence": "coherent",
        },
        timing={
            "ttft_s": rng.lognormvariate(-1.6, 0.3),
            "decode_tps": rng.gauss(MODELS[model], 3),
            "e2e_s": rng.uniform(0.5, 4.0),
            "output_tokens": rng.randint(20, 300),
        },
        server_stats={"tokens_per_second": MODELS[model], "stop_reason": "eosFound"},
        hardware={"energy_j": rng.uniform(5, 40), "joules_per_token": rng.uniform(0.1, 0.5)},
        duration_s=rng.uniform(0.5, 4.0),
    )


def build_report(n_results: int) -> Report:
    rng = random.Random(42)
    models = list(MODELS)
    results = []
    for i in range(n_results):
        model = models[i % len(models)]
        maker = _throughput if i % 31 == 0 else _capability  # ~3% throughput items
        results.append(maker(rng, model, i))
    return Report(
        run=RunInfo(
            id="bench-0000-0000",
            started_at="2025-06-01T14:03:27Z",
            finished_at="2025-06-01T18:03:27Z",
            status="completed",
            backend="lmstudio",
            base_url="http://127.0.0.1:1234",
            plugin_version="0.1.0",
            environment={"python": "3.11.9", "gpu": "NVIDIA GeForce RTX 4090"},
        ),
        models=[
            ModelEntry(key=m, status="ok", load=LoadInfo(applied={"context_length": 8192}))
            for m in models
        ],
        results=results,
    )


def best_of(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    n_results = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    report = build_report(n_results)
    report.summary = build_summary(report)
    data = report.model_dump(mode="json")
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "bench.csv"
        baseline = best_of(lambda: json.dumps(data))
        figures = {
            "build_summary": best_of(lambda: build_summary(report)),
            "render_html": best_of(lambda: render_html(report)),
            "write_csv": best_of(lambda: write_csv(report, csv_path)),
            "model_dump_json(indent=2)": best_of(lambda: report.model_dump_json(indent=2)),
        }
        html_mb = len(render_html(report).encode("utf-8")) / 1e6
        csv_mb = csv_path.stat().st_size / 1e6
    print(f"results: {n_results}")
    print(f"baseline json.dumps: {baseline:.3f} s")
    for name, seconds in figures.items():
        print(f"{name}: {seconds:.3f} s ({seconds / baseline:.1f}x baseline)")
    print(f"html size: {html_mb:.1f} MB")
    print(f"csv size: {csv_mb:.1f} MB")


if __name__ == "__main__":
    main()
