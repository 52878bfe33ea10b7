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
from pytest_lmbench.records import Report, ResultEntry, RunInfo
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
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    open_store(url).close()
    status, out, _ = run_cli(capsys, "--db", url, "runs")
    assert status == 0
    assert out.startswith("no runs in sqlite:///")


@pytest.mark.parametrize("command", [["runs"], ["show", "a"], ["compare", "a", "b"]])
def test_read_commands_never_create_a_database(
    tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing" / "dir" / "x.db"
    status, out, err = run_cli(capsys, "--db", f"sqlite:///{target}", *command)
    assert (status, out) == (2, "")
    assert err == f"lmbench: no results database at {target}\n"
    assert not (tmp_path / "missing").exists()


def test_an_empty_database_file_is_not_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "other.db").write_bytes(b"")
    status, _, err = run_cli(capsys, "--db", f"sqlite:///{tmp_path / 'other.db'}", "runs")
    assert status == 2
    assert err.startswith("lmbench: no results database at sqlite:///")
    assert (tmp_path / "other.db").read_bytes() == b""


def test_db_after_the_command(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(capsys, "runs", "--db", db)
    assert (status, err) == (0, "")
    assert "aaaa1111" in out
    status, out, _ = run_cli(capsys, "show", "aaaa", "--db", db, "-w")
    assert status == 0
    assert out.startswith(f"run {RUN_A}")


def test_demo_store_in_the_working_folder_is_found_and_named(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    local = tmp_path / "here" / "lmbench-results"
    local.mkdir(parents=True)
    (tmp_path / "results.db").rename(local / "results.db")
    monkeypatch.chdir(tmp_path / "here")
    status, out, err = run_cli(capsys, "runs")
    assert status == 0
    assert "aaaa1111" in out
    assert err == "lmbench: reading ./lmbench-results/results.db (found here; --db for another)\n"


def test_show(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "--db", db, "show", "bbbb")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"run {RUN_B} (interrupted)"
    assert "  backend      lmstudio at http://127.0.0.1:1234" in lines
    assert "  qwen3-4b  ok" in lines
    assert any(
        line.split()[:2] == ["PASSED", "speed.py::test_decode[qwen3-4b-pp512-tg128]"]
        and "decode=55 tok/s" in line
        for line in lines
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
    assert speed.split()[1:] == ["50", "55", "+10.0%", "0.2", "0.1", "-50.0%", "—", "—", "—"]
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
    monkeypatch.chdir(tmp_path)
    status, out, err = run_cli(capsys, "runs")
    assert (status, out) == (2, "")
    assert err == f"lmbench: no results database at {tmp_path / 'pytest-lmbench' / 'results.db'}\n"
    assert not (tmp_path / "pytest-lmbench").exists()
    open_store(f"sqlite:///{tmp_path / 'pytest-lmbench' / 'results.db'}").close()
    status, out, _ = run_cli(capsys, "runs")
    assert status == 0
    assert out == f"no runs in sqlite:///{tmp_path / 'pytest-lmbench' / 'results.db'}\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "lmbench: choose a command: runs, show, report, compare, export, schema, serve"),
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


def _long_store(tmp_path: Path) -> str:
    """Two runs of an item whose id carries a long install path and a long error."""
    url = f"sqlite:///{tmp_path / 'long.db'}"
    nodeid = (
        ".tox/demo/lib/python3.11/site-packages/capability_suites/general_text/"
        "summarization.json::summarization_004[HuggingFaceTB/SmolLM2-135M-Instruct-Q8_0]"
    )
    with open_store(url) as store:
        for run_id, started in ((RUN_A, "2026-05-01T12:00:00+00:00"), (RUN_B, "2026-05-02")):
            store.begin_run(
                RunInfo(
                    id=run_id,
                    started_at=started,
                    status="completed",
                    backend="openai",
                    base_url="http://127.0.0.1:1",
                    plugin_version="0.1.0",
                )
            )
            store.add_result(
                run_id,
                ResultEntry(
                    nodeid=nodeid,
                    model="m",
                    kind="capability",
                    capability="general_text",
                    case_id="summarization_004",
                    outcome="failed",
                    error="x" * 300,
                    metrics={"quality_score": 0.123456},
                    timing={"ttft_s": 0.123456, "decode_tps": 123.456},
                ),
            )
            store.finish_run(run_id, "completed", "2026-05-03T00:00:00+00:00")
    return url


def test_lines_fit_100_columns_unless_wide(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _long_store(tmp_path)
    for command in (["show", "aaaa"], ["compare", "aaaa", "bbbb"], ["runs"]):
        status, out, _ = run_cli(capsys, "--db", url, *command)
        assert status == 0
        assert max(len(line) for line in out.splitlines()) <= 100, command
        assert "…" in out or command == ["runs"]
        # The case and the model stay readable at the end of the shortened id.
        assert "Q8_0]" in out or command == ["runs"]
    status, out, _ = run_cli(capsys, "--db", url, "show", "aaaa", "-w")
    assert status == 0
    assert "x" * 300 in out
    assert ".tox/demo/lib/python3.11/site-packages/capability_suites" in out


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'big.db'}"
    with open_store(url) as store:
        store.begin_run(
            RunInfo(
                id=RUN_A,
                started_at="2026-05-01",
                status="completed",
                backend="openai",
                base_url="http://x",
                plugin_version="0",
            )
        )
        for index in range(300):  # more lines than head reads at once
            store.add_result(
                RUN_A,
                ResultEntry(
                    nodeid=f"t/c.json::case_{index}[m]",
                    model="m",
                    kind="capability",
                    capability="t",
                    case_id=f"case_{index}",
                    outcome="passed",
                ),
            )
    # The shell's `lmbench show RUN | head -1`: the reader leaves early.
    command = [sys.executable, "-m", "pytest_lmbench", "--db", url, "show", "aaaa"]
    shell = f"{' '.join(command)} | head -1 >/dev/null; echo ${{PIPESTATUS[0]}}"
    done = subprocess.run(
        ["bash", "-c", shell], capture_output=True, text=True, check=False, timeout=60
    )
    assert (done.stdout, done.stderr) == ("0\n", "")
