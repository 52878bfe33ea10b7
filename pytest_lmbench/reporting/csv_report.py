"""One CSV row per result, for spreadsheets and pandas.

Suite text and model output end up in cells, and a spreadsheet runs any cell that
starts with ``=``, ``+``, ``-`` or ``@`` as a formula; such text cells get a leading
``'`` (OWASP's advice). Numbers are written as numbers and left alone.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pytest_lmbench.records import History, Report, ResultEntry, timing_figure, token_total
from pytest_lmbench.reporting.summary import as_number

LEADING_COLUMNS: tuple[str, ...] = (
    "run_id",
    "model",
    "nodeid",
    "kind",
    "capability",
    "task",
    "case_id",
    "outcome",
    "error",
    "quality_score",
)
TRAILING_COLUMNS: tuple[str, ...] = (
    "ttft_s_median",
    "decode_tps_median",
    "decode_tps_ci95_low",
    "decode_tps_ci95_high",
    "prefill_tps_median",
    "e2e_s_median",
    "aggregate_output_tps",
    "concurrency",
    "energy_j",
    "joules_per_token",
    "output_tokens",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def safe_cell(value: Any) -> str | int | float:
    """A CSV cell: numbers as-is, ``None`` empty, text guarded against formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def metric_columns(results: Iterable[ResultEntry]) -> list[str]:
    """Every metric key seen in any result, sorted; quality_score has its own column."""
    keys: set[str] = set()
    for result in results:
        keys.update(result.metrics)
    keys.discard("quality_score")
    return sorted(keys)


def _count(value: Any) -> int | float | None:
    """A number kept as int when it is one, so counts do not print as ``128.0``."""
    if isinstance(value, bool) or as_number(value) is None:
        return None
    return int(value) if isinstance(value, int) else float(value)


def _timing_cells(result: ResultEntry) -> list[Any]:
    timing = result.timing
    return [
        timing_figure(timing, "ttft_s"),
        timing_figure(timing, "decode_tps"),
        timing_figure(timing, "decode_tps", "ci95_low"),
        timing_figure(timing, "decode_tps", "ci95_high"),
        timing_figure(timing, "prefill_tps"),
        timing_figure(timing, "e2e_s"),
        as_number(timing.get("aggregate_output_tps")),
        _count(timing.get("concurrency")),
        as_number(result.hardware.get("energy_j")),
        as_number(result.hardware.get("joules_per_token")),
        token_total(timing, "output_tokens"),
    ]


def result_row(run_id: str, result: ResultEntry, metric_keys: list[str]) -> list[Any]:
    metrics = result.metrics
    head = [
        run_id,
        result.model,
        result.nodeid,
        result.kind,
        result.capability,
        result.task,
        result.case_id,
        result.outcome,
        result.error,
        metrics.get("quality_score"),
    ]
    row = head + [metrics.get(key) for key in metric_keys] + _timing_cells(result)
    return [safe_cell(cell) for cell in row]


def write_csv(report: Report, path: Path) -> Path:
    """Write the results of ``report`` to ``path`` (UTF-8, RFC 4180 quoting)."""
    metric_keys = metric_columns(report.results)
    header = [*LEADING_COLUMNS, *metric_keys, *TRAILING_COLUMNS]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([safe_cell(name) for name in header])
        for result in report.results:
            writer.writerow(result_row(report.run.id, result, metric_keys))
    return path


def write(report: Report, history: History | None, path: Path) -> None:
    """The writer interface (:data:`pytest_lmbench.reporting.writer.WRITERS`)."""
    write_csv(report, path)
