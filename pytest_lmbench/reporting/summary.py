"""Roll-ups of a :class:`Report`: counts, metric means and headline speed per model.

``build_summary`` fills ``Report.summary`` (the seed of the metrics matrix) and is
what the HTML and terminal reports show, so every view agrees on one set of numbers.
A missing value stays ``None``: it is never averaged in as 0.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from pytest_lmbench.records import (
    CapabilitySummary,
    Counts,
    ModelSummary,
    Report,
    ReportSummary,
    ResultEntry,
    timing_figure,
    timing_summary,
)
from pytest_lmbench.reporting.published import compare
from pytest_lmbench.vocabulary import CAPABILITIES

# The order of capability_suites/, so every table and chart lists them alike.
CAPABILITY_ORDER: tuple[str, ...] = CAPABILITIES

_PARAMS_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMBT])", re.IGNORECASE)
_PARAM_SCALE = {"K": 1e-6, "M": 1e-3, "B": 1.0, "T": 1e3}  # to billions
_Z95 = 1.959963984540054
_CENTRAL_STATS = frozenset({"median", "p50", "mean"})


@dataclass(frozen=True)
class Headline:
    """A model-level figure pooled from its throughput items."""

    median: float | None = None
    p95: float | None = None
    ci95_low: float | None = None
    ci95_high: float | None = None
    n: int = 0


def as_number(value: Any) -> float | None:
    """A finite float, or None for anything else (strings, NaN, missing)."""
    # bool is accepted on purpose: exact_match=True means 1.0 in a mean.
    if isinstance(value, (int, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear-interpolation percentile (numpy's default) of pre-sorted values."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def median_ci95(sorted_values: Sequence[float]) -> tuple[float | None, float | None]:
    """Distribution-free 95% interval of the median from order statistics.

    Needs no resampling, so it is deterministic and O(1) on sorted data.
    """
    n = len(sorted_values)
    if n < 2:
        return None, None
    half_width = _Z95 * math.sqrt(n) / 2.0
    lo = max(0, math.floor(n / 2.0 - half_width) - 1)
    hi = min(n - 1, math.ceil(n / 2.0 + half_width))
    return sorted_values[lo], sorted_values[hi]


def parse_params_billions(params: Any) -> float | None:
    """``"4B"`` -> 4.0, ``"135M"`` -> 0.135, ``"26B-A4B"`` -> 26.0 (first number wins)."""
    if not isinstance(params, str):
        return None
    match = _PARAMS_RE.search(params)
    if match is None:
        return None
    billions = float(match.group(1)) * _PARAM_SCALE[match.group(2).upper()]
    return billions if billions > 0 else None


def outcome_counts(results: Sequence[ResultEntry]) -> Counts:
    outcomes = Counter(result.outcome for result in results)
    passed, failed = outcomes["passed"], outcomes["failed"]
    # Errors (faults: the model could not be asked or read) say nothing of the model's
    # quality: the rate is over the items that were answered and judged.
    judged = passed + failed
    return {
        "total_tests": len(results),
        "successful_tests": passed,
        "failed_tests": failed,
        "error_tests": outcomes["error"],
        "skipped_tests": outcomes["skipped"],
        "success_rate": passed / judged if judged else None,
    }


def _metric_means(results: Sequence[ResultEntry]) -> dict[str, float | None]:
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    textual: set[str] = set()
    for result in results:
        for key, raw in result.metrics.items():
            value = as_number(raw)
            if value is None:
                counts.setdefault(key, 0)
                sums.setdefault(key, 0.0)
                if raw is not None:
                    textual.add(key)
                continue
            sums[key] = sums.get(key, 0.0) + value
            counts[key] = counts.get(key, 0) + 1
    # A label metric (e.g. coherence) has no mean at all; a numeric metric that
    # is missing everywhere gets an explicit None rather than vanishing.
    keys = sorted(k for k in counts if counts[k] or k not in textual)
    return {f"mean_{k}": (sums[k] / counts[k] if counts[k] else None) for k in keys}


def capability_summary(results: Sequence[ResultEntry]) -> CapabilitySummary:
    summary = cast(CapabilitySummary, dict(outcome_counts(results)))
    # mean_<metric> keys come from whatever metrics the results carry.
    summary.update(cast(CapabilitySummary, _metric_means(results)))
    summary["avg_latency_s"] = mean(timing_figure(r.timing, "e2e_s") for r in results)
    summary["avg_throughput_tps"] = mean(timing_figure(r.timing, "decode_tps") for r in results)
    return summary


def capability_rank(capability: str) -> tuple[int, str]:
    """Known capabilities in suite order, then any others alphabetically."""
    try:
        return CAPABILITY_ORDER.index(capability), ""
    except ValueError:
        return len(CAPABILITY_ORDER), capability


def single_stream(results: Sequence[ResultEntry]) -> list[ResultEntry]:
    """Closed-loop throughput items at concurrency 1: the model's headline speed and TTFT.

    Concurrent, rate and sweep items are reported apart (their own rows and lines),
    so a queueing TTFT never becomes the model's TTFT p95.
    """
    return [
        r
        for r in results
        if r.kind == "throughput"
        and as_number(r.timing.get("concurrency")) == 1
        and "rate_per_s" not in r.timing
        and "sweep" not in r.timing
    ]


def pooled(items: Sequence[ResultEntry], key: str) -> list[float]:
    """Per-request values from ``samples``; an item without samples adds its median."""
    values: list[float] = []
    for item in items:
        samples = item.timing.get("samples")
        found = False
        if isinstance(samples, list):
            for sample in samples:
                value = as_number(sample.get(key)) if isinstance(sample, Mapping) else None
                if value is not None:
                    values.append(value)
                    found = True
        if not found:
            value = timing_figure(item.timing, key)
            if value is not None:
                values.append(value)
    values.sort()
    return values


def headline(items: Sequence[ResultEntry], key: str) -> Headline:
    """Median, p95 and the median's 95% interval of one timing key over items."""
    agg = timing_summary(items[0].timing, key) if len(items) == 1 else None
    if agg is not None:
        # One item: keep the runner's own aggregate so the card matches the item.
        med = as_number(agg.get("median"))
        if med is None:
            med = as_number(agg.get("p50"))
        n = as_number(agg.get("n"))
        return Headline(
            median=med,
            p95=as_number(agg.get("p95")),
            ci95_low=as_number(agg.get("ci95_low")),
            ci95_high=as_number(agg.get("ci95_high")),
            n=int(n) if n is not None else 0,
        )
    values = pooled(items, key)
    low, high = median_ci95(values)
    return Headline(percentile(values, 50), percentile(values, 95), low, high, len(values))


