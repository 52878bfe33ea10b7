"""The JSON report: the :mod:`pytest_lmbench.records` contract, as it is."""

from __future__ import annotations

from pathlib import Path

from pytest_lmbench.records import History, Report


def write(report: Report, history: History | None, path: Path) -> None:
    path.write_text(report.model_dump_json(indent=2), encoding="utf-8")
