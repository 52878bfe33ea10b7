"""One self-contained HTML file per run: no network, no external assets, works offline.

Everything a model or a suite wrote is untrusted. It only reaches the page through
Jinja2 autoescaping, never inside ``<script>``, and a Content-Security-Policy that
allows only our own hashed script is the second line of defence. Charts are inline
SVG from :mod:`.charts`. The page stays light at 10,000 results: each item is a
closed ``<details>`` with values formatted here, and long texts are cut.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from pytest_lmbench.records import History, ModelEntry, Report, ResultEntry
from pytest_lmbench.reporting import charts, leaderboard
from pytest_lmbench.reporting.comparison import comparison_tables
from pytest_lmbench.reporting.html_items import (
    STAT_COLUMNS,
    TEXT_LIMIT,
    item_view,
    kv_rows,
    ordered_items,
    unjudged,
)
from pytest_lmbench.reporting.published import versus
from pytest_lmbench.reporting.summary import (
    as_number,
    capability_rank,
    format_ms,
    format_number,
    format_percent,
    report_summary,
)
from pytest_lmbench.reporting.timeseries import hardware_charts

MAX_TTFT_ROWS = 40  # strips in the TTFT chart; more would not be readable
MAX_SWEEP_CHARTS = 12  # one per sweep item; the terminal line has every sweep
_SLUG = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(Path(__file__).with_name("templates"))
    return jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=1)
def _script_hash() -> str:
    """CSP hash of the template's only script, computed from its rendered block."""
    template = _environment().get_template("report.html.j2")
    block = template.blocks["script"]
    text = "".join(block(template.new_context({})))
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return base64.b64encode(digest).decode("ascii")


def _slug(text: str, index: int) -> str:
    # The index keeps ids unique when two keys slug the same.
    return f"m{index}-{_SLUG.sub('-', text.lower()).strip('-')[:40]}"


def _model_card(
    index: int, key: str, model: Mapping[str, Any], entry: ModelEntry | None, no_threshold: bool
) -> dict[str, Any]:
    meta = entry.metadata if entry else {}
    low, high = model.get("decode_tps_ci95_low"), model.get("decode_tps_ci95_high")
    quality = [
        (cap, format_number(s["mean_quality_score"]), as_number(s["mean_quality_score"]))
        for cap, s in model["capabilities"].items()
        if "mean_quality_score" in s
    ]
    facts = [
        ("params", meta.get("params_string")),
        ("quant", meta.get("quantization")),
        ("size", _gigabytes(meta.get("size_bytes"))),
        ("arch", meta.get("architecture")),
    ]
    return {
        "key": key,
        "id": _slug(key, index),
        "color": charts.color_for(index),
        "status": entry.status if entry else "ok",
        "error": entry.error if entry else None,
        "decode": format_number(model.get("decode_tps_median")),
        "decode_ci": None
        if low is None or high is None
        else f"{format_number(low)}–{format_number(high)}",
        "decode_n": model.get("decode_tps_n") or 0,
        "ttft_p50": format_ms(model.get("ttft_s_p50")),
        "ttft_p95": format_ms(model.get("ttft_s_p95")),
        "quality": quality,
        "totals": model["totals"],
        "success": "no threshold"
        if no_threshold
        else format_percent(model["totals"].get("success_rate")),
        "per_gb": format_number(model.get("tokens_per_sec_per_gb")),
        "per_b": format_number(model.get("tokens_per_sec_per_billion_params")),
        "jpt": format_number(model.get("joules_per_token_mean")),
        "facts": [(k, str(v)) for k, v in facts if v is not None],
        # None without --lm-reference; [] shows "—": no published figure for this model.
        "published": None
        if model.get("published") is None
        else [versus(c) for c in model["published"]],
    }


def _gigabytes(size: Any) -> str | None:
    number = as_number(size)
    return None if number is None else f"{format_number(number / 1e9)} GB"


