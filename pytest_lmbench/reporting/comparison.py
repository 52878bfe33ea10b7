"""The same weights on several servers (``--lm-server``), side by side.

Models are the same weights when the servers report the same digest, else when
architecture, parameter count and quantization agree, or when ``--lm-same`` says
so. Per item and overall, each member's decode speed (median and 95 % interval),
TTFT, prefill speed, J/token, peak VRAM and quality are shown together, the
fastest marked, and each other member compared with it by the test the baselines
use (a one-sided Mann-Whitney U on per-request decode speeds, at ``--lm-alpha``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_lmbench.metrics.stats import mann_whitney_p
from pytest_lmbench.records import JSON, ModelEntry, Report, ResultEntry
from pytest_lmbench.reporting.published import versus_line
from pytest_lmbench.reporting.summary import (
    as_number,
    format_ms,
    format_number,
    median_ci95,
    parse_params_billions,
    percentile,
    pooled,
    single_stream,
)

_MODEL_PART = re.compile(r"\[[^\[\]]*\]$")


def _facts(entry: ModelEntry) -> tuple[Any, ...] | None:
    meta = entry.metadata
    arch, quant = meta.get("architecture"), meta.get("quantization")
    params = parse_params_billions(meta.get("params_string"))
    if not arch or not quant or params is None:
        return None
    return (str(arch).lower(), round(params, 1), str(quant).upper())


def same_weights(report: Report) -> list[tuple[list[str], str]]:
    """Groups of model keys on different servers, each with what made it one."""
    entries = {m.key: m for m in report.models if m.metadata.get("server")}
    groups: list[tuple[list[str], str]] = []
    taken: set[str] = set()
    for keys in report.run.settings.get("lm_same") or []:
        members = [k for k in keys if k in entries and k not in taken]
        if len(members) > 1:
            groups.append((members, "--lm-same"))
            taken.update(members)
    for reason, key_of in (
        ("digest", lambda e: e.metadata.get("digest") or None),
        ("architecture, parameters, quantization", _facts),
    ):
        found: dict[Any, list[str]] = {}
        for key, entry in entries.items():
            value = key_of(entry)
            if key not in taken and value is not None:
                found.setdefault(value, []).append(key)
        for members in found.values():
            servers = {entries[k].metadata.get("server") for k in members}
            if len(members) > 1 and len(servers) > 1:
                groups.append((members, reason))
                taken.update(members)
    return groups


def _item_key(result: ResultEntry) -> str:
    return _MODEL_PART.sub("", result.nodeid)


def _side(results: Sequence[ResultEntry]) -> JSON:
    """One member's figures over ``results`` (one item, or its headline items)."""
    speed = [r for r in results if r.kind == "throughput"]
    values = pooled(speed, "decode_tps")
    low, high = median_ci95(values)
    ttft = pooled(speed, "ttft_s")
    prefill = pooled(speed, "prefill_tps")
    joules = [as_number(r.hardware.get("joules_per_token")) for r in results]
    vram = [_peak_vram(r) for r in results]
    quality = [as_number(r.metrics.get("quality_score")) for r in results]
    return {
        "decode_tps": percentile(values, 50),
        "decode_tps_ci95_low": low,
        "decode_tps_ci95_high": high,
        "decode_tps_n": len(values),
        "decode_tps_values": values,
        "ttft_s_p50": percentile(ttft, 50),
        "prefill_tps": percentile(prefill, 50),
        "joules_per_token": _mean(joules),
        "peak_vram_gb": max((v for v in vram if v is not None), default=None),
        "quality_score": _mean(quality),
    }


def _quality(results: Sequence[ResultEntry]) -> JSON:
    """The member's mean quality overall and per capability, over all its items."""
    per_capability: dict[str, list[float | None]] = {}
    for result in results:
        if result.kind != "throughput":
            score = as_number(result.metrics.get("quality_score"))
            per_capability.setdefault(result.capability, []).append(score)
    everything = [v for values in per_capability.values() for v in values]
    return {
        "quality_score": _mean(everything),
        "quality_by_capability": {cap: _mean(v) for cap, v in per_capability.items()},
        "joules_per_token": _mean([as_number(r.hardware.get("joules_per_token")) for r in results]),
        "peak_vram_gb": max((v for v in map(_peak_vram, results) if v is not None), default=None),
    }


