"""The JSON report, ``schema_version: 1``. Add fields; never rename.

These models are also what the store persists and what reports render, so
every producer and consumer agrees on one shape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

RunStatus = Literal["running", "completed", "interrupted", "failed"]
Outcome = Literal["passed", "failed", "error", "skipped"]
ResultKind = Literal["capability", "throughput", "custom"]


class LoadInfo(BaseModel):
    requested: dict[str, Any] = Field(default_factory=dict)
    applied: dict[str, Any] = Field(default_factory=dict)
    not_applied: dict[str, str] = Field(default_factory=dict)
    load_time_s: float | None = None  # server-reported
    client_load_time_s: float | None = None  # our wall clock


class RunInfo(BaseModel):
    id: str
    started_at: str  # ISO 8601 UTC
    finished_at: str | None = None
    status: RunStatus = "running"
    backend: str
    base_url: str
    plugin_version: str
    settings: dict[str, Any] = Field(default_factory=dict)  # never holds the token
    environment: dict[str, Any] = Field(default_factory=dict)
    fingerprint: str | None = None
    calibration: dict[str, Any] | None = None


class ModelEntry(BaseModel):
    key: str
    status: Literal["ok", "load_failed", "not_loaded"] = "not_loaded"
    error: str | None = None
    load: LoadInfo = Field(default_factory=LoadInfo)
    metadata: dict[str, Any] = Field(default_factory=dict)


class ResultEntry(BaseModel):
    nodeid: str
    model: str
    kind: ResultKind
    capability: str
    case_id: str
    task: str | None = None
    outcome: Outcome
    error: str | None = None
    prompt: str | None = None
    output: str | None = None
    reference: Any = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    timing: dict[str, Any] = Field(default_factory=dict)
    server_stats: dict[str, Any] = Field(default_factory=dict)
    hardware: dict[str, Any] = Field(default_factory=dict)
    flags: dict[str, Any] = Field(default_factory=dict)
    duration_s: float | None = None
    finished_at: str | None = None


class Report(BaseModel):
    schema_version: Literal[1] = 1
    run: RunInfo
    models: list[ModelEntry] = Field(default_factory=list)
    results: list[ResultEntry] = Field(default_factory=list)
    summary: dict[str, Any] = Field(default_factory=dict)


# -- reading timing figures ------------------------------------------------------------
# A timing entry is a runner's summary ({"median": ..., "p95": ..., "n": ...}) or, for
# one request, a plain number: its own median (or mean, or value), with no spread.
_CENTRAL_STATS = frozenset({"median", "p50", "mean", "value"})


def finite(value: Any) -> float | None:
    """A finite float; None for text, bools, containers, NaN and missing values."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def timing_figure(timing: Mapping[str, Any], key: str, stat: str = "median") -> float | None:
    """``timing[key]``'s ``stat``: from a summary, or a plain value for a central stat.

    A plain value has no spread: asking it for an interval or a tail percentile
    gives None, never the value itself.
    """
    value = timing.get(key)
    if isinstance(value, Mapping):
        return finite(value.get(stat))
    return finite(value) if stat in _CENTRAL_STATS else None


def token_total(timing: Mapping[str, Any], key: str) -> int | None:
    """Tokens over all of an item's measured requests (``samples``), else its plain value.

    With ``--lm-repeat 3`` a capability item's ``timing[key]`` is the median
    request's count; the total is the sum over its samples, in the store, the
    CSV and wherever else an item's token count is shown.
    """
    samples = timing.get("samples")
    if isinstance(samples, list):
        present = [
            v for s in samples if isinstance(s, Mapping) and (v := finite(s.get(key))) is not None
        ]
        if present:
            return round(sum(present))
    single = finite(timing.get(key))
    return None if single is None else round(single)
