"""Schema revisions: create, upgrade, refuse a newer database, models == migrations."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from pytest_lmbench.storage.migrations import head_revision
from pytest_lmbench.storage.models import Base
from pytest_lmbench.storage.store import StoreError, migrate, open_store
from pytest_lmbench.storage.url import check_url

TABLES = {"alembic_version", "runs", "models", "results", "measurements", "hardware_samples"}


def _execute(url: str, sql: str) -> None:
    engine = create_engine(check_url(url))
    try:
        with engine.begin() as connection:
            connection.execute(text(sql))
    finally:
        engine.dispose()


def test_empty_database_is_created_at_head(store_url: str) -> None:
    with open_store(store_url) as store:
        assert store.schema_revision() == head_revision()
        with store._engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) == TABLES


def test_older_schema_is_upgraded_and_keeps_its_data(store_url: str, make: Any) -> None:
    migrate(store_url, "0001")
    with open_store(store_url) as store:
        store.begin_run(make.run("kept"))
        store.add_result("kept", make.capability())
    with open_store(store_url) as store:  # reopening at head is a no-op
        assert store.schema_revision() == head_revision()
        assert store.load_report("kept").results == [make.capability()]


def test_newer_schema_is_refused(store_url: str) -> None:
    open_store(store_url).close()
    _execute(store_url, "UPDATE alembic_version SET version_num = '9999_future'")

    with pytest.raises(StoreError) as caught:
        open_store(store_url)
    shown = check_url(store_url).render_as_string(hide_password=True)
    assert str(caught.value) == (
        f"database at {shown} has schema revision 9999_future, newer than this "
        f"pytest-lmbench supports ({head_revision()}); upgrade pytest-lmbench"
    )


def test_models_match_the_migrations(store_url: str) -> None:
    open_store(store_url).close()
    engine = create_engine(check_url(store_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_sqlite_connection_settings(tmp_path: Any) -> None:
    with open_store(f"sqlite:///{tmp_path / 'r.db'}") as store, store._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
