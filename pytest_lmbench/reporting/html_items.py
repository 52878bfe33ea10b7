"""What each item of the HTML report shows: its texts, tables, badge and one-line brief.

Values are formatted here, escaped by the template (autoescape): model output is text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pytest_lmbench.records import ResultEntry, timing_figure
from pytest_lmbench.reporting.summary import as_number, format_number

__all__ = [
    "STAT_COLUMNS",
    "TEXT_LIMIT",
    "clip",
    "compact_number",
    "format_value",
    "item_view",
    "kv_rows",
    "ordered_items",
    "unjudged",
]

TEXT_LIMIT = 4000  # characters of prompt/output shown per item; the JSON has all
VALUE_LIMIT = 300  # characters of one table value
STAT_COLUMNS = ("n", "median", "mean", "p90", "p95", "p99", "min", "max")
_OUTCOME_ORDER = {"failed": 0, "error": 0}


def clip(text: str, limit: int = TEXT_LIMIT) -> tuple[str, int]:
    """The text cut to ``limit`` characters and how many were left out."""
    if len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


def compact_number(value: Any) -> str:
    """Four significant digits without trailing zeros: 0.7, 48.5, 8192."""
    text = format_number(value, 4)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_value(value: Any) -> str:
    """One cell: numbers rounded, stats dicts inline, anything else as short JSON."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return compact_number(value)
    if isinstance(value, str):
        return clip(value, VALUE_LIMIT)[0]
    if (
        isinstance(value, Mapping)
        and value
        and all(isinstance(v, (int, float)) or v is None for v in value.values())
    ):
        return _stats_text(value)
    text = json.dumps(value, ensure_ascii=False, default=str)
    return clip(text, VALUE_LIMIT)[0]


def _stats_text(stats: Mapping[str, Any]) -> str:
    """``{"min","max","avg"}`` hardware samples read best as "avg (min–max)"."""
    if set(stats) == {"min", "max", "avg"}:
        if stats["avg"] is None:
            return "—"
        low, high = compact_number(stats["min"]), compact_number(stats["max"])
        return f"{compact_number(stats['avg'])} ({low}–{high})"
    return " · ".join(f"{k} {compact_number(v)}" for k, v in stats.items())


def kv_rows(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(str(key), format_value(value)) for key, value in data.items()]


def _timing_view(timing: Mapping[str, Any]) -> dict[str, Any]:
    """Aggregates as a stats table; plain values as rows; samples only counted."""
    stats: list[tuple[str, list[str], str]] = []
    plain: list[tuple[str, str]] = []
    for key, value in timing.items():
        if key == "samples":
            count = len(value) if isinstance(value, list) else 0
            plain.append(("samples", f"{count} requests (see the TTFT chart)"))
        elif isinstance(value, Mapping) and ("median" in value or "mean" in value):
            cells = [format_number(value.get(col), 4) for col in STAT_COLUMNS]
            low, high = value.get("ci95_low"), value.get("ci95_high")
            ci = (
                "—"
                if low is None or high is None
                else f"{format_number(low, 4)}–{format_number(high, 4)}"
            )
            stats.append((str(key), cells, ci))
        else:
            plain.append((str(key), format_value(value)))
    return {"stats": stats, "plain": plain}


def _text_block(title: str, value: Any) -> dict[str, Any] | None:
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
        if len(text) > 100:  # short values stay on one line; long ones get structure
            text = json.dumps(value, ensure_ascii=False, default=str, indent=1)
    shown, cut = clip(text)
    return {"title": title, "text": shown, "cut": cut}


def item_view(result: ResultEntry) -> dict[str, Any]:
    """Everything one ``<details>`` shows, already formatted."""
    skipped = result.outcome == "skipped"
    texts = [
        # A skip is a reason, not a failure: it gets a neutral block, not the red one.
        _text_block("Skipped" if skipped else "Error", result.error),
        _text_block("Prompt", result.prompt),
        _text_block("Output", result.output),
        _text_block("Reference", result.reference),
    ]
    tables = [
        ("Metrics", kv_rows(result.metrics)),
        # A server that reports nothing (or a sensor that is absent) would be rows of dashes.
        ("Server stats", _measured_rows(result.server_stats)),
        ("Hardware", _measured_rows(result.hardware)),
        ("Flags", kv_rows(result.flags)),
    ]
    search = " ".join(
        (result.model, result.capability, result.task or "", result.case_id, result.outcome)
    )
    return {
        "r": result,
        "badge": _badge(result),
        "brief": _brief(result),
        "search": search.lower(),
        "texts": [t for t in texts if t is not None],
        "tables": [(title, rows) for title, rows in tables if rows],
        "timing": _timing_view(result.timing),
        "duration": format_number(result.duration_s),
    }


def _measured_rows(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(key, text) for key, text in kv_rows(data) if text != "—"]


def _badge(result: ResultEntry) -> str:
    """The outcome, except that a pass against a threshold of 0 passed nothing."""
    if result.outcome == "passed" and _no_threshold(result):
        return "no threshold"
    return result.outcome


def _no_threshold(result: ResultEntry) -> bool:
    return result.kind == "capability" and as_number(result.flags.get("min_quality")) == 0


def _brief(result: ResultEntry) -> str:
    """The one-line figures in an item's summary; absent figures are left out."""
    parts = []
    if result.outcome == "skipped" and result.error:
        parts.append(result.error)
    if "quality_score" in result.metrics:
        threshold = as_number(result.flags.get("min_quality"))
        judged = "" if threshold is None or threshold == 0 else f" (min {format_number(threshold)})"
        parts.append(f"quality {format_number(result.metrics['quality_score'])}{judged}")
    tps = timing_figure(result.timing, "decode_tps")
    if tps is not None:
        parts.append(f"{format_number(tps)} tok/s")
    e2e = timing_figure(result.timing, "e2e_s")
    if e2e is not None:
        parts.append(f"{format_number(e2e)} s")
    return " · ".join(parts)


def ordered_items(results: Sequence[ResultEntry]) -> Iterator[ResultEntry]:
    """Failures and errors first, then the rest, each in run order (stable sort)."""
    return iter(sorted(results, key=lambda r: _OUTCOME_ORDER.get(r.outcome, 1)))


def unjudged(results: Sequence[ResultEntry]) -> set[tuple[str, str | None]]:
    """(model, capability) pairs, and (model, None) for a whole model, whose capability
    items all passed against a threshold of 0: their success rate says nothing."""
    judged: dict[tuple[str, str | None], bool] = {}
    for r in results:
        if r.kind != "capability" or r.outcome == "skipped":
            continue
        for key in ((r.model, r.capability), (r.model, None)):
            judged[key] = judged.get(key, False) or not _no_threshold(r)
    return {key for key, any_judged in judged.items() if not any_judged}
