"""Reads for the dashboard (``lmbench serve``): runs with their progress, a model's runs.

Each function takes the connection of one ``Store.reading`` transaction.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, Table, exists, func, select

from pytest_lmbench.records import RunInfo
from pytest_lmbench.storage import models as m

__all__ = [
    "RunFigures",
    "model_fingerprints",
    "model_keys",
    "model_run_figures",
    "run_models",
    "runs_state",
    "select_runs",
]

_runs = cast(Table, m.Run.__table__)
_models = cast(Table, m.Model.__table__)
_results = cast(Table, m.Result.__table__)
_NO_DATA = ("skipped", "error")  # as in the store: they measured nothing


def select_runs(
    connection: Connection,
    *,
    status: str | None = None,
    model: str | None = None,
    ids: Sequence[str] | None = None,
    limit: int = 200,
) -> list[RunInfo]:
    """The newest runs first, optionally with one status, holding one model, or by id."""
    query = select(_runs).order_by(_runs.c.started_at.desc(), _runs.c.id).limit(limit)
    if ids is not None:
        query = query.where(_runs.c.id.in_(ids))
    if status:
        query = query.where(_runs.c.status == status)
    if model:
        query = query.where(exists().where(_models.c.run_id == _runs.c.id, _models.c.key == model))
    rows = connection.execute(query).mappings().all()
    return [RunInfo.model_validate(m.run_entry(row)) for row in rows]


def runs_state(connection: Connection) -> tuple[int, int]:
    """(runs, running runs): either changes when a run starts or ends, on any machine."""
    query = select(func.count(), func.count().filter(_runs.c.status == "running"))
    total, running = connection.execute(query.select_from(_runs)).one()
    return int(total), int(running)


def run_models(connection: Connection, run_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each run's model keys, in the order the session stored them."""
    found: dict[str, list[str]] = defaultdict(list)
    query = (
        select(_models.c.run_id, _models.c.key)
        .where(_models.c.run_id.in_(run_ids))
        .order_by(_models.c.id)
    )
    for run_id, key in connection.execute(query):
        found[run_id].append(key)
    return dict(found)


def model_fingerprints(connection: Connection, model_key: str) -> dict[str, str | None]:
    """Per run holding ``model_key``: that model's own fingerprint there."""
    query = select(_models.c.run_id, _models.c.fingerprint).where(_models.c.key == model_key)
    return {row.run_id: row.fingerprint for row in connection.execute(query)}


def model_keys(connection: Connection) -> list[str]:
    """Every model key the store holds, sorted."""
    query = select(_models.c.key).distinct().order_by(_models.c.key)
    return list(connection.execute(query).scalars())


@dataclass
class RunFigures:
    """One run of one model: its single-stream speed figures and quality per capability.

    Speed figures are medians over the run's throughput items at their lowest
    concurrency (as the history headline); None where nothing was measured.
    """

    decode_tps_median: float | None = None
    decode_tps_ci95_low: float | None = None
    decode_tps_ci95_high: float | None = None
    ttft_s_median: float | None = None
    joules_per_token: float | None = None
    quality: dict[str, float] = field(default_factory=dict)  # capability -> mean score


def _median(values: Sequence[Any]) -> float | None:
    found = [v for v in values if v is not None]
    return statistics.median(found) if found else None


def model_run_figures(
    connection: Connection, model_key: str, run_ids: Sequence[str]
) -> dict[str, RunFigures]:
    r = _results.c
    where = [r.model_key == model_key, r.outcome.not_in(_NO_DATA), r.run_id.in_(run_ids)]
    speed_q = select(
        r.run_id,
        r.timing["concurrency"],
        r.decode_tps_median,
        r.decode_tps_ci95_low,
        r.decode_tps_ci95_high,
        r.ttft_s_median,
        r.joules_per_token,
    ).where(*where, r.kind == "throughput")
    by_run: dict[str, list[Any]] = defaultdict(list)
    for row in connection.execute(speed_q):
        by_run[row[0]].append(row)
    figures = {run_id: RunFigures() for run_id in run_ids}
    for run_id, rows in by_run.items():
        levels = [m.number(row[1]) for row in rows]
        lowest = min((v for v in levels if v is not None), default=None)
        picked = [row for row, v in zip(rows, levels, strict=True) if v in (lowest, None)]
        decode, low, high, ttft, joules = (_median([row[i] for row in picked]) for i in range(2, 7))
        figures[run_id] = RunFigures(decode, low, high, ttft, joules)
    # Aggregated in SQL: a run holds hundreds of capability results.
    quality_q = (
        select(r.run_id, r.capability, func.avg(r.quality_score))
        .where(*where, r.kind == "capability", r.quality_score.is_not(None))
        .group_by(r.run_id, r.capability)
    )
    for run_id, capability, mean in connection.execute(quality_q):
        figures[run_id].quality[capability] = float(mean)
    return figures
