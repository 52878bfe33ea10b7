"""write_reports: file names, latest copies, JSON round trip and the summary block."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from pytest_lmbench.records import Report
from pytest_lmbench.reporting.writer import WRITERS, default_stem, write_reports
from pytest_lmbench.vocabulary import FORMATS

STEM = "lmbench-20250601T140327-3f9c2a71"


def test_writes_every_format_with_latest_copies(report: Report, tmp_path: Path) -> None:
    out = tmp_path / "nested" / "results"
    paths = write_reports(report, out, ["json", "html", "csv"])
    names = [p.name for p in paths]
    assert names == [
        f"{STEM}.json",
        "latest.json",
        f"{STEM}.html",
        "latest.html",
        f"{STEM}.csv",
        "latest.csv",
    ]
    for path in paths:
        assert path.parent == out
        assert path.stat().st_size > 0
    assert (out / "latest.html").read_bytes() == (out / f"{STEM}.html").read_bytes()
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # no temp files left


def test_json_round_trips_and_carries_the_summary(report: Report, tmp_path: Path) -> None:
    assert report.summary == {}
    [path, _] = write_reports(report, tmp_path, ["json"])
    loaded = Report.model_validate_json(path.read_text(encoding="utf-8"))
    assert loaded == report
    assert loaded.summary["models"]["qwen3-4b-instruct"]["totals"]["total_tests"] == 7


def test_existing_summary_is_kept(report: Report, tmp_path: Path) -> None:
    report.summary = {"models": {}, "totals": {"kept": True}}
    write_reports(report, tmp_path, ["json"])
    assert report.summary["totals"] == {"kept": True}


def test_custom_stem_and_format_subset(report: Report, tmp_path: Path) -> None:
    paths = write_reports(report, tmp_path, ["csv", "csv"], stem="nightly")
    assert [p.name for p in paths] == ["nightly.csv", "latest.csv"]


def test_stem_named_latest_is_written_once(report: Report, tmp_path: Path) -> None:
    assert [p.name for p in write_reports(report, tmp_path, ["json"], stem="latest")] == [
        "latest.json"
    ]


def test_unknown_format_is_refused(report: Report, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="xml"):
        write_reports(report, tmp_path, ["json", "xml"])
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("started_at", "stamp"),
    [
        ("2025-06-01T14:03:27Z", "20250601T140327"),
        ("2025-06-01T16:03:27.123456+02:00", "20250601T140327"),
        ("2025-06-01T14:03:27", "20250601T140327"),
        ("yesterday", "unknown"),
    ],
)
def test_default_stem_is_utc(report: Report, started_at: str, stamp: str) -> None:
    report.run.started_at = started_at
    assert default_stem(report) == f"lmbench-{stamp}-3f9c2a71"


def test_run_id_is_made_file_name_safe(report: Report) -> None:
    report.run.id = "../../x/y"
    assert default_stem(report) == "lmbench-20250601T140327-.._.._x_"


def test_html_report_uses_history(report: Report, tmp_path: Path) -> None:
    history = {
        "qwen3-4b-instruct": [
            {"run_id": "old", "started_at": "2025-05-01T10:00:00Z", "decode_tps_median": 40.0}
        ]
    }
    [path, _] = write_reports(report, tmp_path, ["html"], history=history)
    assert "no history yet" not in path.read_text(encoding="utf-8")


def test_every_format_has_a_writer_module() -> None:
    """A new format is one module with ``write(report, history, path)`` and one registry line."""
    assert tuple(WRITERS) == FORMATS
    for module in WRITERS.values():
        assert callable(importlib.import_module(module).write)
