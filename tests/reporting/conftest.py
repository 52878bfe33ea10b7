"""Realistic reports for the reporting tests: two models that ran, one that failed to load."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any

import pytest

from pytest_lmbench.records import (
    LoadInfo,
    ModelEntry,
    Report,
    ResultEntry,
    RunInfo,
)

PAYLOAD = "<script>document.title='pwned'</script>"


def aggregate(values: list[float]) -> dict[str, Any]:
    """The per-metric aggregate a throughput runner writes."""
    ordered = sorted(values)

    def pct(q: float) -> float:
        pos = (len(ordered) - 1) * q
        lo = math.floor(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    mean = statistics.fmean(ordered)
    std = statistics.stdev(ordered) if len(ordered) > 1 else 0.0
    half = 1.96 * std / math.sqrt(len(ordered))
    return {
        "n": len(ordered),
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


def throughput_item(model: str, case_id: str, base_tps: float, concurrency: int) -> ResultEntry:
    samples = []
    for i in range(8 * concurrency):
        wobble = ((i * 7919) % 13 - 6) / 100.0  # deterministic ±6%
        tps = base_tps / (1 + 0.15 * (concurrency - 1)) * (1 + wobble)
        ttft = 0.045 * concurrency * (1 - wobble) + 0.12
        samples.append(
            {
                "ttft_s": ttft,
                "decode_tps": tps,
                "prefill_tps": 2400.0 * (1 + wobble),
                "e2e_s": ttft + 128 / tps,
                "itl_s": 1 / tps,
                "output_tokens": 128,
            }
        )
    timing: dict[str, Any] = {
        key: aggregate([s[key] for s in samples])
        for key in ("ttft_s", "decode_tps", "prefill_tps", "e2e_s", "itl_s")
    }
    timing.update(
        concurrency=concurrency,
        prompt_tokens=512,
        gen_tokens=128,
        aggregate_output_tps=timing["decode_tps"]["mean"] * concurrency * 0.97,
        requests_per_s=concurrency / timing["e2e_s"]["mean"],
        samples=samples,
    )
    return ResultEntry(
        nodeid=f"lmbench::throughput[{model}-{case_id}]",
        model=model,
        kind="throughput",
        capability="throughput",
        case_id=case_id,
        outcome="passed",
        timing=timing,
        server_stats={"tokens_per_second": base_tps, "stop_reason": "maxPredictedTokensReached"},
        hardware={
            "vram_gb": {"min": 3.1, "max": 3.4, "avg": 3.2},
            "gpu_temp_c": {"min": 51.0, "max": 63.0, "avg": 58.5},
            "cpu_pct": {"min": 4.0, "max": 22.0, "avg": 9.1},
            "ram_gb": {"min": 12.0, "max": 12.4, "avg": 12.2},
            "energy_j": 410.5,
            "joules_per_token": 0.4,
        },
        duration_s=14.2,
        finished_at="2025-06-01T14:09:00Z",
    )


def capability_item(
    model: str,
    capability: str,
    task: str,
    case_id: str,
    outcome: str = "passed",
    **overrides: Any,
) -> ResultEntry:
    data: dict[str, Any] = {
        "nodeid": f"lmbench::{capability}/{task}[{model}-{case_id}]",
        "model": model,
        "kind": "capability",
        "capability": capability,
        "task": task,
        "case_id": case_id,
        "outcome": outcome,
        "prompt": f"Answer the question.\n\nQuestion: what is the capital of France? ({case_id})",
        "output": "The capital of France is Paris.",
        "reference": ["Paris"],
        "metrics": {
            "exact_match": 1.0,
            "f1": 0.92,
            "quality_score": 0.92,
            "repetition_ratio": 0.01,
            "coherence": "coherent",
        },
        "timing": {"ttft_s": 0.21, "decode_tps": 48.5, "e2e_s": 0.94, "output_tokens": 34},
        "server_stats": {"tokens_per_second": 49.1, "time_to_first_token": 0.19},
        "hardware": {"energy_j": 12.3, "joules_per_token": 0.36},
        "duration_s": 1.02,
        "finished_at": "2025-06-01T14:05:00Z",
    }
    data.update(overrides)
    return ResultEntry(**data)


def make_report(*, hostile: bool = False) -> Report:
    qwen, gemma = "qwen3-4b-instruct", "gemma-3-270m-it"
    results = [
        throughput_item(qwen, "pp512-tg128-c1", 52.0, 1),
        throughput_item(qwen, "pp512-tg128-c4", 52.0, 4),
        throughput_item(gemma, "pp512-tg128-c1", 190.0, 1),
        capability_item(qwen, "general_text", "qa", "qa_001"),
        capability_item(
            qwen,
            "general_text",
            "summarization",
            "sum_001",
            outcome="failed",
            output="The article is about many many many things.",
            reference="A council approved a new bike lane on Main Street.",
            metrics={"rouge1": 0.21, "rouge2": 0.05, "rougeL": 0.18, "quality_score": 0.18},
            error="quality 0.18 below min_quality 0.40",
        ),
        capability_item(
            qwen,
            "reasoning",
            "math",
            "math_007",
            outcome="error",
            output=None,
            metrics={"accuracy": None, "quality_score": None},
            timing={"ttft_s": None, "decode_tps": None, "e2e_s": 30.0, "output_tokens": None},
            error="StreamError: stream stalled for 30 s after 12 tokens",
        ),
        capability_item(
            qwen,
            "tooling",
            "function_call",
            "fc_003",
            output='{"name": "get_weather", "arguments": {"city": "Berlin"}}',
            metrics={"function_call_accuracy": 1.0, "quality_score": 1.0},
        ),
        capability_item(
            qwen,
            "vision",
            "caption",
            "cap_002",
            outcome="skipped",
            output=None,
            metrics={},
            timing={},
            error="model has no vision support",
        ),
        capability_item(
            gemma,
            "general_text",
            "qa",
            "qa_001",
            outcome="failed",
            output="Lyon",
            metrics={"exact_match": 0.0, "f1": 0.0, "quality_score": 0.0},
        ),
        capability_item(
            gemma, "reasoning", "math", "math_007", metrics={"accuracy": 1.0, "quality_score": 1.0}
        ),
    ]
    if hostile:
        results.append(
            capability_item(
                qwen,
                "general_text",
                "qa",
                f"evil{PAYLOAD}",
                output=f"Sure! {PAYLOAD} <img src=x onerror=alert(1)>",
                prompt='=HYPERLINK("http://evil.example", "x")',
            )
        )
    return Report(
        run=RunInfo(
            id="3f9c2a71-8d4e-4b7a-9c1e-5a2b6d8e0f13",
            started_at="2025-06-01T14:03:27Z",
            finished_at="2025-06-01T14:11:52Z",
            status="completed",
            backend="lmstudio",
            base_url="http://127.0.0.1:1234",
            plugin_version="0.1.0",
            settings={"repeat": 8, "warmup": 1, "seed": 42, "temperature": 0.0},
            environment={
                "python": "3.11.9",
                "os": "Linux-6.8.0-x86_64",
                "cpu": "AMD Ryzen 9 7950X 16-Core",
                "gpu": "NVIDIA GeForce RTX 4090",
                "driver": "550.90.07",
                "server_version": "0.3.16",
            },
            fingerprint="sha256:9b1d4c0e7a55",
            calibration={
                "ttft_error_ms": 1.8,
                "decode_tps_error_pct": 0.7,
                "overhead_per_token_us": 42.0,
            },
        ),
        models=[
            ModelEntry(
                key=qwen,
                status="ok",
                load=LoadInfo(
                    requested={
                        "context_length": 8192,
                        "gpu_offload": "max",
                        "flash_attention": True,
                    },
                    applied={"context_length": 8192, "gpu_offload": "max"},
                    not_applied={"flash_attention": "the server does not report this setting"},
                    load_time_s=3.2,
                    client_load_time_s=3.6,
                ),
                metadata={
                    "params_string": "4B",
                    "size_bytes": 2_500_000_000,
                    "quantization": "Q4_K_M",
                    "architecture": "qwen3",
                },
            ),
            ModelEntry(
                key=gemma,
                status="ok",
                metadata={"params_string": "270M", "size_bytes": 290_000_000},
            ),
            ModelEntry(
                key="mistral-7b-broken", status="load_failed", error="LoadFailed: out of VRAM"
            ),
        ],
        results=results,
    )


@pytest.fixture(scope="session")
def report_factory() -> Callable[..., Report]:
    """``make_report`` for module-scoped fixtures, which cannot use ``report``."""
    return make_report


@pytest.fixture
def report() -> Report:
    return make_report()


@pytest.fixture
def hostile_report() -> Report:
    return make_report(hostile=True)
