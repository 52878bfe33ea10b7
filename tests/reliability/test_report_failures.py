"""A report that cannot be written is said in one line and fails the exit status; the
others are still written, and a second Ctrl-C while writing costs no traceback."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.records import History, Report
from pytest_lmbench.reporting import writer
from pytest_lmbench.testing import LMStudioTestServer

from .conftest import QWEN, lmbench_args, suite


def _run(
    pytester: pytest.Pytester,
    lms: LMStudioTestServer,
    monkeypatch: pytest.MonkeyPatch,
    error: BaseException,
) -> pytest.RunResult:
    def write(report: Report, history: History | None, path: Path) -> Any:
        raise error

    # The HTML writer fails the way we ask (a full disk, a second Ctrl-C).
    monkeypatch.setitem(sys.modules, "broken_html_writer", types.SimpleNamespace(write=write))
    monkeypatch.setitem(writer.WRITERS, "html", "broken_html_writer")
    root = suite(pytester, lms)
    return pytester.runpytest(
        f"--lm-suite-dir={root}",
        f"--lm-model={QWEN}",
        "--lm-formats=json,html,csv",
        f"--junitxml={pytester.path / 'junit.xml'}",
        *lmbench_args(lms, pytester.path),
    )


def test_a_report_that_cannot_be_written_is_one_line_and_a_failed_exit(
    pytester: pytest.Pytester, lms: LMStudioTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(pytester, lms, monkeypatch, OSError(28, "No space left on device"))
    result.stdout.fnmatch_lines(["*the html report was not written: *No space left on device*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = pytester.path / "out"
    assert (out / "latest.json").is_file()
    assert (out / "latest.csv").is_file()
    assert not (out / "latest.html").exists()
    assert (pytester.path / "junit.xml").is_file()


def test_ctrl_c_while_writing_reports_skips_that_one_without_a_traceback(
    pytester: pytest.Pytester, lms: LMStudioTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(pytester, lms, monkeypatch, KeyboardInterrupt())
    result.stdout.fnmatch_lines(["*the html report was not written: interrupted*"])
    assert "Traceback" not in result.stdout.str()
    assert (pytester.path / "out" / "latest.csv").is_file()
    assert (pytester.path / "junit.xml").is_file()
