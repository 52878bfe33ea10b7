"""Opening a results database only to read it: never creating one.

``lmbench runs`` on a mistyped URL must say that nothing is there, not create
an empty database and report "no runs" from it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from pytest_lmbench.storage.store import Store, StoreError, open_store
from pytest_lmbench.storage.url import check_url, display_url, sqlite_path

__all__ = ["NoStoreError", "open_existing_store"]


class NoStoreError(StoreError):
    """There is no results database at the URL; ``str(exc)`` names where we looked."""


def open_existing_store(url: str) -> Store:
    """Open the results database at ``url`` when one exists there; raise NoStoreError if not.

    A SQLite file is checked before anything connects (connecting would create
    it); any other database must already hold the store's tables. An existing
    store of an older schema is still upgraded, so it can be read.
    """
    path = _sqlite_file(url)
    if path is not None and not path.is_file():
        raise NoStoreError(f"no results database at {path}")
    parsed = check_url(url)
    tables = _sqlite_tables(path) if path is not None else _tables(parsed)
    if tables is not None and "alembic_version" not in tables:
        raise NoStoreError(f"no results database at {display_url(parsed)} (it holds no store)")
    return open_store(url)


def _sqlite_file(url: str) -> Path | None:
    try:
        parsed = make_url(url.strip())
    except (ArgumentError, ValueError):
        return None  # check_url reports a malformed URL
    return sqlite_path(parsed) if parsed.get_backend_name() == "sqlite" else None


def _sqlite_tables(path: Path) -> set[str] | None:
    # Read-only: the store's own connection would switch the file to WAL, i.e. write it.
    try:
        connection = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            return {name for (name,) in rows}
        finally:
            connection.close()
    except sqlite3.Error:
        return None  # not a database at all: open_store says so in its own words


def _tables(url: URL) -> set[str] | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    except SQLAlchemyError:
        return None  # unreachable: open_store reports it in its own words
    finally:
        engine.dispose()
