"""A run's live progress, kept in its ``runs`` row.

The session writes it in the same transaction as each result (no extra commit
per item), so whatever reads the store (``lmbench serve``, on this machine or
another one sharing a PostgreSQL) sees a running session move. Counts of a
finished run come from its results, which every run has, including those
stored before progress was recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import cast

from sqlalchemy import Connection, Table, Update, func, select

from pytest_lmbench.storage import models as m

__all__ = [
    "RunProgress",
    "count_outcomes",
    "progress_update",
    "read_progress",
]

_runs = cast(Table, m.Run.__table__)
_models = cast(Table, m.Model.__table__)
_results = cast(Table, m.Result.__table__)


@dataclass(frozen=True)
class RunProgress:
    """Where a session is: ``items_selected`` is None when it was not known (under xdist)."""

    items_selected: int | None = None
    items_done: int = 0
    items_passed: int = 0
    items_failed: int = 0
    items_errored: int = 0
    items_skipped: int = 0
    current_item: str | None = None
    current_model: str | None = None
    progress_at: datetime | None = None


_FIELDS = tuple(asdict(RunProgress()))


def progress_update(run_id: str, progress: RunProgress) -> Update:
    values = asdict(progress)
    values["progress_at"] = progress.progress_at or datetime.now(timezone.utc)
    return _runs.update().where(_runs.c.id == run_id).values(values)


def read_progress(connection: Connection, run_ids: Sequence[str]) -> dict[str, RunProgress]:
    columns = [_runs.c[name] for name in _FIELDS]
    query = select(_runs.c.id, *columns).where(_runs.c.id.in_(run_ids))
    found: dict[str, RunProgress] = {}
    for row in connection.execute(query).mappings():
        found[row["id"]] = RunProgress(**{name: row[name] for name in _FIELDS})
    return found


def count_outcomes(connection: Connection, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per run: ``models``, ``results`` and one count per outcome."""
    names = ("models", "results", "passed", "failed", "error", "skipped")
    stats = {rid: dict.fromkeys(names, 0) for rid in run_ids}
    model_q = (
        select(_models.c.run_id, func.count())
        .where(_models.c.run_id.in_(run_ids))
        .group_by(_models.c.run_id)
    )
    outcome_q = (
        select(_results.c.run_id, _results.c.outcome, func.count())
        .where(_results.c.run_id.in_(run_ids))
        .group_by(_results.c.run_id, _results.c.outcome)
    )
    for run_id, n in connection.execute(model_q):
        stats[run_id]["models"] = n
    for run_id, outcome, n in connection.execute(outcome_q):
        stats[run_id][outcome] = stats[run_id].get(outcome, 0) + n
        stats[run_id]["results"] += n
    return stats
