"""Replace a model row and insert a result row once, on any SQL database.

SQLite and PostgreSQL do each in one statement (``ON CONFLICT``). Other
dialects have no portable upsert, so their rows are looked up first in the
same transaction; that is safe because only one process (the controller)
writes a run's rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from pytest_lmbench.storage import models as m
from pytest_lmbench.storage.url import StoreError

__all__ = ["NATIVE_UPSERT", "RowWriter"]

NATIVE_UPSERT = {"sqlite": sqlite, "postgresql": postgresql}
MODEL_KEY = ("run_id", "key")
RESULT_KEY = ("run_id", "nodeid")

models_t = cast(Table, m.Model.__table__)
results_t = cast(Table, m.Result.__table__)


class RowWriter:
    """The two writes whose conflict handling differs between databases."""

    def __init__(self, dialect_name: str) -> None:
        # Built once: rows go in as execute() parameters, which keeps per-result
        # overhead to the SQLAlchemy cache lookup instead of a new statement.
        dialect = NATIVE_UPSERT.get(dialect_name)
        self.native = dialect is not None
        if dialect is None:
            return
        upsert = dialect.insert(models_t)
        kept = {"id", *MODEL_KEY}
        changes = {c.name: upsert.excluded[c.name] for c in models_t.c if c.name not in kept}
        self._upsert_model = upsert.on_conflict_do_update(index_elements=MODEL_KEY, set_=changes)
        self._insert_result = (
            dialect.insert(results_t)
            .on_conflict_do_nothing(index_elements=RESULT_KEY)
            .returning(results_t.c.id)
        )

    def put_model(self, connection: Connection, row: Mapping[str, Any]) -> None:
        """Insert the model row, or replace the one with the same (run_id, key)."""
        if self.native:
            connection.execute(self._upsert_model, row)
            return
        existing = _find(connection, models_t, MODEL_KEY, row)
        if existing is None:
            connection.execute(insert(models_t), row)
            return
        changes = {k: v for k, v in row.items() if k not in ("id", *MODEL_KEY)}
        connection.execute(models_t.update().where(models_t.c.id == existing).values(changes))

    def put_result(self, connection: Connection, row: Mapping[str, Any]) -> int | None:
        """The new result's id; None when (run_id, nodeid) is already stored."""
        if self.native:
            return cast(int | None, connection.execute(self._insert_result, row).scalar())
        if _find(connection, results_t, RESULT_KEY, row) is not None:
            return None
        key = connection.execute(insert(results_t), row).inserted_primary_key
        if key is None:
            raise StoreError("the database returned no id for a new result row")
        return cast(int, key[0])


def _find(
    connection: Connection, table: Table, key: tuple[str, ...], row: Mapping[str, Any]
) -> int | None:
    match = [table.c[name] == row[name] for name in key]
    return cast(int | None, connection.execute(select(table.c.id).where(*match)).scalar())
