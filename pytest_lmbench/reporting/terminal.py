"""Plain-text lines for the end of a pytest session: a table per run, then report paths.

The numbers come from :func:`build_summary`, so the terminal, JSON and HTML agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_lmbench.records import Report
from pytest_lmbench.reporting import leaderboard
from pytest_lmbench.reporting.comparison import comparison_lines
from pytest_lmbench.reporting.published import versus_line
from pytest_lmbench.reporting.summary import (
    as_number,
    format_ms,
    format_number,
    format_percent,
    report_summary,
)
from pytest_lmbench.sampling.contention import CONTENDED_OTHER_CPU_PCT
from pytest_lmbench.sampling.notices import summary_notices
from pytest_lmbench.vocabulary import TASK_METRICS, TOOL_PARTS

_HEADER = (
    "model",
    "decode tok/s [95% CI]",
    "TTFT p50 / p95",
    "passed",
    "failed",
    "errors",
    "skipped",
)
_COUNTS = ("successful_tests", "failed_tests", "error_tests", "skipped_tests")
# Above this, client-side overhead visibly skews the decode figures.
_DECODE_ERROR_WARN_PCT = 5.0
# Metric means in the order of the scoring tables; quality_score has its own line
# and repeat is the --lm-repeat count, not a measurement.
_METRIC_RANK = {
    name: rank
    for rank, name in enumerate(
        dict.fromkeys(
            (
                *(m for metrics in TASK_METRICS.values() for m in metrics),
                *TOOL_PARTS,
                "pass_at_1",
                "pass_at_k",
                "pass_hat_k",
                "repetition_ratio",
            )
        )
    )
}
_NOT_SHOWN = frozenset({"quality_score", "repeat"})


def _decode_cell(model: Mapping[str, Any]) -> str:
    median = model.get("decode_tps_median")
    low, high = model.get("decode_tps_ci95_low"), model.get("decode_tps_ci95_high")
    text = format_number(median)
    if median is not None and low is not None and high is not None:
        text += f" [{format_number(low)}–{format_number(high)}]"
    return text


def _ttft_cell(model: Mapping[str, Any]) -> str:
    p50, p95 = model.get("ttft_s_p50"), model.get("ttft_s_p95")
    if p50 is None and p95 is None:
        return "—"
    return f"{format_ms(p50)} / {format_ms(p95)}"


def _quality_line(model: Mapping[str, Any]) -> str:
    parts = [
        f"{cap} {format_number(cap_summary['mean_quality_score'])}"
        for cap, cap_summary in model.get("capabilities", {}).items()
        if "mean_quality_score" in cap_summary
    ]
    return "  quality: " + (" · ".join(parts) if parts else "—")


def _counts(c: Mapping[str, Any]) -> str:
    # Out of the items that were answered and judged: errors (faults) are counted apart.
    passed, failed = c.get("successful_tests", 0), c.get("failed_tests", 0)
    text = (
        f"{passed}/{passed + failed} passed"
        f" ({format_percent(c.get('success_rate'))}), {failed} failed"
    )
    errors, skipped = c.get("error_tests", 0), c.get("skipped_tests", 0)
    if errors:
        text += f", {errors} error" + ("s" if errors > 1 else "")
    if skipped:
        text += f", {skipped} skipped"
    return text


def _fraction(value: Any) -> str:
    # Means lie in [0, 1]: fixed decimals keep the figures aligned and comparable.
    number = as_number(value)
    return "—" if number is None else f"{number:.3f}"


def _means_line(c: Mapping[str, Any]) -> list[str]:
    """The capability's metric means from the summary, scoring metrics first."""
    names = [k.removeprefix("mean_") for k in c if k.startswith("mean_")]
    names = [n for n in names if n not in _NOT_SHOWN]
    if not names:
        return []
    names.sort(key=lambda n: (_METRIC_RANK.get(n, len(_METRIC_RANK)), n))
    return ["      means: " + " · ".join(f"{n} {_fraction(c[f'mean_{n}'])}" for n in names)]


def _capability_lines(model: Mapping[str, Any]) -> list[str]:
    """Seed 000's metrics matrix per capability: counts, latency, speed, then metric means."""
    lines = []
    for cap, c in model.get("capabilities", {}).items():
        lines.append(
            f"    {cap}: {_counts(c)},"
            f" avg latency {format_number(c.get('avg_latency_s'))} s,"
            f" avg {format_number(c.get('avg_throughput_tps'))} tok/s"
        )
        lines.extend(_means_line(c))
    return lines