def _hardware_mean(results: Sequence[ResultEntry], key: str) -> float | None:
    return mean(as_number(r.hardware.get(key)) for r in results)


def _per_gb(speed: float | None, metadata: Mapping[str, Any]) -> float | None:
    size = as_number(metadata.get("size_bytes"))
    return speed / (size / 1e9) if speed is not None and size else None


def _per_billion_params(speed: float | None, metadata: Mapping[str, Any]) -> float | None:
    billions = parse_params_billions(metadata.get("params_string"))
    return speed / billions if speed is not None and billions else None


def model_summary(
    results: Sequence[ResultEntry], metadata: Mapping[str, Any], status: str | None
) -> ModelSummary:
    by_capability: dict[str, list[ResultEntry]] = {}
    for result in sorted(results, key=lambda r: capability_rank(r.capability)):
        by_capability.setdefault(result.capability, []).append(result)
    items = single_stream(results)
    decode = headline(items, "decode_tps")
    ttft = headline(items, "ttft_s")
    return {
        "status": status,
        "capabilities": {cap: capability_summary(rs) for cap, rs in by_capability.items()},
        "totals": outcome_counts(results),
        "decode_tps_median": decode.median,
        "decode_tps_ci95_low": decode.ci95_low,
        "decode_tps_ci95_high": decode.ci95_high,
        "decode_tps_n": decode.n,
        "ttft_s_p50": ttft.median,
        "ttft_s_p95": ttft.p95,
        "quality_score_mean": mean(as_number(r.metrics.get("quality_score")) for r in results),
        "energy_j_total": _sum_or_none(as_number(r.hardware.get("energy_j")) for r in results),
        "joules_per_token_mean": _hardware_mean(results, "joules_per_token"),
        "tokens_per_sec_per_gb": _per_gb(decode.median, metadata),
        "tokens_per_sec_per_billion_params": _per_billion_params(decode.median, metadata),
    }


def _sum_or_none(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def group_by_model(report: Report) -> dict[str, list[ResultEntry]]:
    """Results per model key: declared models first, then any others as they appear."""
    groups: dict[str, list[ResultEntry]] = {m.key: [] for m in report.models}
    for result in report.results:
        groups.setdefault(result.model, []).append(result)
    return groups


def report_summary(report: Report) -> ReportSummary:
    """The report's summary, built on first use and kept in ``report.summary``.

    The gates, the terminal, the hooks and every writer read this one object.
    """
    if not report.summary:
        report.summary = build_summary(report)
    return report.summary


def build_summary(report: Report) -> ReportSummary:
    """The ``Report.summary`` block; JSON-serialisable, ``None`` for missing values."""
    entries = {m.key: m for m in report.models}
    models: dict[str, ModelSummary] = {}
    for key, results in group_by_model(report).items():
        entry = entries.get(key)
        metadata = entry.metadata if entry is not None else {}
        models[key] = model_summary(results, metadata, entry.status if entry else None)
        if entry is not None and entry.published is not None:
            headline_figures = (models[key]["decode_tps_median"], models[key]["ttft_s_p50"])
            models[key]["published"] = compare(
                entry.published, results, headline_figures, report.run.environment
            )
    return {"models": models, "totals": outcome_counts(report.results)}


def format_number(value: Any, digits: int = 3) -> str:
    """Human figure with ``digits`` significant digits; "—" when missing."""
    number = as_number(value)
    if number is None:
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # counts, seeds, context lengths: exact
    if number == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(number)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{number:.{decimals}f}"


def format_ms(seconds: Any) -> str:
    """Seconds shown as milliseconds, the natural unit of TTFT."""
    value = as_number(seconds)
    return "—" if value is None else f"{format_number(value * 1000.0)} ms"


def format_percent(value: Any) -> str:
    number = as_number(value)
    return "—" if number is None else f"{number * 100:.0f}%"
