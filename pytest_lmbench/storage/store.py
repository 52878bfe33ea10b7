"""The results store: runs, models and results in SQLite or PostgreSQL.

Every write is its own short transaction, committed at once, so an interrupted
session keeps everything written so far and a report can be rebuilt later
(``lmbench report``). Schema upgrades run on open (Alembic, programmatically).
Failures surface as :class:`StoreError`, one line, never with the URL's password.

A result is stored once per (run, nodeid): adding the same nodeid again in a
run is ignored (the first write wins) so a replayed report cannot duplicate
or silently rewrite it.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar, cast

from alembic.util import CommandError
from sqlalchemy import Connection, Engine, Table, case, func, insert, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from pytest_lmbench.records import (
    JSON,
    History,
    HistoryPoint,
    ModelEntry,
    Report,
    ResultEntry,
    RunInfo,
    RunStatus,
)
from pytest_lmbench.storage import migrations
from pytest_lmbench.storage import models as m
from pytest_lmbench.storage.export import EXPORT_COLUMNS, export_query, export_row
from pytest_lmbench.storage.model_runs import (
    LastRuns,
    history_entry,
    last_completed_runs,
    model_fingerprint_is,
    tested_items,
)
from pytest_lmbench.storage.progress import (
    RunProgress,
    count_outcomes,
    progress_update,
    read_progress,
)
from pytest_lmbench.storage.url import (
    StoreError,
    check_url,
    create_store_engine,
    default_db_url,
    display_url,
    scrub,
)
from pytest_lmbench.storage.writes import RowWriter

__all__ = [
    "EXPORT_COLUMNS",
    "Store",
    "StoreError",
    "default_db_url",
    "migrate",
    "open_store",
]

T = TypeVar("T")
# Retries on top of busy_timeout, for the cases SQLite reports as busy at once.
LOCK_RETRIES = 6
_FINISHED = ("completed", "interrupted", "incomplete")
_NO_DATA = ("skipped", "error")  # outcomes that measured nothing worth comparing to

runs_t = cast(Table, m.Run.__table__)
models_t = cast(Table, m.Model.__table__)
results_t = cast(Table, m.Result.__table__)
measurements_t = cast(Table, m.Measurement.__table__)
hardware_t = cast(Table, m.HardwareSample.__table__)


def _first_line(exc: BaseException) -> str:
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


# --- opening ------------------------------------------------------------------


def _migrate_engine(engine: Engine, url: URL, target: str) -> None:
    shown = display_url(url)
    try:
        with engine.connect() as connection:
            connection.execution_options(lmbench_write=True)
            with connection.begin():
                migrations.upgrade(connection, shown, target)
    except StoreError:
        raise
    except (SQLAlchemyError, CommandError, sqlite3.Error, OSError) as exc:
        message = f"cannot open results database {shown}: {_first_line(exc)}"
        raise StoreError(scrub(message, url)) from exc


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (creating it when empty)."""
    parsed = check_url(url)
    engine = create_store_engine(parsed)
    try:
        _migrate_engine(engine, parsed, revision)
    finally:
        engine.dispose()


def open_store(url: str) -> Store:
    """Open (creating or upgrading) the results database at ``url``."""
    parsed = check_url(url)
    engine = create_store_engine(parsed)
    try:
        _migrate_engine(engine, parsed, "head")
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, parsed)


# --- the store ---------------------------------------------------------------