def _peak_vram(result: ResultEntry) -> float | None:
    stats: Any = result.hardware.get("vram_gb")
    return as_number(stats.get("max")) if isinstance(stats, Mapping) else None


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _verdicts(sides: dict[str, JSON], alpha: float) -> str | None:
    """Mark the fastest member; compare each other one with it. The fastest's key."""
    speeds = {k: s["decode_tps"] for k, s in sides.items() if s["decode_tps"] is not None}
    if len(speeds) < 2:
        return None
    fastest = max(speeds, key=lambda k: speeds[k])
    best = sides[fastest]["decode_tps_values"]
    for key, side in sides.items():
        side["fastest"] = key == fastest
        if key == fastest or key not in speeds:
            continue
        values = side["decode_tps_values"]
        side["vs_fastest_pct"] = (speeds[key] - speeds[fastest]) / speeds[fastest] * 100.0
        smallest = 1.0 / math.comb(len(values) + len(best), len(values)) if values else 1.0
        p_value = mann_whitney_p(values, best, "less")
        side["p_value"] = p_value
        if smallest > alpha:
            side["verdict"] = "untestable"  # too few requests to ever reach alpha
        elif p_value is not None and p_value <= alpha:
            side["verdict"] = "slower"
        else:
            side["verdict"] = "no significant difference"
    return fastest


def compare_servers(report: Report) -> list[JSON]:
    """The ``comparisons`` of the JSON summary: one per group of the same weights."""
    alpha = as_number(report.run.settings.get("lm_alpha")) or 0.05
    by_model: dict[str, list[ResultEntry]] = {}
    for result in report.results:
        by_model.setdefault(result.model, []).append(result)
    out = []
    for members, reason in same_weights(report):
        items = []
        keys = sorted({_item_key(r) for m in members for r in by_model.get(m, [])})
        for item in keys:
            sides = {
                m: _side([r for r in by_model.get(m, []) if _item_key(r) == item]) for m in members
            }
            fastest = _verdicts(sides, alpha)
            items.append({"item": item, "fastest": fastest, "models": sides})
        overall = {m: _side(single_stream(by_model.get(m, []))) for m in members}
        published = (report.summary or {}).get("models", {})
        for m in members:
            overall[m].update(_quality(by_model.get(m, [])))
            if "published" in published.get(m, {}):
                overall[m]["published"] = published[m]["published"]
        fastest = _verdicts(overall, alpha)
        out.append(
            {
                "models": members,
                "same_weights_by": reason,
                "alpha": alpha,
                "overall": {"fastest": fastest, "models": overall},
                "items": items,
            }
        )
    return out


def _cell(side: Mapping[str, Any]) -> str:
    text = format_number(side.get("decode_tps"))
    low, high = side.get("decode_tps_ci95_low"), side.get("decode_tps_ci95_high")
    if low is not None and high is not None:
        text += f" [{format_number(low)}–{format_number(high)}]"
    if side.get("fastest"):
        return text + " fastest"
    verdict = side.get("verdict")
    if verdict is None:
        return text
    pct = side.get("vs_fastest_pct")
    p_value = side.get("p_value")
    shown_p = "" if p_value is None else f", p={p_value:.3g}"
    return f"{text} ({pct:+.0f} %: {verdict}{shown_p})"


def comparison_lines(comparisons: Sequence[Mapping[str, Any]]) -> list[str]:
    """Terminal lines: per group, decode tok/s per item and overall, then TTFT overall."""
    lines: list[str] = []
    for group in comparisons:
        members = group["models"]
        lines.append(f"same weights ({group['same_weights_by']}): {' = '.join(members)}")
        rows = [*group["items"], {"item": "overall", **group["overall"]}]
        for row in rows:
            sides = row["models"]
            if all(sides[m].get("decode_tps") is None for m in members):
                continue
            cells = " · ".join(f"{m} {_cell(sides[m])}" for m in members)
            lines.append(f"  {row['item']}: decode tok/s {cells}")
        ttft = " · ".join(
            f"{m} {format_ms(group['overall']['models'][m].get('ttft_s_p50'))}" for m in members
        )
        lines.append(f"  overall: TTFT p50 {ttft}")
        for m in members:
            shown = versus_line(group["overall"]["models"][m].get("published"))
            if shown is not None:
                lines.append(f"  {m}: {shown.strip()}")
    return lines


def comparison_tables(comparisons: Sequence[Mapping[str, Any]]) -> list[JSON]:
    """For the HTML report: per group, its members and one row of cells per item."""
    tables = []
    for group in comparisons:
        members = group["models"]
        rows = []
        for row in [*group["items"], {"item": "overall", **group["overall"]}]:
            sides = row["models"]
            decode = [_cell(sides[m]) for m in members]
            ttft = [format_ms(sides[m].get("ttft_s_p50")) for m in members]
            rows.append(
                {
                    "item": row["item"],
                    "decode": decode,
                    "ttft": ttft,
                    "prefill": [format_number(sides[m].get("prefill_tps")) for m in members],
                    "jpt": [format_number(sides[m].get("joules_per_token")) for m in members],
                    "vram": [format_number(sides[m].get("peak_vram_gb")) for m in members],
                    "quality": [format_number(sides[m].get("quality_score")) for m in members],
                }
            )
        tables.append({"members": members, "by": group["same_weights_by"], "rows": rows})
    return tables