def _capability_rows(
    summary: Mapping[str, Any], no_threshold: set[tuple[str, str | None]]
) -> list[dict[str, Any]]:
    rows = []
    for key, model in summary["models"].items():
        for cap, s in model["capabilities"].items():
            others = [
                (name[5:], format_number(v))
                for name, v in s.items()
                if name.startswith("mean_") and name != "mean_quality_score"
            ]
            rows.append(
                {
                    "model": key,
                    "capability": cap,
                    "s": s,
                    "success": "no threshold"
                    if (key, cap) in no_threshold
                    else format_percent(s["success_rate"]),
                    "quality": format_number(s.get("mean_quality_score")),
                    "metrics": others,
                    "latency": format_number(s["avg_latency_s"]),
                    "tps": format_number(s["avg_throughput_tps"]),
                }
            )
    return rows


def _load_rows(models: Sequence[ModelEntry]) -> list[dict[str, Any]]:
    return [
        {
            "key": m.key,
            "status": m.status,
            "error": m.error,
            "requested": kv_rows(m.load.requested),
            "applied": kv_rows(m.load.applied),
            "not_applied": [(str(k), str(v)) for k, v in m.load.not_applied.items()],
            "load_time": format_number(m.load.load_time_s),
            "client_load_time": format_number(m.load.client_load_time_s),
        }
        for m in models
    ]


def load_warnings(models: Sequence[ModelEntry]) -> list[str]:
    """One line per model whose load went wrong or ignored a requested setting."""
    lines = []
    for m in models:
        if m.status == "load_failed":
            lines.append(f"{m.key} failed to load: {m.error or 'no reason given'}")
        if m.load.not_applied:
            lines.append(f"{m.key}: not applied: {', '.join(m.load.not_applied)}")
    return lines


def _run_facts(report: Report) -> list[tuple[str, str]]:
    run = report.run
    return [
        ("Run id", run.id),
        ("Status", run.status),
        ("Backend", run.backend),
        ("Base URL", run.base_url),
        ("Started", run.started_at),
        ("Finished", run.finished_at or "—"),
        ("Plugin version", run.plugin_version),
        ("Fingerprint", run.fingerprint or "—"),
    ]


def _decode_chart(summary: Mapping[str, Any], colors: Mapping[str, str]) -> str:
    bars = [
        charts.Bar(
            key,
            m["decode_tps_median"],
            m["decode_tps_ci95_low"],
            m["decode_tps_ci95_high"],
            colors[key],
        )
        for key, m in summary["models"].items()
    ]
    return charts.interval_bars(
        bars, title="Decode speed (median, 95% CI)", unit="tokens/s", width=charts.HALF_WIDTH
    )


def _samples(result: ResultEntry, key: str) -> list[float]:
    samples = result.timing.get("samples")
    if not isinstance(samples, list):
        return []
    values = (as_number(s.get(key)) for s in samples if isinstance(s, Mapping))
    return [v for v in values if v is not None]


def _ttft_rows(report: Report) -> tuple[list[tuple[str, str, list[float]]], str]:
    """(model, label, seconds) per throughput item; pooled per grid point when too many."""
    items = [
        (r, v) for r in report.results if r.kind == "throughput" and (v := _samples(r, "ttft_s"))
    ]
    if len(items) <= MAX_TTFT_ROWS:
        return [(r.model, f"{r.model} · {r.case_id}", v) for r, v in items], "per item"
    # Repeats and generation lengths barely move TTFT; prompt size and concurrency do.
    models = list(dict.fromkeys(r.model for r, _ in items))
    pooled: dict[tuple[int, float, float, str], list[float]] = {}
    for r, values in items:
        prompt = as_number(r.timing.get("prompt_tokens")) or 0.0
        conc = as_number(r.timing.get("concurrency")) or 0.0
        pooled.setdefault((models.index(r.model), prompt, conc, r.model), []).extend(values)
    rows = []
    for key in sorted(pooled):
        _, prompt, conc, model = key
        rows.append((model, f"{model} · pp{prompt:g} · c{conc:g}", pooled[key]))
    return rows, f"{len(items)} items pooled by prompt size and concurrency"


