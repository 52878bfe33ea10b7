"""write_csv: columns, one row per result, empty cells for missing values, formula guard."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pytest_lmbench.records import Report
from pytest_lmbench.reporting.csv_report import (
    LEADING_COLUMNS,
    TRAILING_COLUMNS,
    safe_cell,
    write_csv,
)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_columns_are_fixed_then_sorted_metrics_then_timing(report: Report, tmp_path: Path) -> None:
    path = write_csv(report, tmp_path / "r.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    metrics = [
        "accuracy",
        "coherence",
        "exact_match",
        "f1",
        "function_call_accuracy",
        "repetition_ratio",
        "rouge1",
        "rouge2",
        "rougeL",
    ]
    assert header == [*LEADING_COLUMNS, *metrics, *TRAILING_COLUMNS]
    assert len(_read(path)) == len(report.results)


def test_values_and_missing_cells(report: Report, tmp_path: Path) -> None:
    rows = _read(write_csv(report, tmp_path / "r.csv"))
    by_case = {(r["model"], r["case_id"]): r for r in rows}
    errored = by_case[("qwen3-4b-instruct", "math_007")]
    assert errored["outcome"] == "error"
    assert errored["accuracy"] == ""  # None stays empty, never 0
    assert errored["quality_score"] == ""
    assert errored["e2e_s_median"] == "30.0"
    assert errored["run_id"] == report.run.id
    throughput = by_case[("gemma-3-270m-it", "pp512-tg128-c1")]
    item = next(
        r for r in report.results if r.model == "gemma-3-270m-it" and r.kind == "throughput"
    )
    assert float(throughput["decode_tps_median"]) == pytest.approx(
        item.timing["decode_tps"]["median"]
    )
    assert float(throughput["decode_tps_ci95_low"]) == pytest.approx(
        item.timing["decode_tps"]["ci95_low"]
    )
    assert throughput["concurrency"] == "1"
    assert throughput["output_tokens"] == str(8 * 128)  # summed over the requests
    assert throughput["energy_j"] == "410.5"
    qa = by_case[("qwen3-4b-instruct", "qa_001")]
    assert qa["coherence"] == "coherent"
    assert qa["output_tokens"] == "34"
    assert qa["decode_tps_ci95_low"] == ""


def test_formula_injection_is_neutralised(report: Report, tmp_path: Path) -> None:
    first = report.results[3]
    first.error = "=cmd|' /C calc'!A0"
    first.case_id = "@SUM(A1:A9)"
    first.model = "+model"
    first.metrics["coherence"] = "-2+3"
    first.metrics["f1"] = -0.5  # a real number stays a number
    rows = _read(write_csv(report, tmp_path / "r.csv"))
    row = rows[3]
    assert row["error"] == "'=cmd|' /C calc'!A0"
    assert row["case_id"] == "'@SUM(A1:A9)"
    assert row["model"] == "'+model"
    assert row["coherence"] == "'-2+3"
    assert row["f1"] == "-0.5"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("\t=1", "'\t=1"),
        ("-1.5", "-1.5"),  # text that is a plain number cannot run
        ("+3e5", "+3e5"),
        ("-x", "'-x"),
        ("plain", "plain"),
        (-2, -2),
        (None, ""),
        (True, "true"),
        (["a", "b"], '["a", "b"]'),
    ],
)
def test_safe_cell(value: object, cell: object) -> None:
    assert safe_cell(value) == cell
