"""Databases other than SQLite and PostgreSQL: the portable paths, on SQLite."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pytest_lmbench.storage import migrations, writes
from pytest_lmbench.storage.store import open_store
from pytest_lmbench.storage.url import check_url, create_store_engine

from .test_model_fingerprint import OLD_ROWS, _fill_0001, _fingerprints


def _revision_0002() -> ModuleType:
    path = migrations.FOLDER / "versions" / "0002_model_fingerprint.py"
    spec = importlib.util.spec_from_file_location("lmbench_revision_0002", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("dialect", "native"),
    [("sqlite", True), ("postgresql", True), ("mysql", False), ("mssql", False)],
)
def test_only_sqlite_and_postgresql_use_on_conflict(dialect: str, native: bool) -> None:
    assert writes.RowWriter(dialect).native is native


def test_portable_writes_keep_first_result_and_replace_model(
    tmp_path: Path, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writes, "NATIVE_UPSERT", {})
    with open_store(f"sqlite:///{tmp_path / 'r.db'}") as store:
        assert not store._rows.native
        store.begin_run(make.run("run-1"))
        store.save_model("run-1", make.model(status="not_loaded"))
        updated = make.model(metadata={"quantization": "Q8_0"}, status="ok")
        store.save_model("run-1", updated)
        first = make.throughput()
        store.add_result("run-1", first)
        store.add_result("run-1", make.throughput(outcome="failed"))
        report = store.load_report("run-1")
    assert report.models == [updated]
    assert report.results == [first]


def test_revision_0002_backfills_row_by_row_where_json_sql_differs(
    tmp_path: Path, make: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _fill_0001(url, make)
    engine = create_store_engine(check_url(url))
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE models ADD COLUMN fingerprint VARCHAR(64)")
            _revision_0002().backfill_in_python(connection)
    finally:
        engine.dispose()
    # The same rules as the SQL backfill: text that fits, else unknown.
    assert _fingerprints(url) == {key: after for key, (_, after) in OLD_ROWS.items()}
