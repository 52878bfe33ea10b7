"""Runs found through a model's own fingerprint (the ``models.fingerprint`` column).

A run of several models has one fingerprint per model (the run's fingerprint
combines them), so comparing one model matches on its model row, not the run.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import ColumnElement, Connection, Table, exists, select

from pytest_lmbench.records import HistoryPoint
from pytest_lmbench.storage import models as m

__all__ = [
    "LastRuns",
    "history_entry",
    "last_completed_runs",
    "model_fingerprint_is",
    "tested_items",
]

_runs = cast(Table, m.Run.__table__)
_models = cast(Table, m.Model.__table__)
_results = cast(Table, m.Result.__table__)
# Runs whose results count as tested: an interrupted run keeps what it finished.
_RESUMABLE = ("completed", "interrupted", "incomplete")
_MEASURED = ("passed", "failed")
_CHUNK = 500  # nodeids per query, far below any database's parameter limit


class LastRuns(NamedTuple):
    """The newest completed runs holding a model: with the fingerprint asked for, and with any."""

    same: str | None
    newest: str | None


def model_fingerprint_is(model_key: str, fingerprint: str) -> ColumnElement[bool]:
    """For a query over ``runs``: the run holds ``model_key`` with ``fingerprint``."""
    models = _models.c
    return exists().where(
        models.run_id == _runs.c.id, models.key == model_key, models.fingerprint == fingerprint
    )


def last_completed_runs(
    connection: Connection, model_key: str, fingerprint: str | None
) -> LastRuns:
    """Ids of the newest completed runs holding ``model_key`` (None: there is none).

    ``same`` holds it with ``fingerprint`` (None matches a model stored without
    one: two unknown fingerprints count as equal, as in a baseline comparison);
    ``newest`` holds it with any fingerprint, so a caller can name the run it
    will not compare with. Newest is by start time, ties by id, as
    ``Store.list_runs`` orders them.
    """
    models = _models.c

    def newest(*where: ColumnElement[bool]) -> str | None:
        query = (
            select(_runs.c.id)
            .join(_models, models.run_id == _runs.c.id)
            .where(_runs.c.status == "completed", models.key == model_key, *where)
            .order_by(_runs.c.started_at.desc(), _runs.c.id)
            .limit(1)
        )
        found: str | None = connection.execute(query).scalar()
        return found

    # == None renders IS NULL, so an unknown fingerprint finds a model stored without one.
    return LastRuns(same=newest(models.fingerprint == fingerprint), newest=newest())


def history_entry(
    run_id: str,
    started_at: datetime,
    rows: Sequence[Any],
    status: str | None = None,
    more_quality: tuple[int, float | None] | None = None,
) -> HistoryPoint:
    """One run of a model's history: its headline decode speed and mean quality.

    ``more_quality``: (count, sum) of quality scores not among ``rows``.
    """
    # (run_id, kind, decode_tps_median, quality_score, concurrency) per result.
    # Single-stream items only, as the report's headline: a rate or sweep item stores no
    # concurrency, and a concurrent item's speed is not the model's.
    headline = [
        row[2]
        for row in rows
        if row[1] == "throughput" and row[2] is not None and m.number(row[4]) == 1
    ]
    quality = [row[3] for row in rows if row[3] is not None]
    count, total = more_quality or (0, None)
    n = len(quality) + count
    quality.append(total or 0.0)
    entry: HistoryPoint = {
        "run_id": run_id,
        "started_at": m.format_time(started_at),
        "decode_tps_median": statistics.median(headline) if headline else None,
        "quality_score_mean": math.fsum(quality) / n if n else None,
    }
    if status is not None:
        entry["status"] = status
    return entry


def tested_items(connection: Connection, keys: Mapping[str, str]) -> dict[str, str]:
    """``{nodeid: run id}`` of items a finished run measured with the same resume key.

    ``keys`` maps each nodeid to its resume key (``flags.resume_key``); a result
    that errored or was skipped measured nothing, so it never counts.
    """
    found: dict[str, str] = {}
    nodeids = list(keys)
    for start in range(0, len(nodeids), _CHUNK):
        query = (
            select(_results.c.nodeid, _results.c.flags, _results.c.run_id)
            .join(_runs, _runs.c.id == _results.c.run_id)
            .where(
                _results.c.nodeid.in_(nodeids[start : start + _CHUNK]),
                _results.c.outcome.in_(_MEASURED),
                _runs.c.status.in_(_RESUMABLE),
            )
        )
        for nodeid, flags, run_id in connection.execute(query):
            if isinstance(flags, dict) and flags.get("resume_key") == keys[nodeid]:
                found[nodeid] = str(run_id)
    return found
