"""Alembic environment for the results database.

pytest-lmbench runs migrations itself (``open_store``), handing over an open
connection in ``config.attributes["connection"]``; no alembic.ini is needed.
To write a new revision after changing ``models.py``::

    from alembic import command
    from pytest_lmbench.storage.migrations import alembic_config
    command.revision(alembic_config("sqlite:///scratch.db"), "what changed", autogenerate=True)

(``scratch.db`` must be at the current head first: ``command.upgrade(cfg, "head")``.)
Without a connection the URL comes from ``-x url=...`` or ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from pytest_lmbench.storage.models import Base


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("give the database with -x url=... or sqlalchemy.url")
    return url


def run() -> None:
    if context.is_offline_mode():
        context.configure(url=_url(), target_metadata=Base.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    engine = create_engine(_url())
    try:
        with engine.connect() as own:
            _configure_and_run(own)
    finally:
        engine.dispose()


run()
