"""The JSON report, ``schema_version: 1``. Add fields; never rename.

These models are also what the store persists and what reports render, so
every producer and consumer agrees on one shape.
"""

from __future__ import annotations

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
