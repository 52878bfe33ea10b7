"""The model's own fingerprint column: written on save, backfilled by revision 0002,
and the lookup of the last completed run behind ``--lm-baseline last``."""

from __future__ import annotations

from typing import Any, cast

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, Table, column, insert, inspect, select, table

from pytest_lmbench.gates.keeper import BaselineSource
from pytest_lmbench.storage import models as m
from pytest_lmbench.storage.migrations import alembic_config, head_revision
from pytest_lmbench.storage.model_runs import LastRuns
from pytest_lmbench.storage.store import Store, migrate, open_store
from pytest_lmbench.storage.url import check_url, create_store_engine

MODEL = "qwen3-4b"
FP = "0123456789abcdef"
models_t = cast(Table, m.Model.__table__)
runs_t = cast(Table, m.Run.__table__)

_ABSENT = object()  # metadata without a "fingerprint" key
# metadata["fingerprint"] as found in a 0001 database -> the column after 0002.
OLD_ROWS: dict[str, tuple[Any, str | None]] = {
    "has-fp": (FP, FP),
    "no-fp": (_ABSENT, None),
    "null-fp": (None, None),
    "number-fp": (123, None),  # not text: unknown, never "123"
    "long-fp": ("f" * 65, None),  # does not fit: unknown, never cut short
}


def _stored(engine: Engine) -> dict[str, str | None]:
    """Model key -> its fingerprint column."""
    with engine.connect() as connection:
        return dict(connection.execute(select(models_t.c.key, models_t.c.fingerprint)).all())


def _fingerprints(url: str) -> dict[str, str | None]:
    engine = create_store_engine(check_url(url))
    try:
        return _stored(engine)
    finally:
        engine.dispose()


def _fill_0001(url: str, make: Any) -> None:
    """A run and model rows written as pytest-lmbench wrote them at revision 0001."""
    migrate(url, "0001")
    rows = []
    for key, (fingerprint, _) in OLD_ROWS.items():
        row = m.model_row("old", make.model(key).model_dump(mode="json"))
        if fingerprint is not _ABSENT:
            row["metadata"]["fingerprint"] = fingerprint
        del row["fingerprint"]  # no such column yet
        rows.append(row)
    # The 0001 table: the columns of today's models but the fingerprint, same types.
    models_0001 = table("models", *(column(name, models_t.c[name].type) for name in rows[0]))
    run = m.run_row(make.run("old", status="completed").model_dump(mode="json"))
    engine = create_store_engine(check_url(url))
    try:
        with engine.begin() as connection:
            connection.execute(insert(runs_t), [run])
            connection.execute(insert(models_0001), rows)
    finally:
        engine.dispose()


def test_a_0001_database_is_upgraded_and_backfilled(store_url: str, make: Any) -> None:
    _fill_0001(store_url, make)

    with open_store(store_url) as store:
        assert store.schema_revision() == head_revision()
        with store._engine.connect() as connection:
            indexes = inspect(connection).get_indexes("models")
        assert {"name": "ix_models_key_fingerprint", "column_names": ["key", "fingerprint"]} in [
            {"name": i["name"], "column_names": i["column_names"]} for i in indexes
        ]
        assert store.last_completed_runs("has-fp", FP) == LastRuns(same="old", newest="old")
    assert _fingerprints(store_url) == {key: after for key, (_, after) in OLD_ROWS.items()}


def test_downgrade_drops_the_column_and_upgrade_backfills_again(store_url: str, make: Any) -> None:
    _fill_0001(store_url, make)
    open_store(store_url).close()
    engine = create_store_engine(check_url(store_url))
    try:
        with engine.connect() as connection:
            connection.execution_options(lmbench_write=True)
            with connection.begin():
                command.downgrade(alembic_config(connection=connection), "0001")
            columns = {c["name"] for c in inspect(connection).get_columns("models")}
            indexes = {i["name"] for i in inspect(connection).get_indexes("models")}
    finally:
        engine.dispose()
    assert "fingerprint" not in columns
    assert "ix_models_key_fingerprint" not in indexes

    with open_store(store_url) as store:
        assert store.schema_revision() == head_revision()
        # The rows survived the table rebuild (SQLite) and are filled in again.
        assert store.load_report("old").models[0].metadata["fingerprint"] == FP
        with store._engine.connect() as connection:
            # ... and the rebuilt table kept its keys and constraints.
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, m.Base.metadata) == []
    assert _fingerprints(store_url)["has-fp"] == FP


