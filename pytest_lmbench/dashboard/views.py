"""What the API answers and the pages show, read from the store.

Everything comes from the store, never from a session's memory or logs, so a
run started on another machine that writes to the same database shows too.
Counts come from the stored results (every run has them); the run row's live
progress adds how many items were selected and which one is running.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, Field

from pytest_lmbench import vocabulary
from pytest_lmbench.config.table import SPEC_BY_NAME
from pytest_lmbench.gates.baseline import compare_item, item_key, item_label, observe
from pytest_lmbench.records import JSON, HistoryPoint, ModelEntry, Report, RunInfo
from pytest_lmbench.reporting import leaderboard as board
from pytest_lmbench.storage import overview
from pytest_lmbench.storage.progress import RunProgress
from pytest_lmbench.storage.store import Store

__all__ = [
    "CompareRow",
    "Comparison",
    "Leader",
    "ModelHistory",
    "Progress",
    "RunDetail",
    "RunSummary",
    "compare_runs",
    "leaderboard",
    "list_runs",
    "model_history",
    "run_detail",
    "runs_state",
    "runs_token",
    "summaries",
]

MAX_REGRESSION_PCT: float = SPEC_BY_NAME["lm_max_regression"].default
ALPHA: float = SPEC_BY_NAME["lm_alpha"].default


class Progress(BaseModel):
    items_selected: int | None  # None: the session did not know (under xdist)
    items_done: int
    percent: float | None
    current_item: str | None
    current_model: str | None
    eta_s: float | None
    updated_at: str | None


class RunSummary(BaseModel):
    id: str
    status: str
    started_at: str
    finished_at: str | None
    duration_s: float | None
    backend: str
    base_url: str
    host: str | None
    models: list[str]
    results: int
    passed: int
    failed: int
    errors: int
    skipped: int
    progress: Progress


class RunDetail(RunSummary):
    fingerprint: str | None
    settings: JSON
    environment: JSON
    model_entries: list[ModelEntry]


class Comparison(BaseModel):
    metric: str
    a: float
    b: float
    delta_pct: float | None
    p_value: float | None
    n_a: int
    n_b: int
    verdict: Literal["regression", "improvement", "unchanged", "untestable"]


class CompareRow(BaseModel):
    item: str
    kind: str
    comparisons: list[Comparison]


class Leader(BaseModel):
    model: str
    run_id: str
    started_at: str | None
    decode_tps_median: float | None
    quality_score_mean: float | None
    # The --lm-rank-by figures of that run (reporting.leaderboard): None, not measured.
    figures: dict[str, float | None] = Field(default_factory=dict)


# The same orders as --lm-rank-by, with the report's own columns.
RANK_KEYS = vocabulary.RANK_KEYS


class ModelHistory(BaseModel):
    model: str
    points: list[HistoryPoint]
    fingerprints: list[str | None]  # one per point: where it changed, something else did
    figures: list[overview.RunFigures]  # one per point: interval, TTFT, J/token, quality


def _parse(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso) if iso else None


def _progress(run: RunInfo, live: RunProgress, done: int, now: datetime) -> Progress:
    selected = live.items_selected
    # An interrupted run stays where it stopped: done out of selected, whatever its status.
    percent = min(100.0, done * 100.0 / selected) if selected else None
    eta = None
    started = _parse(run.started_at)
    if run.status == "running" and selected and done and started is not None:
        elapsed_s = (now - started).total_seconds()
        eta = max(0.0, elapsed_s / done * (selected - done))
    running = run.status == "running"
    at = live.progress_at.isoformat() if live.progress_at else None
    return Progress(
        items_selected=selected,
        items_done=done,
        percent=percent,
        current_item=live.current_item if running else None,
        current_model=live.current_model if running else None,
        eta_s=eta,
        updated_at=at,
    )


def summaries(store: Store, runs: list[RunInfo]) -> list[RunSummary]:
    ids = [run.id for run in runs]
    stats = store.run_stats(ids)
    live = store.run_progress(ids)
    with store.reading("listing models") as connection:
        models = overview.run_models(connection, ids)
    now = datetime.now(timezone.utc)
    out = []
    for run in runs:
        counts = stats[run.id]
        started, finished = _parse(run.started_at), _parse(run.finished_at)
        end = finished or (now if run.status == "running" else None)
        out.append(
            RunSummary(
                id=run.id,
                status=run.status,
                started_at=run.started_at,
                finished_at=run.finished_at,
                duration_s=(end - started).total_seconds() if end and started else None,
                backend=run.backend,
                base_url=run.base_url,
                host=run.environment.get("hostname"),
                models=models.get(run.id, []),
                results=counts["results"],
                passed=counts["passed"],
                failed=counts["failed"],
                errors=counts["error"],
                skipped=counts["skipped"],
                progress=_progress(run, live.get(run.id, RunProgress()), counts["results"], now),
            )
        )
    return out


def list_runs(
    store: Store,
    *,
    status: str | None = None,
    model: str | None = None,
    host: str | None = None,
    limit: int = 200,
) -> list[RunSummary]:
    with store.reading("listing runs") as connection:
        runs = overview.select_runs(connection, status=status, model=model, limit=limit)
    if host:
        runs = [run for run in runs if run.environment.get("hostname") == host]
    return summaries(store, runs)


def runs_state(store: Store) -> tuple[int, int]:
    """(runs, running runs) in the store: what the runs page reloads on."""
    with store.reading("watching runs") as connection:
        return overview.runs_state(connection)


def runs_token(state: tuple[int, int]) -> str:
    """A short, opaque mark of one ``runs_state``, for the page to hand back as ``since``."""
    return hashlib.sha256(repr(state).encode()).hexdigest()[:12]


def run_detail(store: Store, report: Report) -> RunDetail:
    summary = summaries(store, [report.run])[0]
    return RunDetail(
        **summary.model_dump(),
        fingerprint=report.run.fingerprint,
        settings=report.run.settings,
        environment=report.run.environment,
        model_entries=report.models,
    )


def compare_runs(a: Report, b: Report) -> list[CompareRow]:
    """Items in both runs, with the ``--lm-baseline`` test (A is the baseline)."""
    before = {item_key(r): r for r in a.results if r.outcome in ("passed", "failed")}
    rows = []
    for record in b.results:
        earlier = before.get(item_key(record))
        if earlier is None or record.outcome not in ("passed", "failed"):
            continue
        found = compare_item(observe(record), observe(earlier), MAX_REGRESSION_PCT, ALPHA)
        comparisons = [
            Comparison(
                metric=c.metric.name,
                a=c.baseline,
                b=c.current,
                delta_pct=c.delta_pct,
                p_value=c.p_value,
                n_a=c.n_baseline,
                n_b=c.n_current,
                verdict=c.verdict,
            )
            for c in found
        ]
        rows.append(CompareRow(item=item_label(record), kind=record.kind, comparisons=comparisons))
    return rows


def model_history(store: Store, model: str, limit: int = 200) -> ModelHistory:
    """Every finished run of ``model``, oldest first, with the model's fingerprint in each."""
    points = store.history(model, None, limit=limit)
    ids = [p["run_id"] for p in points]
    with store.reading("reading fingerprints") as connection:
        prints = overview.model_fingerprints(connection, model)
        figures = overview.model_run_figures(connection, model, ids)
    return ModelHistory(
        model=model,
        points=points,
        fingerprints=[prints.get(i) for i in ids],
        figures=[figures[i] for i in ids],
    )