def _row(key: str, model: Mapping[str, Any]) -> tuple[str, ...]:
    totals = model.get("totals", {})
    counts = tuple(str(totals.get(name, 0)) for name in _COUNTS)
    return (key, _decode_cell(model), _ttft_cell(model), *counts)


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: tuple[str, ...]) -> str:
        # Text columns align left, counts right, like a spreadsheet.
        cells = [
            c.ljust(w) if i < 3 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return [line(row) for row in rows]


# A skip reason may quote a server or a model key: no escape sequences reach the terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Beyond this many, one line counts the rest: the JSON has every item's flag.
_CONTENDED_SHOWN = 5


def format_summary(report: Report, paths: Sequence[Path]) -> list[str]:
    """Summary lines: header, one row per model with its quality line, then the paths."""
    summary = report_summary(report)
    models: Mapping[str, Any] = summary["models"]
    lines = [f"lmbench run {report.run.id[:8]} ({report.run.status}, {report.run.backend})"]
    if models:
        rows = [_HEADER, *(_row(key, model) for key, model in models.items())]
        table = _table(rows)
        lines.append(table[0])
        errors = {m.key: m.error for m in report.models if m.error}
        for (key, model), text in zip(models.items(), table[1:], strict=True):
            lines.append(text)
            lines.append(_quality_line(model))
            published = versus_line(model.get("published"))
            if published is not None:
                lines.append(published)
            lines.extend(_capability_lines(model))
            if key in errors:
                lines.append(f"  load error: {errors[key]}")
    else:
        lines.append("no models were benchmarked")
    lines.extend(comparison_lines(summary.get("comparisons") or []))
    for result in report.results:
        lines.extend(
            f"  {result.case_id} [{result.model}] {text}" for text in load_lines(result.timing)
        )
    lines.extend(skip_lines(report))
    lines.extend(contention_lines(report))
    lines.extend(leaderboard.terminal_lines(report, leaderboard.rank_by(report)))
    lines.extend(f"lmbench report: {path}" for path in paths)
    return lines


def load_lines(timing: Mapping[str, Any]) -> list[str]:
    """A sweep's curve and knee, or a rate item's achieved rate and lateness."""
    if "sweep" in timing:
        unit = "rate_per_s" if "knee_rate_per_s" in timing else "concurrency"
        label = "r" if unit == "rate_per_s" else "c"
        points = " · ".join(
            f"{label}={format_number(p.get(unit))} {format_number(p.get('aggregate_output_tps'))}"
            f" tok/s (TTFT p95 {format_ms(p.get('ttft_p95_s'))})"
            for p in timing["sweep"]
        )
        knee = format_number(timing.get(f"knee_{unit}"))
        return [f"sweep: {points}", f"knee {label}={knee}: {timing.get('sweep_stop')}"]
    if "rate_per_s" in timing:
        delay = timing.get("queue_delay_s") or {}
        return [
            f"rate {format_number(timing['rate_per_s'])}/s: achieved "
            f"{format_number(timing.get('achieved_rate_per_s'))}/s, queue delay p95 "
            f"{format_ms(delay.get('p95'))}, goodput {format_number(timing.get('goodput_per_s'))}/s"
        ]
    return []


def skip_lines(report: Report) -> list[str]:
    """Why items were skipped, one line per reason: ``-q`` shows only how many."""
    reasons: dict[str, int] = {}
    for record in report.results:
        if record.outcome == "skipped":
            reason = _CONTROL.sub("?", record.error or "no reason given")
            reasons[reason] = reasons.get(reason, 0) + 1
    return [f"skipped: {n} item{'s' * (n != 1)}: {why}" for why, n in reasons.items()]


def hardware_lines() -> list[str]:
    """Why hardware figures are null (no GPU found) or incomplete (a sampler failed)."""
    return [f"lmbench hardware: {message}" for message in summary_notices()]


def contention_lines(report: Report, shown: int = _CONTENDED_SHOWN) -> list[str]:
    """Items whose speed another process disturbed, named so nobody trusts them blindly."""
    contended = [r for r in report.results if r.flags.get("contended") is True]
    lines = []
    for record in contended[:shown]:
        other = as_number(record.flags.get("contention_other_cpu_pct"))
        lines.append(
            f"contended: {record.nodeid}: other processes used {format_number(other)} % of a "
            f"core while it was measured (limit {CONTENDED_OTHER_CPU_PCT:g} %)"
        )
    if len(contended) > shown:
        lines.append(f"contended: {len(contended) - shown} more items (flags.contended)")
    return lines


def format_calibration(calibration: Mapping[str, Any] | None) -> list[str]:
    """One line of measurement error from the calibration run, plus a warning if large."""
    if not calibration:
        return []
    ttft = as_number(calibration.get("ttft_error_ms"))
    decode = as_number(calibration.get("decode_tps_error_pct"))
    overhead = as_number(calibration.get("overhead_per_token_us"))
    lines = [
        "lmbench calibration: "
        f"TTFT error {format_number(ttft)} ms · "
        f"decode tok/s error {format_number(decode)}% · "
        f"overhead {format_number(overhead)} µs/token"
    ]
    if decode is not None and abs(decode) > _DECODE_ERROR_WARN_PCT:
        lines.append(
            f"lmbench calibration: decode tok/s may be off by more than "
            f"{_DECODE_ERROR_WARN_PCT:g}%; compare runs from the same machine only"
        )
    return lines