def _ttft_chart(report: Report, colors: Mapping[str, str]) -> str:
    rows, note = _ttft_rows(report)
    if not rows:
        # No throughput samples: every capability request is one TTFT sample.
        note = "capability items, per model"
        per_model: dict[str, list[float]] = {}
        for r in report.results:
            value = as_number(r.timing.get("ttft_s"))
            if value is not None:
                per_model.setdefault(r.model, []).append(value)
        rows = [(k, k, v) for k, v in per_model.items()]
    if len(rows) > MAX_TTFT_ROWS:
        note += f"; first {MAX_TTFT_ROWS} of {len(rows)} rows"
    strips = [
        charts.StripRow(label, values, colors.get(model, charts.PALETTE[0]))
        for model, label, values in rows[:MAX_TTFT_ROWS]
    ]
    title = f"Time to first token per request ({note})"
    return charts.strip_plot(strips, title=title, unit="ms", scale=1000.0, width=charts.WIDE_WIDTH)


def _quality_chart(summary: Mapping[str, Any], colors: Mapping[str, str]) -> str:
    models: Mapping[str, Any] = summary["models"]
    found = {
        cap
        for m in models.values()
        for cap, s in m["capabilities"].items()
        if "mean_quality_score" in s
    }
    categories = sorted(found, key=capability_rank)
    series = [
        charts.Series(
            key,
            [m["capabilities"].get(cap, {}).get("mean_quality_score") for cap in categories],
            colors[key],
        )
        for key, m in models.items()
    ]
    # A model without any quality figure (e.g. it failed to load) would only add noise.
    series = [s for s in series if any(v is not None for v in s.values)]
    return charts.grouped_bars(
        categories, series, title="Quality per capability (mean score)", width=charts.HALF_WIDTH
    )


def _history_chart(
    report: Report, summary: Mapping[str, Any], colors: Mapping[str, str], history: History | None
) -> str:
    """Decode median per run and model; the current run is added when not yet stored."""
    runs: dict[str, str] = {}
    points: dict[str, dict[str, float | None]] = {}
    for model, entries in (history or {}).items():
        for entry in entries:
            if entry.get("status", "completed") != "completed":
                continue  # an interrupted run's median covers only the items it reached
            run_id = str(entry.get("run_id"))
            runs.setdefault(run_id, str(entry.get("started_at") or ""))
            value = as_number(entry.get("decode_tps_median"))
            points.setdefault(model, {})[run_id] = value
    for key, m in summary["models"].items():
        if m["decode_tps_median"] is not None:
            runs.setdefault(report.run.id, report.run.started_at)
            points.setdefault(key, {}).setdefault(report.run.id, m["decode_tps_median"])
    order = sorted(runs, key=lambda rid: (runs[rid], rid))
    labels = [runs[rid][5:16].replace("T", " ") or rid[:8] for rid in order]
    fractions = _time_fractions([runs[rid] for rid in order])
    series = [
        charts.Series(
            model,
            [values.get(rid) for rid in order],
            colors.get(model) or charts.color_for(len(colors) + i),
        )
        for i, (model, values) in enumerate(points.items())
    ]
    return charts.trend_lines(
        labels,
        series,
        title="Decode speed history (completed runs)",
        unit="tokens/s",
        width=charts.WIDE_WIDTH,
        x_fractions=fractions,
    )


def _time_fractions(started: Sequence[str]) -> list[float] | None:
    """Where each run lies between the first and the last (None: a time is unreadable)."""
    try:
        times = [datetime.fromisoformat(text).timestamp() for text in started]
    except (TypeError, ValueError):
        return None
    span = max(times) - min(times) if times else 0.0
    if span <= 0:
        return None
    return [(t - min(times)) / span for t in times]


