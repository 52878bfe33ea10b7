"""URLs: the default location, up-front checks and one-line errors without passwords."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_lmbench.storage.store import StoreError, open_store
from pytest_lmbench.storage.url import check_url, default_db_url, display_url, redact

NOBODY = 65534


def test_default_url_uses_xdg_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = default_db_url()
    assert url == f"sqlite:///{tmp_path / 'data' / 'pytest-lmbench' / 'results.db'}"
    assert (tmp_path / "data" / "pytest-lmbench").is_dir()


def test_default_url_without_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = tmp_path / ".local" / "share" / "pytest-lmbench" / "results.db"
    assert default_db_url() == f"sqlite:///{expected}"
    with open_store(default_db_url()):
        assert expected.is_file()


def test_missing_folders_are_created(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'a' / 'b' / 'results.db'}"):
        assert (tmp_path / "a" / "b" / "results.db").is_file()


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "not a url",
        "postgresql://u:hunter2@host:notaport/db",
        "://u:hunter2@host/db",
    ],
)
def test_malformed_url(url: str) -> None:
    with pytest.raises(StoreError, match=r"malformed|empty") as caught:
        open_store(url)
    message = str(caught.value)
    assert "\n" not in message
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("url", "module", "message"),
    [
        (
            "mysql://u:hunter2@h/db",
            "MySQLdb",
            "no database driver for mysql://u:***@h/db: cannot import MySQLdb: "
            "pip install 'mysqlclient'",
        ),
        (
            "mssql+pyodbc://u:hunter2@h/db",
            "pyodbc",
            "no database driver for mssql+pyodbc://u:***@h/db: cannot import pyodbc: "
            "pip install 'pyodbc'",
        ),
        (
            "oracle+oracledb://u:hunter2@h/db",
            "oracledb",
            "no database driver for oracle+oracledb://u:***@h/db: cannot import oracledb: "
            "pip install 'oracledb'",
        ),
        (
            "postgresql://u:hunter2@h/db",
            "psycopg",
            "no database driver for postgresql+psycopg://u:***@h/db: cannot import psycopg: "
            "pip install 'psycopg[binary]'",
        ),
    ],
)
def test_missing_driver_names_its_package(
    monkeypatch: pytest.MonkeyPatch, url: str, module: str, message: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    with pytest.raises(StoreError) as caught:
        open_store(url)
    assert str(caught.value) == message


def test_unknown_driver_module_gets_no_made_up_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sqlite3", None)
    with pytest.raises(StoreError) as caught:
        check_url("sqlite:///x.db")
    assert str(caught.value) == "no database driver for sqlite:///x.db: cannot import sqlite3"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "nosuchdb://u:hunter2@h/db",
            "unknown database type 'nosuchdb' in nosuchdb://u:***@h/db: no such SQLAlchemy dialect",
        ),
        (
            "mysql+nosuch://u:hunter2@h/db",
            "unknown database type 'mysql+nosuch' in mysql+nosuch://u:***@h/db",
        ),
        (
            "postgresql+asyncpg://u:hunter2@h/db",
            "postgresql+asyncpg://u:***@h/db: asyncpg is an asyncio driver; "
            "the results store needs a synchronous one",
        ),
        (
            "sqlite+aiosqlite:///x.db",
            "sqlite+aiosqlite:///x.db: aiosqlite is an asyncio driver",
        ),
    ],
)
def test_unusable_dialects_are_one_line(url: str, message: str) -> None:
    with pytest.raises(StoreError) as caught:
        check_url(url)
    text = str(caught.value)
    assert text.startswith(message)
    assert "\n" not in text
    assert "hunter2" not in text


def test_any_dialect_with_its_driver_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in DBAPI module: the dialect loads and its driver imports.
    monkeypatch.setitem(sys.modules, "pymysql", types.ModuleType("pymysql"))
    url = check_url("mysql+pymysql://u:hunter2@h/db")
    assert url.drivername == "mysql+pymysql"
    assert url.password == "hunter2"  # kept for connecting
    assert display_url(url) == "mysql+pymysql://u:***@h/db"
    assert redact("mssql+pyodbc://u:hunter2@h/db?driver=x") == "mssql+pyodbc://u:***@h/db?driver=x"


def test_unreachable_postgres_is_one_line_without_password() -> None:
    with pytest.raises(StoreError, match="cannot open results database") as caught:
        open_store("postgresql://u:hunter2@127.0.0.1:1/db?connect_timeout=2")
    assert "hunter2" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_plain_postgresql_means_psycopg3() -> None:
    assert check_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert check_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


def test_redact() -> None:
    assert redact("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert redact("weird://u:pw@h:port") == "weird://u:***@h:port"


def test_folder_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match=r"cannot create folder .*file") as caught:
        open_store(f"sqlite:///{tmp_path / 'file' / 'results.db'}")
    assert "\n" not in str(caught.value)


def test_database_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "results.db").mkdir()
    with pytest.raises(StoreError, match="is not a file"):
        open_store(f"sqlite:///{tmp_path / 'results.db'}")


@pytest.fixture
def read_only_dir() -> Iterator[Path]:
    # Under /tmp itself, not tmp_path: a user dropped to nobody must reach it.
    base = Path(tempfile.mkdtemp(prefix="lmbench-ro-", dir="/tmp"))
    base.chmod(0o755)
    folder = base / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)
    shutil.rmtree(base)


def _open_as_nobody(url: str) -> str:
    """Try open_store in a forked child without root's permission bypass."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (child)
        message = "opened"
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            open_store(url).close()
        except StoreError as exc:
            message = f"StoreError: {exc}"
        except BaseException as exc:
            message = f"{type(exc).__name__}: {exc}"
        finally:
            os.write(write_end, message.encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(pid, 0)
    return message


def _open_unprivileged(url: str, tmp_path: Path) -> str:
    if os.geteuid() != 0:
        try:
            open_store(url).close()
        except StoreError as exc:
            return f"StoreError: {exc}"
        return "opened"
    # Root ignores permissions; drop to nobody in a forked child, whose modules
    # are already loaded (root's Python may be unreadable to nobody).
    open_store(f"sqlite:///{tmp_path / 'warm.db'}").close()
    return _open_as_nobody(url)


def test_read_only_file(read_only_dir: Path, tmp_path: Path) -> None:
    read_only_dir.chmod(0o777)
    database = read_only_dir / "results.db"
    open_store(f"sqlite:///{database}").close()
    database.chmod(0o444)
    url = f"sqlite:///{database}"
    assert _open_unprivileged(url, tmp_path) == (
        f"StoreError: database file {database} is not readable and writable ({url})"
    )


def test_read_only_folder(read_only_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{read_only_dir / 'results.db'}"
    assert _open_unprivileged(url, tmp_path) == (
        f"StoreError: folder {read_only_dir} is not writable; the database {url} needs it "
        "(SQLite keeps its journal next to the file)"
    )
