"""Report writers: JSON (the contract in :mod:`pytest_lmbench.records`), one-file HTML and CSV.

``write_reports`` is the single entry point the plugin calls at session end.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from pytest_lmbench.records import History, Report
from pytest_lmbench.reporting.summary import report_summary
from pytest_lmbench.vocabulary import FORMATS

__all__ = ["FORMATS", "default_stem", "write_reports"]

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9_.-]")


def _utc_stamp(started_at: str) -> str:
    """``yyyymmddTHHMMSS`` in UTC; naive times are taken as UTC (the schema says so)."""
    try:
        moment = datetime.fromisoformat(started_at.strip().replace("Z", "+00:00"))
    except ValueError:
        return "unknown"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S")


def default_stem(report: Report) -> str:
    """``lmbench-<UTC start>-<first 8 chars of run id>``, safe as a file name."""
    run_id = _UNSAFE_FILENAME.sub("_", report.run.id[:8]) or "run"
    return f"lmbench-{_utc_stamp(report.run.started_at)}-{run_id}"


def _write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    """Write via a temporary sibling so a reader never sees half a report."""
    # A plain open (not mkstemp) keeps the user's umask, so reports stay shareable.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# format -> the module whose ``write(report, history, path)`` writes it. A new format
# is one such module, one line here and its name in pytest_lmbench.vocabulary.FORMATS.
# Imported on use: only HTML needs Jinja2, and a JSON export should not pay for it.
WRITERS: dict[str, str] = {
    "json": "pytest_lmbench.reporting.json_report",
    "html": "pytest_lmbench.reporting.html_report",
    "csv": "pytest_lmbench.reporting.csv_report",
}
Write = Callable[[Report, "History | None", Path], None]


def _writer(report: Report, fmt: str, history: History | None) -> Callable[[Path], Any]:
    write: Write = importlib.import_module(WRITERS[fmt]).write
    return partial(write, report, history)


def write_reports(
    report: Report,
    output_dir: Path,
    formats: Sequence[str],
    *,
    history: History | None = None,
    stem: str | None = None,
) -> list[Path]:
    """Write ``<stem>.<fmt>`` and ``latest.<fmt>`` for each format; return every path.

    Fills ``report.summary`` first when it is empty, so the JSON carries it.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown report format(s) {', '.join(unknown)}; use {', '.join(FORMATS)}")
    report_summary(report)
    output_dir.mkdir(parents=True, exist_ok=True)
    base = stem or default_stem(report)
    written: list[Path] = []
    for fmt in dict.fromkeys(formats):  # ordered de-duplication
        path = output_dir / f"{base}.{fmt}"
        _write_atomic(path, _writer(report, fmt, history))
        latest = output_dir / f"latest.{fmt}"
        if latest != path:
            _write_atomic(latest, partial(shutil.copyfile, path))
        written.extend([path, latest] if latest != path else [path])
    return written
