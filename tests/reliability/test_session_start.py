"""Bad outputs stop the session at its start: exit 4, one ``ERROR:`` line, no model loaded.

A results store or an output folder that cannot be used is found before any
item runs, so a long benchmark never finishes only to lose its results.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_lmbench.testing import LMStudioTestServer

from .conftest import (
    QWEN,
    CloseBackend,
    answer_suite,
    db_path,
    lmbench_args,
    stored_runs,
    write_suite,
)


def start(
    pytester: pytest.Pytester, lms: LMStudioTestServer, *extra: str, closer: CloseBackend
) -> pytest.RunResult:
    root = write_suite(pytester.path / "suite", ("q01", "q02"))
    answer_suite(lms, root)
    args = [f"--lm-suite-dir={root}", f"--lm-model={QWEN}", *lmbench_args(lms, pytester.path)]
    return pytester.runpytest(*args, *extra, plugins=[closer])


def check_stopped_at_start(
    result: pytest.RunResult, lms: LMStudioTestServer, pytester: pytest.Pytester, line: str
) -> None:
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [text for text in result.stderr.lines if text.startswith("ERROR")]
    assert len(errors) == 1, result.stderr.lines
    result.stderr.fnmatch_lines([line])
    assert "Traceback" not in result.stderr.str()
    assert "collected" not in result.stdout.str()
    assert lms.engine.load_calls == 0
    assert not any(r.path.endswith("/chat") for r in lms.engine.requests)
    assert not (pytester.path / "out" / "latest.json").exists()


def a_file(pytester: pytest.Pytester) -> Path:
    path = pytester.path / "a-file"
    path.write_text("not a folder")
    return path


# case -> (the --lm-db value for a test folder, the one line it must give)
BAD_DATABASES: dict[str, tuple[Callable[[Path], str], str]] = {
    "malformed URL": (lambda tmp: "::not a url::", "ERROR: --lm-db: malformed database URL *"),
    "unknown dialect": (
        lambda tmp: "nosuchdb://bench:hunter2@db.example/results",
        "ERROR: --lm-db: unknown database type 'nosuchdb' in "
        "nosuchdb://bench:***@db.example/results: no such SQLAlchemy dialect *",
    ),
    "asyncio driver": (
        lambda tmp: "postgresql+asyncpg://bench:hunter2@db.example/results",
        "ERROR: --lm-db: postgresql+asyncpg://bench:***@db.example/results: asyncpg is an "
        "asyncio driver; the results store needs a synchronous one *",
    ),
    "folder is a file": (
        lambda tmp: f"sqlite:///{tmp / 'a-file' / 'r.db'}",
        "ERROR: --lm-db: cannot create folder */a-file for the database sqlite:///*: File exists",
    ),
    "file is not a database": (
        lambda tmp: f"sqlite:///{tmp / 'a-file'}",
        "ERROR: --lm-db: cannot open results database *a-file: file is not a database",
    ),
}


@pytest.mark.parametrize("case", list(BAD_DATABASES))
def test_unusable_lm_db_stops_before_any_model_loads(
    pytester: pytest.Pytester, lms: LMStudioTestServer, case: str
) -> None:
    a_file(pytester)
    url, line = BAD_DATABASES[case]
    result = start(pytester, lms, f"--lm-db={url(pytester.path)}", closer=CloseBackend())
    check_stopped_at_start(result, lms, pytester, line)
    assert "hunter2" not in result.stderr.str() + result.stdout.str()


@pytest.mark.parametrize(
    ("url", "package"),
    [
        ("mysql+pymysql://bench:hunter2@db.example/results", "pymysql"),
        ("postgresql://bench:hunter2@db.example/results", "psycopg[binary]"),
    ],
)
def test_a_missing_database_driver_names_its_package(
    pytester: pytest.Pytester,
    lms: LMStudioTestServer,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    package: str,
) -> None:
    module = "pymysql" if "pymysql" in url else "psycopg"
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    result = start(pytester, lms, f"--lm-db={url}", closer=CloseBackend())
    shown = url.replace("hunter2", "***").replace("postgresql:", "postgresql+psycopg:")
    line = f"ERROR: --lm-db: no database driver for {shown}: cannot import {module}: "
    check_stopped_at_start(result, lms, pytester, f"{line}pip install '{package}'")
    assert "hunter2" not in result.stderr.str() + result.stdout.str()


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_unwritable_output_dir_stops_before_the_server_is_asked_anything(
    pytester: pytest.Pytester, lms: LMStudioTestServer, where: str
) -> None:
    path = a_file(pytester)
    folder = path if where == "a file" else path / "reports"
    result = start(pytester, lms, f"--lm-output-dir={folder}", closer=CloseBackend())
    check_stopped_at_start(
        result, lms, pytester, f"ERROR: --lm-output-dir: cannot create {folder}: *"
    )
    assert lms.engine.requests == []
    assert not db_path(pytester.path).exists()


def test_a_session_stopped_at_start_closes_its_connections(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    closer = CloseBackend(lms)  # notes the open connections, then closes them anyway
    result = start(pytester, lms, "--lm-db=::not a url::", closer=closer)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert closer.open_at_unconfigure == 0


def test_a_session_stopped_at_start_leaves_no_unfinished_run(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    gates = pytester.path / "gates.yaml"
    gates.write_text("general_text: [1, 2\n")  # not valid YAML
    result = start(pytester, lms, f"--lm-gates={gates}", closer=CloseBackend())
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    runs = stored_runs(db_path(pytester.path)) if db_path(pytester.path).exists() else {}
    assert all(run.status != "running" for run in runs.values()), runs


@pytest.mark.parametrize("where", ["under a file", "a folder"])
def test_an_unwritable_update_baseline_is_refused_before_the_run(
    pytester: pytest.Pytester, lms: LMStudioTestServer, where: str
) -> None:
    blocker = a_file(pytester)
    target = blocker / "baseline.json" if where == "under a file" else pytester.path
    result = start(pytester, lms, f"--lm-update-baseline={target}", closer=CloseBackend())
    check_stopped_at_start(result, lms, pytester, "ERROR: --lm-update-baseline: *")
    assert lms.engine.requests == []
