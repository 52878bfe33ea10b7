"""Database URLs: the default location, up-front checks, password-safe display,
and the engine with the settings each backend needs.

Checks happen before any engine exists so a bad ``--lm-db`` fails at once with
one actionable line instead of a traceback from deep inside a driver. Any
SQLAlchemy dialect whose driver imports is accepted; only SQLite and PostgreSQL
(``TESTED_BACKENDS``) are tested, and only they get backend-specific handling.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pydantic_core
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from pytest_lmbench.errors import LmbenchError
from pytest_lmbench.redaction import CREDENTIALS, redact

__all__ = [
    "TESTED_BACKENDS",
    "StoreError",
    "check_url",
    "create_store_engine",
    "default_db_url",
    "display_url",
    "redact",
    "scrub",
    "sqlite_path",
]

TESTED_BACKENDS = ("sqlite", "postgresql")
BUSY_TIMEOUT_MS = 30_000
_EXAMPLES = "e.g. sqlite:///path/to/results.db or postgresql+psycopg://user:pass@host/db"
# What to pip install when a driver module (the dialect's DBAPI) is missing. Packages
# from PyPI: pytest-lmbench itself is not published there, so its extras are named by
# what they install.
_DRIVER_PACKAGES = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pg8000": "pg8000",
    "MySQLdb": "mysqlclient",
    "pymysql": "pymysql",
    "mysql": "mysql-connector-python",
    "mariadb": "mariadb",
    "pyodbc": "pyodbc",
    "pymssql": "pymssql",
    "oracledb": "oracledb",
    "cx_Oracle": "cx-Oracle",
}


class StoreError(LmbenchError):
    """The results database cannot be used; ``str(exc)`` is one actionable line."""


def default_db_url(*, create_folder: bool = True) -> str:
    """SQLite under ``$XDG_DATA_HOME/pytest-lmbench/`` (``~/.local/share`` when unset).

    The folder is created so the URL is usable as returned, unless the caller
    only reads (``create_folder=False``): a reader must leave no trace.
    """
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    folder = Path(base).expanduser() / "pytest-lmbench"
    if not create_folder:
        return f"sqlite:///{folder.absolute() / 'results.db'}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {folder} for the results database: {exc}") from exc
    return f"sqlite:///{folder.resolve() / 'results.db'}"


def display_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def scrub(text: str, url: URL) -> str:
    """``text`` without the password of ``url`` or any ``user:password@`` in it."""
    if url.password:
        text = text.replace(str(url.password), "***")
    return CREDENTIALS.sub(r"\1***@", text)


def check_url(url: str) -> URL:
    """Parse and check ``url``; return the URL to connect with.

    ``postgresql://`` without a driver means psycopg 3 (the optional
    dependency), not SQLAlchemy's psycopg2 default. The dialect must exist and
    its driver must import (the store is synchronous: no asyncio drivers). For
    SQLite the folder is created when missing and must be writable (WAL keeps
    files next to the database), and an existing database file must be writable.
    """
    parsed = _parse(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    _check_driver(parsed)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(parsed)
        if path is not None:
            _check_sqlite_path(path, display_url(parsed))
    return parsed


def _parse(url: str) -> URL:
    if not url or not url.strip():
        raise StoreError(f"empty database URL; give one, {_EXAMPLES}")
    try:
        return make_url(url.strip())
    except (ArgumentError, ValueError) as exc:
        raise StoreError(f"malformed database URL {redact(url)!r}: {_EXAMPLES}") from exc


def _check_driver(url: URL) -> None:
    shown = display_url(url)
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError as exc:
        message = f"unknown database type {url.drivername!r} in {shown}: no such SQLAlchemy dialect"
        raise StoreError(f"{message} ({_EXAMPLES})") from exc
    if dialect.is_async:
        raise StoreError(
            f"{shown}: {url.get_driver_name()} is an asyncio driver; the results store "
            f"needs a synchronous one ({_EXAMPLES})"
        )
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise StoreError(_no_driver(shown, exc.name or url.get_driver_name())) from exc


def _no_driver(shown: str, module: str) -> str:
    package = _DRIVER_PACKAGES.get(module.split(".")[0])
    hint = f": pip install '{package}'" if package else ""
    return f"no database driver for {shown}: cannot import {module}{hint}"


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL; None for in-memory and ``file:`` URIs."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    if url.query.get("uri") in ("true", "1"):
        return None
    return Path(database)


def _check_sqlite_path(path: Path, shown: str) -> None:
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        message = f"cannot create folder {folder} for the database {shown}: {reason}"
        raise StoreError(message) from exc
    if not folder.is_dir():
        raise StoreError(f"{folder} is not a folder; cannot store the database {shown}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(
            f"folder {folder} is not writable; the database {shown} needs it "
            "(SQLite keeps its journal next to the file)"
        )
    if path.exists():
        if not path.is_file():
            raise StoreError(f"{path} is not a file; cannot use it as the database {shown}")
        if not os.access(path, os.R_OK | os.W_OK):
            raise StoreError(f"database file {path} is not readable and writable ({shown})")


# --- engines -------------------------------------------------------------------


def _to_json(value: Any) -> str:
    # PostgreSQL rejects NaN in JSON; null matches what the JSON report holds.
    return pydantic_core.to_json(value, inf_nan_mode="null").decode("utf-8")


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (see _on_sqlite_begin); sqlite3 must not.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # NORMAL is crash-safe in WAL mode; only a power cut can lose the last commits.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    # A writer takes the write lock up front: a deferred transaction that later
    # wants to write can fail at once with SQLITE_BUSY, without waiting.
    write = connection.get_execution_options().get("lmbench_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def create_store_engine(url: URL) -> Engine:
    """An engine for a checked URL; SQLite gets WAL, a busy timeout and foreign keys."""
    shown = display_url(url)
    try:
        engine = create_engine(url, json_serializer=_to_json)
    except ImportError as exc:
        raise StoreError(_no_driver(shown, exc.name or url.get_driver_name())) from exc
    except NoSuchModuleError as exc:
        raise StoreError(f"no database dialect for {shown}: {exc}") from exc
    except (SQLAlchemyError, ValueError, TypeError) as exc:
        raise StoreError(f"cannot use database URL {shown}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
    return engine