def leaderboard_columns(leaders: list[Leader]) -> list[tuple[str, str]]:
    """(key, label) of each column the report's leaderboard shows, quality per capability
    where some model has it."""
    present = {key for leader in leaders for key in leader.figures}
    quality = [k for k in RANK_KEYS if k.startswith("quality_") and k in present]
    return [(c.key, c.label) for c in board.COLUMNS] + [(k, k) for k in quality]


def leaderboard(store: Store, rank_by: str = "decode_tps") -> list[Leader]:
    """Each model's latest completed run, best first by ``rank_by`` (unmeasured last),
    with the figures the report's leaderboard shows for it."""
    with store.reading("listing models") as connection:
        keys = overview.model_keys(connection)
    leaders = []
    reports: dict[str, Report] = {}
    for key in keys:
        done = [p for p in store.history(key, None, limit=10) if p.get("status") == "completed"]
        if not done:
            continue
        point = done[-1]
        run_id = point["run_id"]
        if run_id not in reports:
            reports[run_id] = store.load_report(run_id)
        leaders.append(
            Leader(
                model=key,
                run_id=run_id,
                started_at=point["started_at"],
                decode_tps_median=point["decode_tps_median"],
                quality_score_mean=point["quality_score_mean"],
                figures=board.rows(reports[run_id]).get(key, {}),
            )
        )
    measured = [x for x in leaders if x.figures.get(rank_by) is not None]
    measured.sort(key=lambda x: x.figures[rank_by] or 0.0, reverse=board.higher_is_better(rank_by))
    return measured + [x for x in leaders if x.figures.get(rank_by) is None]
