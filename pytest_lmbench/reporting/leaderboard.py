"""The leaderboard across models that ends the terminal summary and the HTML report.

Every column comes from the report's summary or from single-stream (c1) items, so
a concurrent item's queueing never ranks a model. ``--lm-rank-by`` picks the sort
key; a model without that figure is listed last, never ranked as 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_lmbench.records import Report, ResultEntry
from pytest_lmbench.reporting.summary import (
    CAPABILITY_ORDER,
    as_number,
    format_ms,
    format_number,
    group_by_model,
    headline,
    report_summary,
    single_stream,
)

PP512 = 512
Row = dict[str, float | None]


@dataclass(frozen=True)
class Column:
    key: str  # a --lm-rank-by value
    label: str
    higher_is_better: bool
    show: Callable[[float | None], str] = format_number


COLUMNS: tuple[Column, ...] = (
    Column("decode_tps", "decode tok/s (c1)", True),
    Column("ttft_pp512", "TTFT p50 pp512", False, format_ms),
    Column("quality", "quality", True),
    Column("tps_per_gb", "tok/s per GB", True),
    Column("tps_per_b_params", "tok/s per B params", True),
    Column("joules_per_token", "J/token", False),
    Column("peak_vram_gb", "peak VRAM GB", False),
)


def _ttft_pp512(results: Sequence[ResultEntry]) -> float | None:
    items = [r for r in single_stream(results) if as_number(r.timing.get("prompt_tokens")) == PP512]
    return headline(items, "ttft_s").median if items else None


def _peak_vram(results: Sequence[ResultEntry]) -> float | None:
    peaks = []
    for result in results:
        vram = result.hardware.get("vram_gb")
        peaks.append(as_number(vram.get("max")) if isinstance(vram, Mapping) else None)
    present = [p for p in peaks if p is not None]
    return max(present) if present else None


def rows(report: Report) -> dict[str, Row]:
    """Each model's leaderboard figures (None: not measured)."""
    models: Mapping[str, Any] = report_summary(report)["models"]
    groups = group_by_model(report)
    found: dict[str, Row] = {}
    for key, model in models.items():
        results = groups.get(key, [])
        row: Row = {
            "decode_tps": as_number(model.get("decode_tps_median")),
            "ttft_pp512": _ttft_pp512(results),
            "quality": as_number(model.get("quality_score_mean")),
            "tps_per_gb": as_number(model.get("tokens_per_sec_per_gb")),
            "tps_per_b_params": as_number(model.get("tokens_per_sec_per_billion_params")),
            "joules_per_token": as_number(model.get("joules_per_token_mean")),
            "peak_vram_gb": _peak_vram(results),
        }
        for cap, summary in model.get("capabilities", {}).items():
            if cap in CAPABILITY_ORDER and "mean_quality_score" in summary:
                row[f"quality_{cap}"] = as_number(summary["mean_quality_score"])
        found[key] = row
    return found


def rank_by(report: Report) -> str:
    """The run's --lm-rank-by (a report from before it: decode tok/s)."""
    value = report.run.settings.get("lm_rank_by")
    return value if isinstance(value, str) else "decode_tps"


def ranked(report: Report, rank_by: str) -> list[tuple[str, Row]]:
    """Models best first by ``rank_by``; those without the figure last, in report order."""
    better = higher_is_better(rank_by)
    table = list(rows(report).items())
    known = [(k, r) for k, r in table if r.get(rank_by) is not None]
    unknown = [(k, r) for k, r in table if r.get(rank_by) is None]
    known.sort(key=lambda kr: kr[1][rank_by] or 0.0, reverse=better)
    return known + unknown


def higher_is_better(rank_by: str) -> bool:
    column = next((c for c in COLUMNS if c.key == rank_by), None)
    return column.higher_is_better if column is not None else True  # quality_<capability>


def quality_columns(table: Sequence[tuple[str, Row]]) -> list[str]:
    present = {k for _, row in table for k in row if k.startswith("quality_")}
    return [f"quality_{c}" for c in CAPABILITY_ORDER if f"quality_{c}" in present]


def view(report: Report, rank_by: str) -> tuple[list[str], list[list[str]]]:
    """Header and cells, best first: what the terminal and the HTML both show."""
    table = ranked(report, rank_by)
    extra = quality_columns(table)
    header = ["#", "model", *(c.label for c in COLUMNS), *extra]
    cells = []
    for place, (key, row) in enumerate(table, start=1):
        shown = [c.show(row.get(c.key)) for c in COLUMNS]
        cells.append([str(place), key, *shown, *(format_number(row.get(q)) for q in extra)])
    return header, cells


def terminal_lines(report: Report, rank_by: str) -> list[str]:
    """The leaderboard as aligned text; nothing for fewer than two models."""
    if len(report_summary(report)["models"]) < 2:
        return []
    header, cells = view(report, rank_by)
    all_rows = [header, *cells]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(header))]
    lines = [f"lmbench leaderboard (by {rank_by}; speed from c1 items only)"]
    for row in all_rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return lines
