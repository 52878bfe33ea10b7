"""Alembic migrations of the results database, run programmatically.

``env.py`` and ``versions/`` are read by Alembic from this folder; no
alembic.ini is needed. The schema itself is :mod:`pytest_lmbench.storage.models`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from pytest_lmbench.storage.url import StoreError

__all__ = ["FOLDER", "alembic_config", "current_revision", "head_revision", "upgrade"]

FOLDER = Path(__file__).resolve().parent
_PG_MIGRATION_LOCK = 0x6C6D6265  # any constant shared by every pytest-lmbench process


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic config for the bundled migrations (URL for Alembic's own commands)."""
    config = Config()
    config.set_main_option("script_location", str(FOLDER))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the bundled migrations have no head revision"
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Connection, shown_url: str, target: str = "head") -> None:
    """Upgrade inside the caller's transaction; a database from a newer version is refused."""
    if connection.dialect.name == "postgresql":
        # Two sessions opening a fresh database must not both create the tables.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
    config = alembic_config(connection=connection)
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    for revision in MigrationContext.configure(connection).get_current_heads():
        if revision not in known:
            raise StoreError(
                f"database at {shown_url} has schema revision {revision}, newer than this "
                f"pytest-lmbench supports ({head_revision()}); upgrade pytest-lmbench"
            )
    command.upgrade(config, target)