def test_save_model_writes_the_column(store: Store, make: Any) -> None:
    store.begin_run(make.run("r"))
    store.save_model("r", make.model(MODEL))
    store.save_model("r", make.model("long", metadata={"fingerprint": "f" * 65}))
    assert _stored(store._engine) == {MODEL: None, "long": None}

    # The fingerprint is known once the model has loaded: saving again fills it in.
    loaded = make.model(MODEL)
    loaded.metadata["fingerprint"] = FP
    store.save_model("r", loaded)
    assert _stored(store._engine)[MODEL] == FP


def _run_with(
    store: Store, make: Any, run_id: str, offset_s: float, status: str, **prints: str | None
) -> None:
    """A run holding one model per keyword: model key -> its fingerprint."""
    store.begin_run(make.run(run_id, offset_s, fingerprint="run-level"))
    for key, fingerprint in prints.items():
        model = make.model(key)
        if fingerprint is not None:
            model.metadata["fingerprint"] = fingerprint
        store.save_model(run_id, model)
    store.finish_run(run_id, status, make.iso(offset_s + 60))  # type: ignore[arg-type]


@pytest.fixture
def timeline(store: Store, make: Any) -> Store:
    """Oldest first; keyword names are model keys (``qwen`` and ``gemma``)."""
    _run_with(store, make, "old-a", 0, "completed", qwen="fp-a", gemma="fp-g")
    _run_with(store, make, "no-fp", 50, "completed", qwen=None)
    _run_with(store, make, "mid-b", 100, "completed", qwen="fp-b", gemma="fp-g")
    # Newer, but not completed: never the last run.
    _run_with(store, make, "failed-a", 200, "failed", qwen="fp-a")
    _run_with(store, make, "stopped-a", 250, "interrupted", qwen="fp-a")
    store.begin_run(make.run("running-a", 300))
    store.save_model("running-a", make.model("qwen", metadata={"fingerprint": "fp-a"}))
    # Newest completed, without qwen.
    _run_with(store, make, "gemma-only", 400, "completed", gemma="fp-a")
    return store


def test_last_completed_runs(timeline: Store) -> None:
    assert timeline.last_completed_runs("qwen", "fp-a") == LastRuns("old-a", "mid-b")
    assert timeline.last_completed_runs("qwen", "fp-b") == LastRuns("mid-b", "mid-b")
    assert timeline.last_completed_runs("qwen", "fp-zzz") == LastRuns(None, "mid-b")
    # Unknown matches unknown, as a baseline comparison treats two unknown fingerprints.
    assert timeline.last_completed_runs("qwen", None) == LastRuns("no-fp", "mid-b")
    # The model's own fingerprint, not the run's nor another model's.
    assert timeline.last_completed_runs("qwen", "run-level") == LastRuns(None, "mid-b")
    assert timeline.last_completed_runs("gemma", "fp-a") == LastRuns("gemma-only", "gemma-only")
    assert timeline.last_completed_runs("gemma", "fp-g") == LastRuns("mid-b", "gemma-only")
    assert timeline.last_completed_runs("nobody", None) == LastRuns(None, None)


def test_last_completed_runs_ties_go_to_the_lower_id(store: Store, make: Any) -> None:
    _run_with(store, make, "tie-b", 0, "completed", qwen="fp-a")
    _run_with(store, make, "tie-a", 0, "completed", qwen="fp-a")
    assert store.last_completed_runs("qwen", "fp-a") == LastRuns("tie-a", "tie-a")
    assert [r.id for r in store.list_runs()] == ["tie-a", "tie-b"]  # the order runs shows


def test_baseline_last_picks_the_run_with_the_same_fingerprint(timeline: Store) -> None:
    source = BaselineSource("last", timeline, any_env=False)

    found, name = source.for_model("qwen", "fp-a")
    assert found is not None
    assert (found.run_id, name) == ("old-a", "last (run old-a)")
    assert source.refusal(found, name, "qwen", "fp-a") is None

    # No run with this fingerprint: the newest holding the model, refused by name.
    found, name = source.for_model("qwen", "fp-new")
    assert found is not None
    assert (found.run_id, name) == ("mid-b", "last (run mid-b)")
    assert source.refusal(found, name, "qwen", "fp-new") == (
        "baseline last (run mid-b) was measured on fingerprint fp-b, this run is fp-new; "
        "refusing to compare (pass --lm-baseline-any-env to compare anyway)"
    )
    assert source.for_model("nobody", "fp-a") == (None, "last")
