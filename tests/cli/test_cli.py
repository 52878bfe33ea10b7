"""``lmbench`` subcommands against a store filled through the Store API."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_lmbench.cli import main
from pytest_lmbench.records import Report
from pytest_lmbench.storage.store import open_store

RUN_A = "aaaa1111-0000-4000-8000-000000000001"
RUN_B = "bbbb2222-0000-4000-8000-000000000002"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_runs(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(capsys, "--db", db, "runs")
    assert (status, err) == (0, "")
    header, newest, oldest = out.splitlines()
    assert header.split() == [
        *("ID", "STARTED", "(UTC)", "STATUS", "BACKEND", "MODELS", "RESULTS"),
        *("PASS", "FAIL", "SKIP"),
    ]
    assert newest.split() == [
        *("bbbb2222", "2026-05-02", "12:00:00", "interrupted", "lmstudio"),
        *("1", "3", "1", "1", "1"),
    ]
    assert oldest.split()[:3] == ["aaaa1111", "2026-05-01", "12:00:00"]
    assert oldest.split()[-5:] == ["1", "2", "2", "0", "0"]


def test_runs_empty_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "--db", f"sqlite:///{tmp_path / 'empty.db'}", "runs")
    assert status == 0
    assert out.startswith("no runs in sqlite:///")


def test_show(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "--db", db, "show", "bbbb")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"run {RUN_B} (interrupted)"
    assert "  backend      lmstudio at http://127.0.0.1:1234" in lines
    assert "  qwen3-4b  ok" in lines
    assert any(
        line.split()[:2] == ["PASSED", "qwen3-4b"] and "decode=55 tok/s" in line for line in lines
    )
    failed = next(line for line in lines if "FAILED" in line)
    assert failed.endswith("— AssertionError: wrong answer")  # first line of the error only
    assert any("SKIPPED" in line for line in lines)


def test_show_unknown_run(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(capsys, "--db", db, "show", "zzz")
    assert (status, out) == (1, "")
    assert err == f"lmbench: no run 'zzz' in {db}\n"


def test_report_writes_files(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "reports"
    status, out, err = run_cli(capsys, "--db", db, "report", "aaaa", "--output", str(out_dir))
    assert (status, err) == (0, "")
    written = [Path(line) for line in out.splitlines()]
    assert {p.suffix for p in written} == {".json", ".html", ".csv"}
    assert all(p.is_file() for p in written)
    report = Report.model_validate_json((out_dir / "latest.json").read_text())
    with open_store(db) as store:
        stored = store.load_report(RUN_A)
    assert report.run == stored.run
    assert report.results == stored.results
    assert report.summary  # the writer recomputes it


def test_report_one_format(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "reports"
    status, _, _ = run_cli(
        capsys, "--db", db, "report", RUN_B, "--output", str(out_dir), "--formats", "json"
    )
    assert status == 0
    assert sorted(p.suffix for p in out_dir.iterdir()) == [".json", ".json"]
    assert json.loads((out_dir / "latest.json").read_text())["run"]["id"] == RUN_B


def test_report_bad_format(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--db", db, "report", RUN_A, "--output", str(tmp_path), "--formats", "json,pdf"]
    status, _, err = run_cli(capsys, *argv)
    assert status == 2
    assert err == "lmbench report: --formats takes json,html,csv, not 'json,pdf'\n"


def test_compare(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "--db", db, "compare", "aaaa", "bbbb")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"A = {RUN_A}")
    speed = next(line for line in lines if line.startswith("speed.py"))
    assert speed.split()[2:] == ["50", "55", "+10.0%", "0.2", "0.1", "-50.0%", "—", "—", "—"]
    math = next(line for line in lines if line.startswith("suite::test_case[qwen3-4b"))
    assert math.split()[-3:] == ["1", "—", "—"]  # no quality in B: no delta, not -100 %
    assert lines[-1] == "2 items in both; 0 only in A, 1 only in B"


def test_export_csv_stdout(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "--db", db, "export", "--format", "csv")
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["run_id"] for r in rows] == [RUN_A, RUN_A, RUN_B, RUN_B, RUN_B]
    assert rows[0]["decode_tps_median"] == "50.0"
    assert rows[1]["metrics"] == '{"quality_score":1.0}'
    assert rows[3]["quality_score"] == ""  # missing, not 0
    assert rows[3]["error"] == "AssertionError: wrong answer\nmore"
    assert rows[4]["error"] == '\'=HYPERLINK("http://x")'


def test_export_json_one_run_to_file(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out.json"
    argv = ["--db", db, "export", "--format", "json", "--run", "aaaa", "--output", str(target)]
    status, out, _ = run_cli(capsys, *argv)
    assert (status, out) == (0, f"{target}\n")
    rows = json.loads(target.read_text())
    assert [r["nodeid"] for r in rows] == [
        "speed.py::test_decode[qwen3-4b-pp512-tg128]",
        "suite::test_case[qwen3-4b-arith-1]",
    ]
    assert rows[0]["output_tokens"] == 384
    assert rows[1]["quality_score"] == 1.0


def test_env_database(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LMBENCH_DB", db)
    status, out, _ = run_cli(capsys, "runs")
    assert status == 0
    assert "aaaa1111" in out


def test_default_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LMBENCH_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    status, out, _ = run_cli(capsys, "runs")
    assert status == 0
    assert out == f"no runs in sqlite:///{tmp_path / 'pytest-lmbench' / 'results.db'}\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "lmbench: choose a command: runs, show, report, compare, export"),
        (["bogus"], "lmbench: argument COMMAND: invalid choice: 'bogus'"),
        (["show"], "lmbench show: the following arguments are required: RUN"),
        (["export", "--format", "xml"], "lmbench export: argument --format: invalid choice: 'xml'"),
        (["runs", "--limit", "many"], "lmbench runs: argument --limit: invalid int value: 'many'"),
    ],
)
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(capsys, *argv)
    assert (status, out) == (2, "")
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_store_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_cli(capsys, "--db", "postgresql://u:hunter2@h:bad/db", "runs")
    assert status == 1
    assert err.startswith("lmbench: malformed database URL")
    assert "hunter2" not in err
    assert err.count("\n") == 1


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "--help")
    assert status == 0
    assert "compare" in out


def test_python_dash_m(db: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_lmbench", "--db", db, "runs"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "bbbb2222" in done.stdout
