"""build_summary: counts, means that skip missing values, and headline speed."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from pytest_lmbench.records import ModelEntry, Outcome, Report, ResultEntry, RunInfo
from pytest_lmbench.reporting.summary import (
    build_summary,
    format_ms,
    format_number,
    median_ci95,
    parse_params_billions,
    percentile,
)


def _run() -> RunInfo:
    return RunInfo(
        id="run-1",
        started_at="2025-06-01T14:03:27Z",
        backend="lmstudio",
        base_url="http://127.0.0.1:1234",
        plugin_version="0.1.0",
    )


def _item(outcome: Outcome, capability: str = "general_text", **fields: Any) -> ResultEntry:
    return ResultEntry(
        nodeid=f"n::{capability}::{outcome}::{len(fields)}",
        model=fields.pop("model", "m"),
        kind=fields.pop("kind", "capability"),
        capability=capability,
        case_id=fields.pop("case_id", "c1"),
        outcome=outcome,
        **fields,
    )


def _hand_built() -> Report:
    results = [
        _item(
            "passed",
            metrics={"quality_score": 0.8, "f1": 0.9, "coherence": "coherent"},
            timing={"e2e_s": 1.0, "decode_tps": 40.0, "ttft_s": 0.2},
        ),
        _item(
            "passed",
            metrics={"quality_score": None, "f1": 0.5, "coherence": "rambling"},
            timing={"e2e_s": 3.0, "decode_tps": None},
        ),
        _item("failed", metrics={"quality_score": 0.2, "f1": None}, timing={"e2e_s": None}),
        _item("skipped"),
        _item("error", capability="reasoning", metrics={"accuracy": None}),
    ]
    return Report(
        run=_run(),
        models=[ModelEntry(key="m", status="ok", metadata={"size_bytes": 2_000_000_000})],
        results=results,
    )


def test_counts_and_success_rate_exclude_skipped_and_errors() -> None:
    summary = build_summary(_hand_built())
    text = summary["models"]["m"]["capabilities"]["general_text"]
    assert text["total_tests"] == 4
    assert text["successful_tests"] == 2
    assert text["failed_tests"] == 1
    assert text["error_tests"] == 0
    assert text["skipped_tests"] == 1
    assert text["success_rate"] == pytest.approx(2 / 3)
    totals = summary["models"]["m"]["totals"]
    assert (totals["total_tests"], totals["error_tests"]) == (5, 1)
    assert totals["success_rate"] == pytest.approx(2 / 3)  # the error is a fault, not a miss
    assert summary["totals"]["total_tests"] == 5


def test_means_skip_missing_values_instead_of_counting_zero() -> None:
    text = build_summary(_hand_built())["models"]["m"]["capabilities"]["general_text"]
    assert text["mean_quality_score"] == pytest.approx(0.5)  # (0.8 + 0.2) / 2, not / 3
    assert text["mean_f1"] == pytest.approx(0.7)
    assert "mean_coherence" not in text  # a label has no mean
    assert text["avg_latency_s"] == pytest.approx(2.0)
    assert text["avg_throughput_tps"] == pytest.approx(40.0)


def test_metric_missing_everywhere_has_a_none_mean() -> None:
    reasoning = build_summary(_hand_built())["models"]["m"]["capabilities"]["reasoning"]
    assert reasoning["mean_accuracy"] is None
    assert reasoning["success_rate"] is None  # its one item errored: nothing was judged
    assert reasoning["avg_latency_s"] is None


def test_all_skipped_has_no_success_rate() -> None:
    report = Report(run=_run(), results=[_item("skipped"), _item("skipped")])
    assert build_summary(report)["models"]["m"]["totals"]["success_rate"] is None


def test_no_throughput_items_leaves_headline_empty() -> None:
    model = build_summary(_hand_built())["models"]["m"]
    assert model["decode_tps_median"] is None
    assert model["ttft_s_p50"] is None
    assert model["tokens_per_sec_per_gb"] is None


def test_single_throughput_item_keeps_the_runner_aggregate(report: Report) -> None:
    summary = build_summary(report)
    gemma = summary["models"]["gemma-3-270m-it"]
    item = next(
        r for r in report.results if r.model == "gemma-3-270m-it" and r.kind == "throughput"
    )
    agg = item.timing["decode_tps"]
    assert gemma["decode_tps_median"] == agg["median"]
    assert (gemma["decode_tps_ci95_low"], gemma["decode_tps_ci95_high"]) == (
        agg["ci95_low"],
        agg["ci95_high"],
    )
    assert gemma["ttft_s_p95"] == item.timing["ttft_s"]["p95"]
    assert gemma["tokens_per_sec_per_gb"] == pytest.approx(agg["median"] / 0.29)
    assert gemma["tokens_per_sec_per_billion_params"] == pytest.approx(agg["median"] / 0.27)


def test_headline_uses_lowest_concurrency(report: Report) -> None:
    qwen = build_summary(report)["models"]["qwen3-4b-instruct"]
    c1 = next(
        r for r in report.results if r.case_id == "pp512-tg128-c1" and r.model.startswith("q")
    )
    assert qwen["decode_tps_median"] == c1.timing["decode_tps"]["median"]
    assert qwen["tokens_per_sec_per_gb"] == pytest.approx(qwen["decode_tps_median"] / 2.5)


def test_headline_pools_samples_of_several_items() -> None:
    samples_a = [{"decode_tps": v, "ttft_s": 0.1} for v in (10.0, 11.0, 12.0)]
    samples_b = [{"decode_tps": v, "ttft_s": 0.3} for v in (20.0, 21.0, None)]
    results = [
        _item("passed", "throughput", kind="throughput", timing={"samples": s, "concurrency": 1})
        for s in (samples_a, samples_b)
    ]
    model = build_summary(Report(run=_run(), results=results))["models"]["m"]
    assert model["decode_tps_median"] == pytest.approx(np.percentile([10, 11, 12, 20, 21], 50))
    assert model["decode_tps_n"] == 5
    assert model["ttft_s_p95"] == pytest.approx(np.percentile([0.1] * 3 + [0.3] * 3, 95))


def test_summary_is_strict_json(report: Report) -> None:
    json.dumps(build_summary(report), allow_nan=False)


@pytest.mark.parametrize(
    ("params", "billions"),
    [
        ("4B", 4.0),
        ("135M", 0.135),
        ("26B-A4B", 26.0),
        ("1.5b", 1.5),
        ("8x7B", 7.0),
        (None, None),
        ("?", None),
    ],
)
def test_parse_params(params: str | None, billions: float | None) -> None:
    assert parse_params_billions(params) == (pytest.approx(billions) if billions else None)


def test_percentile_matches_numpy() -> None:
    values = sorted([3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0])
    for q in (0, 25, 50, 90, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(np.percentile(values, q))
    assert percentile([], 50) is None


def test_median_ci95_brackets_the_median() -> None:
    values = [float(v) for v in range(1, 101)]
    low, high = median_ci95(values)
    assert low is not None
    assert high is not None
    assert low < 50.5 < high
    assert (low, high) == (40.0, 61.0)  # the classic order-statistic ranks for n=100
    assert median_ci95([1.0]) == (None, None)


def test_formatting_never_turns_missing_into_zero() -> None:
    assert format_number(None) == "—"
    assert format_number(float("nan")) == "—"
    assert format_number(0.0) == "0"
    assert format_number(51.234) == "51.2"
    assert format_number(0.8734) == "0.873"
    assert format_number(8192) == "8192"
    assert format_ms(0.1654) == "165 ms"
    assert format_ms(None) == "—"