def _sweep_charts(report: Report, colors: Mapping[str, str]) -> list[str]:
    """One curve per sweep item (throughput against TTFT p95 per level, the knee)."""
    svgs = []
    for r in report.results:
        sweep = r.timing.get("sweep")
        if not isinstance(sweep, list) or not sweep:
            continue
        unit = "rate_per_s" if "knee_rate_per_s" in r.timing else "concurrency"
        knee = as_number(r.timing.get(f"knee_{unit}"))
        points = [_curve_point(p, unit, knee) for p in sweep if isinstance(p, Mapping)]
        title = f"Saturation sweep · {r.model} · {r.case_id}"
        color = colors.get(r.model, charts.PALETTE[0])
        svgs.append(charts.sweep_curve([p for p in points if p], title=title, color=color))
    return svgs[:MAX_SWEEP_CHARTS]


def _curve_point(
    point: Mapping[str, Any], unit: str, knee: float | None
) -> charts.CurvePoint | None:
    level = as_number(point.get(unit))
    ttft_s = as_number(point.get("ttft_p95_s"))
    tps = as_number(point.get("aggregate_output_tps"))
    if level is None or ttft_s is None or tps is None:
        return None  # a level without figures (every request failed) has no place on it
    label = f"{'r' if unit == 'rate_per_s' else 'c'}={format_number(level)}"
    return charts.CurvePoint(label, ttft_s, tps, knee=level == knee)


def _charts(
    report: Report, summary: Mapping[str, Any], colors: Mapping[str, str], history: History | None
) -> list[tuple[Markup, bool]]:
    """(svg, full width) pairs. charts.* escape every label, so the SVG is trusted."""
    svgs = [
        (_decode_chart(summary, colors), False),
        (_quality_chart(summary, colors), False),
        (_ttft_chart(report, colors), True),
        (_history_chart(report, summary, colors, history), True),
        # Only with --lm-store-samples: the raw readings over the run's time.
        *((svg, True) for svg in hardware_charts(report)),
    ]
    svgs += [(svg, False) for svg in _sweep_charts(report, colors)]
    return [(Markup(svg), wide) for svg, wide in svgs]  # noqa: S704 (escaped in charts)


def _leaderboard(report: Report) -> dict[str, Any] | None:
    """The leaderboard across models (two or more), best first; cells are escaped."""
    if len(report_summary(report)["models"]) < 2:
        return None
    key = leaderboard.rank_by(report)
    header, cells = leaderboard.view(report, key)
    return {"rank_by": key, "header": header, "rows": cells}


def render_html(report: Report, history: History | None = None) -> str:
    """The whole report page as one string."""
    summary = report_summary(report)
    entries = {m.key: m for m in report.models}
    no_threshold = unjudged(report.results)
    cards = [
        _model_card(i, key, model, entries.get(key), (key, None) in no_threshold)
        for i, (key, model) in enumerate(summary["models"].items())
    ]
    colors = {card["key"]: card["color"] for card in cards}
    items = [item_view(r) for r in ordered_items(report.results)]
    context = {
        "title": f"lmbench report · {report.run.id[:8]}",
        "run": report.run,
        "facts": _run_facts(report),
        "environment": kv_rows(report.run.environment),
        "settings": kv_rows(report.run.settings),
        "calibration": kv_rows(report.run.calibration or {}),
        "cards": cards,
        "comparisons": comparison_tables(summary.get("comparisons") or []),
        "loads": _load_rows(report.models),
        "load_warnings": load_warnings(report.models),
        "capability_rows": _capability_rows(summary, no_threshold),
        "leaderboard": _leaderboard(report),
        "charts": _charts(report, summary, colors, history),
        "items": items,
        "totals": summary["totals"],
        "stat_columns": STAT_COLUMNS,
        "text_limit": TEXT_LIMIT,
        "script_hash": _script_hash(),
    }
    return _environment().get_template("report.html.j2").render(context)


def write(report: Report, history: History | None, path: Path) -> None:
    """The writer interface (:data:`pytest_lmbench.reporting.writer.WRITERS`)."""
    path.write_text(render_html(report, history), encoding="utf-8")
