"""Reads for the dashboard (``lmbench serve``): runs with their progress, a model's runs.

Each function takes the connection of one ``Store.reading`` transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Connection, Table, exists, select

from pytest_lmbench.records import RunInfo
from pytest_lmbench.storage import models as m

__all__ = ["model_fingerprints", "model_keys", "run_models", "select_runs"]

_runs = cast(Table, m.Run.__table__)
_models = cast(Table, m.Model.__table__)


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