class Store:
    """Synchronous access to the results database; one instance per process."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self._engine = engine
        self._url = url
        self.url = display_url(url)  # password hidden: safe to print
        self._rows = RowWriter(engine.dialect.name)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._engine.dispose()

    # -- transactions --

    def _error(self, exc: BaseException, doing: str) -> StoreError:
        message = f"results database {self.url}: {doing} failed: {_first_line(exc)}"
        return StoreError(scrub(message, self._url))

    def _is_locked(self, exc: DBAPIError) -> bool:
        text = str(exc.orig).lower()
        return self._engine.dialect.name == "sqlite" and ("locked" in text or "busy" in text)

    def _write(self, doing: str, action: Callable[[Connection], T]) -> T:
        """Run ``action`` in one committed transaction, retrying while SQLite is locked."""
        for attempt in range(LOCK_RETRIES + 1):
            try:
                with self._engine.connect() as connection:
                    connection.execution_options(lmbench_write=True)
                    with connection.begin():
                        return action(connection)
            except DBAPIError as exc:
                if attempt == LOCK_RETRIES or not self._is_locked(exc):
                    raise self._error(exc, doing) from exc
            except SQLAlchemyError as exc:
                raise self._error(exc, doing) from exc
            # Jittered exponential backoff so two waiting writers do not collide again.
            time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def reading(self, doing: str) -> Iterator[Connection]:
        """One read transaction, for the queries of ``storage.overview``."""
        with self._read(doing) as connection:
            yield connection

    @contextmanager
    def _read(self, doing: str) -> Iterator[Connection]:
        try:
            with self._engine.connect() as connection, connection.begin():
                yield connection
        except SQLAlchemyError as exc:
            raise self._error(exc, doing) from exc

    # -- writes --

    def _write_for_run(self, run_id: str, doing: str, action: Callable[[Connection], T]) -> T:
        """``_write`` where the only possible constraint failure is an unknown run."""
        try:
            return self._write(doing, action)
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise StoreError(f"no run {run_id} in {self.url}; begin_run first") from exc
            raise

    def begin_run(self, run: RunInfo) -> None:
        row = _rows(f"run {run.id}", lambda: m.run_row(_dump(run)))

        def write(connection: Connection) -> None:
            connection.execute(insert(runs_t), [row])

        try:
            self._write(f"storing run {run.id}", write)
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise StoreError(f"run {run.id} is already in {self.url}") from exc
            raise

    def save_model(self, run_id: str, model: ModelEntry) -> None:
        """Insert or replace the model entry ``(run_id, model.key)``."""
        row = m.model_row(run_id, _dump(model))
        self._write_for_run(
            run_id, f"storing model {model.key}", lambda c: self._rows.put_model(c, row)
        )

    def add_result(
        self, run_id: str, result: ResultEntry, progress: RunProgress | None = None
    ) -> None:
        """Store one result, and the run's ``progress`` in the same transaction.

        A nodeid already stored for ``run_id`` is left as it is.
        """
        row, measurements, readings = _rows(
            f"result {result.nodeid}", lambda: m.result_row(run_id, _dump(result))
        )
        update = None if progress is None else progress_update(run_id, progress)

        def write(connection: Connection) -> None:
            if update is not None:
                connection.execute(update)
            result_id = self._rows.put_result(connection, row)
            if result_id is None:
                return  # already stored: first write wins
            if measurements:
                batch = [
                    {**r, "idx": i, "result_id": result_id} for i, r in enumerate(measurements)
                ]
                connection.execute(insert(measurements_t), batch)
            if readings:
                batch = [{**r, "result_id": result_id} for r in readings]
                connection.execute(insert(hardware_t), batch)

        self._write_for_run(run_id, f"storing result {result.nodeid}", write)

    def set_progress(self, run_id: str, progress: RunProgress) -> None:
        update = progress_update(run_id, progress)
        self._write(f"storing the progress of run {run_id}", lambda c: c.execute(update))

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        finished_at: str | datetime,
        environment: JSON | None = None,
        fingerprint: str | None = None,
        calibration: JSON | None = None,
    ) -> None:
        """Close a run; ``None`` for environment/fingerprint/calibration keeps the stored value."""
        when = finished_at
        if isinstance(finished_at, str):
            when = _rows(f"run {run_id}", lambda: m.parse_time(finished_at))
        changes: m.Row = {"status": status, "finished_at": when}
        optional = {"environment": environment, "fingerprint": fingerprint}
        changes.update({k: v for k, v in optional.items() if v is not None})
        if calibration is not None:
            changes["calibration"] = calibration
        statement = runs_t.update().where(runs_t.c.id == run_id).values(changes)

        def write(connection: Connection) -> int:
            return connection.execute(statement).rowcount

        if self._write(f"finishing run {run_id}", write) == 0:
            raise StoreError(f"no run {run_id} in {self.url}")

    # -- reads --

    def resolve_run(self, run_id: str) -> str:
        """The full id of a run given its id or a unique prefix of it."""
        pattern = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = select(runs_t.c.id).where(runs_t.c.id.like(pattern, escape="\\")).limit(11)
        with self._read("finding a run") as connection:
            ids: list[str] = list(connection.execute(query).scalars())
        if run_id in ids:
            return run_id
        if len(ids) == 1:
            return ids[0]
        if not ids:
            raise StoreError(f"no run {run_id!r} in {self.url}")
        shown = ", ".join(i[:12] for i in ids[:10])
        raise StoreError(f"run id prefix {run_id!r} is ambiguous: matches {shown}")

    def list_runs(self, limit: int = 50) -> list[RunInfo]:
        """The newest runs first."""
        query = select(runs_t).order_by(runs_t.c.started_at.desc(), runs_t.c.id).limit(limit)
        with self._read("listing runs") as connection:
            rows = connection.execute(query).mappings().all()
        return [RunInfo.model_validate(m.run_entry(row)) for row in rows]

    def run_stats(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per run: ``models``, ``results`` and one count per outcome."""
        with self._read("counting results") as connection:
            return count_outcomes(connection, run_ids)

    def run_progress(self, run_ids: Sequence[str]) -> dict[str, RunProgress]:
        """What each run's session last recorded of its progress."""
        with self._read("reading progress") as connection:
            return read_progress(connection, run_ids)

    def load_report(self, run_id: str) -> Report:
        """The run's full report, results in stored order; ``summary`` is left empty."""
        run_id = self.resolve_run(run_id)
        with self._read(f"loading run {run_id}") as connection:
            run = connection.execute(select(runs_t).where(runs_t.c.id == run_id)).mappings().one()
            model_rows = connection.execute(
                select(models_t).where(models_t.c.run_id == run_id).order_by(models_t.c.id)
            ).mappings()
            models = [ModelEntry.model_validate(m.model_entry(row)) for row in model_rows]
            results = self._results(connection, results_t.c.run_id == run_id)
        return Report(run=RunInfo.model_validate(m.run_entry(run)), models=models, results=results)

    def _results(self, connection: Connection, where: Any, limit: int | None = None) -> list[Any]:
        query = select(results_t).where(where).order_by(results_t.c.id).limit(limit)
        rows = connection.execute(query).mappings().all()
        ids = [row["id"] for row in rows]
        children: dict[Any, dict[int, list[Any]]] = {}
        for table, order in ((measurements_t, "idx"), (hardware_t, "id")):
            grouped: dict[int, list[Any]] = defaultdict(list)
            # Chunked so a long run stays under the backends' bound-parameter limits.
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                child_q = (
                    select(table)
                    .where(table.c.result_id.in_(chunk))
                    .order_by(table.c.result_id, table.c[order])
                )
                for child in connection.execute(child_q).mappings():
                    grouped[child["result_id"]].append(child)
            children[table] = grouped
        return [
            ResultEntry.model_validate(
                m.result_entry(
                    row, children[measurements_t][row["id"]], children[hardware_t][row["id"]]
                )
            )
            for row in rows
        ]

    def _started_at(self, connection: Connection, run_id: str | None) -> datetime | None:
        if run_id is None:
            return None
        query = select(runs_t.c.started_at).where(runs_t.c.id == run_id)
        value: datetime | None = connection.execute(query).scalar()
        return value

    def previous_result(
        self, model_key: str, nodeid_or_case: str, fingerprint: str | None, before_run: str
    ) -> ResultEntry | None:
        """The same item's result in the latest earlier completed or interrupted run.

        The item matches by nodeid, else by case id. Skipped and errored results
        are passed over (they measured nothing); ``fingerprint`` restricts to
        runs on the same machine and software. When ``before_run`` is not
        stored, every stored run counts as earlier.
        """
        runs = runs_t.c
        where = [
            results_t.c.model_key == model_key,
            (results_t.c.nodeid == nodeid_or_case) | (results_t.c.case_id == nodeid_or_case),
            results_t.c.outcome.not_in(_NO_DATA),
            runs.status.in_(_FINISHED),
            runs.id != before_run,
        ]
        if fingerprint is not None:
            where.append(model_fingerprint_is(model_key, fingerprint))
        with self._read("finding a previous result") as connection:
            before = self._started_at(connection, before_run)
            if before is not None:
                where.append(runs.started_at < before)
            exact_first = case((results_t.c.nodeid == nodeid_or_case, 0), else_=1)
            query = (
                select(results_t.c.id)
                .join(runs_t, runs.id == results_t.c.run_id)
                .where(*where)
                .order_by(runs.started_at.desc(), exact_first, results_t.c.id.desc())
                .limit(1)
            )
            found = connection.execute(query).scalar()
            if found is None:
                return None
            results = self._results(connection, results_t.c.id == found)
        entry: ResultEntry = results[0]
        return entry

    def report_history(self, report: Report) -> History:
        """Each model's history up to ``report``'s run, matched on the model's fingerprint.

        The one history the session's HTML report, ``lmbench report`` and the
        dashboard draw, so they always agree.
        """
        fingerprints = {entry.key: m.model_fingerprint(entry.metadata) for entry in report.models}
        keys = dict.fromkeys([e.key for e in report.models] + [r.model for r in report.results])
        return {
            key: self.history(key, fingerprints.get(key), up_to_run=report.run.id) for key in keys
        }

    def history(
        self,
        model_key: str,
        fingerprint: str | None,
        limit: int = 30,
        *,
        up_to_run: str | None = None,
    ) -> list[HistoryPoint]:
        """Per completed or interrupted run with this model, oldest first, the last ``limit``.

        Each entry: ``run_id``, ``started_at`` (ISO), ``decode_tps_median`` (the
        median over the run's single-stream (c1) throughput items, as the
        report's headline) and ``quality_score_mean``. Skipped and errored
        results do not count. ``up_to_run`` leaves out runs that started after it.
        """
        runs = runs_t.c
        measured = results_t.c.outcome.not_in(_NO_DATA)
        where = [results_t.c.model_key == model_key, measured, runs.status.in_(_FINISHED)]
        if fingerprint is not None:
            where.append(model_fingerprint_is(model_key, fingerprint))
        with self._read("reading history") as connection:
            until = self._started_at(connection, up_to_run)
            if until is not None:
                where.append(runs.started_at <= until)
            run_q = (
                select(runs.id, runs.started_at, runs.status)
                .join(results_t, results_t.c.run_id == runs.id)
                .where(*where)
                .group_by(runs.id, runs.started_at, runs.status)
                .order_by(runs.started_at.desc(), runs.id)
                .limit(limit)
            )
            picked = connection.execute(run_q).all()
            r = results_t.c
            where = [r.model_key == model_key, measured, r.run_id.in_([row[0] for row in picked])]
            # Throughput rows one by one (the headline needs each one's concurrency); the
            # hundreds of capability rows per run only add to the quality mean: summed in SQL.
            is_speed = r.kind == "throughput"
            speed_q = select(
                r.run_id, r.kind, r.decode_tps_median, r.quality_score, r.timing["concurrency"]
            )
            other_q = select(r.run_id, func.count(r.quality_score), func.sum(r.quality_score))
            values = connection.execute(speed_q.where(*where, is_speed)).all()
            other_q = other_q.where(*where, ~is_speed).group_by(r.run_id)
            quality = {rid: (n, total) for rid, n, total in connection.execute(other_q)}
        by_run: dict[str, list[Any]] = defaultdict(list)
        for row in values:
            by_run[row[0]].append(row)
        return [
            history_entry(rid, at, by_run[rid], status, quality.get(rid))
            for rid, at, status in reversed(picked)
        ]

    def last_completed_runs(self, model_key: str, fingerprint: str | None) -> LastRuns:
        """The newest completed runs holding ``model_key``: with ``fingerprint``, and with any."""
        with self._read("finding the last run of a model") as connection:
            return last_completed_runs(connection, model_key, fingerprint)

    def tested(self, keys: Mapping[str, str]) -> dict[str, str]:
        with self._read("finding items already tested") as connection:
            return tested_items(connection, keys)

    def export_rows(self, run_id: str | None = None, model_key: str | None = None) -> list[m.Row]:
        """Flat result rows (query columns, metrics, flags) of one run, one model, or all."""
        run = self.resolve_run(run_id) if run_id is not None else None
        with self._read("exporting results") as connection:
            rows = connection.execute(export_query(run, model_key)).mappings().all()
        return [export_row(row) for row in rows]

    def schema_revision(self) -> str | None:
        with self._read("reading the schema revision") as connection:
            return migrations.current_revision(connection)


def _rows(what: str, convert: Callable[[], T]) -> T:
    try:
        return convert()
    except ValueError as exc:  # a time that is not ISO 8601
        raise StoreError(f"cannot store {what}: {exc}") from exc


def _dump(entry: RunInfo | ModelEntry | ResultEntry) -> JSON:
    """Plain JSON values, exactly as the JSON report would hold them."""
    return entry.model_dump(mode="json")
