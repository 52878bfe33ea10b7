"""Flat result rows: the query columns, metrics and flags, without the large blobs.

``lmbench export`` writes them as CSV or JSON; the dashboard's results endpoint
answers with them. Prompt, output and timing blobs stay in the reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Select, Table, select

from pytest_lmbench.storage import models as m

__all__ = ["EXPORT_COLUMNS", "export_query", "export_row"]

_runs = cast(Table, m.Run.__table__)
_results = cast(Table, m.Result.__table__)
_SKIP = {"id", "prompt", "output", "reference", "timing", "server_stats", "hardware"}
EXPORT_COLUMNS = ("run_started_at", *(c.name for c in _results.c if c.name not in _SKIP))


def export_query(run_id: str | None = None, model_key: str | None = None) -> Select[Any]:
    """Oldest run first, results in stored order; optionally one run's or one model's."""
    columns = [c for c in _results.c if c.name not in _SKIP]
    query = (
        select(_runs.c.started_at.label("run_started_at"), *columns)
        .join(_runs, _runs.c.id == _results.c.run_id)
        .order_by(_runs.c.started_at, _results.c.id)
    )
    if run_id is not None:
        query = query.where(_results.c.run_id == run_id)
    if model_key is not None:
        query = query.where(_results.c.model_key == model_key)
    return query


def export_row(row: Mapping[Any, Any]) -> m.Row:
    out = dict(row)
    for key in ("run_started_at", "finished_at"):
        out[key] = m.format_time(out[key])
    return out
