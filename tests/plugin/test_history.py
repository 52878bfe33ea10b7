"""History across runs in one store, and the figures JUnit XML carries to CI dashboards."""

from __future__ import annotations

import contextlib
import csv
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_lmbench.cli import main as cli_main
from pytest_lmbench.testing import LMStudioTestServer

from .conftest import lmbench_args


@pytest.mark.timing  # a speed ratio: run in the serial stage, not beside other tests
def test_second_run_reports_speed_delta_against_the_first(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    args = [f"--lm-suite-dir={suite}", "--lm-model=qwen/qwen3-4b", "-m", "throughput"]
    lms.engine.script.token_interval_s = 0.010
    pytester.runpytest(*args, *lmbench_args(lms, pytester.path)).assert_outcomes(passed=1)
    lms.engine.script.token_interval_s = 0.005  # twice as fast
    junit = pytester.path / "junit.xml"
    pytester.runpytest(
        *args, f"--junitxml={junit}", *lmbench_args(lms, pytester.path)
    ).assert_outcomes(passed=1)
    [item] = json.loads((pytester.path / "out" / "latest.json").read_text())["results"]
    assert item["timing"]["speed_delta_pct"] == pytest.approx(100.0, rel=0.25)
    properties = {p.get("name"): p.get("value") for p in ET.parse(junit).iter("property")}
    assert float(properties["decode_tps"]) > 0
    assert float(properties["ttft_s"]) > 0


def test_capability_items_carry_quality_score_to_junit(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest(
        f"--lm-suite-dir={suite}",
        "--lm-model=qwen/qwen3-4b",
        "-k",
        "capital_fr",
        f"--junitxml={junit}",
        *lmbench_args(lms, pytester.path),
    )
    result.assert_outcomes(passed=1)
    properties = {p.get("name"): p.get("value") for p in ET.parse(junit).iter("property")}
    assert float(properties["quality_score"]) == 1.0


def test_a_capability_request_is_a_measurement_row(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    import sqlite3

    pytester.runpytest(
        f"--lm-suite-dir={suite}",
        "--lm-model=qwen/qwen3-4b",
        "-k",
        "capital_fr",
        *lmbench_args(lms, pytester.path),
    ).assert_outcomes(passed=1)
    with sqlite3.connect(pytester.path / "results.db") as db:
        rows = db.execute("SELECT ttft_s, output_tokens FROM measurements").fetchall()
    assert len(rows) == 1
    [(ttft_s, output_tokens)] = rows
    assert ttft_s > 0
    assert output_tokens > 0
    [item] = json.loads((pytester.path / "out" / "latest.json").read_text())["results"]
    assert item["timing"]["ttft_s"] == item["timing"]["samples"][0]["ttft_s"]


def _history_svg(html: str) -> str:
    [svg] = [s for s in re.findall(r"<svg.*?</svg>", html, re.S) if "Decode speed history" in s]
    return svg


def test_lmbench_report_draws_the_history_of_the_session_report(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    """One history function: the CLI matches models by their own fingerprint, as the session."""
    args = [f"--lm-suite-dir={suite}", "--lm-model=qwen/qwen3-4b", "-m", "throughput"]
    for _ in range(2):
        pytester.runpytest(*args, *lmbench_args(lms, pytester.path)).assert_outcomes(passed=1)
    out = pytester.path / "out"
    run_id = json.loads((out / "latest.json").read_text())["run"]["id"]
    db = f"sqlite:///{pytester.path / 'results.db'}"
    assert cli_main(["--db", db, "report", run_id, "--output", str(pytester.path / "cli")]) == 0
    session_chart = _history_svg((out / "latest.html").read_text())
    cli_chart = _history_svg((pytester.path / "cli" / "latest.html").read_text())
    assert session_chart.count("<circle") == 2  # both runs, not "no history yet"
    assert cli_chart == session_chart


def test_repeated_requests_store_and_export_the_same_output_tokens(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    pytester.runpytest(
        f"--lm-suite-dir={suite}",
        "--lm-model=qwen/qwen3-4b",
        "-k",
        "math",
        "--lm-repeat=3",
        "--lm-formats=json,csv",
        *lmbench_args(lms, pytester.path),
    ).assert_outcomes(passed=1)
    out = pytester.path / "out"
    [item] = json.loads((out / "latest.json").read_text())["results"]
    per_request = [s["output_tokens"] for s in item["timing"]["samples"]]
    assert len(per_request) == 3
    with contextlib.closing(sqlite3.connect(pytester.path / "results.db")) as db:
        [(stored,)] = db.execute("SELECT output_tokens FROM results").fetchall()
    [row] = list(csv.DictReader((out / "latest.csv").read_text(encoding="utf-8").splitlines()))
    assert stored == int(row["output_tokens"]) == sum(per_request)


def test_a_scoring_setting_changes_the_fingerprint_and_its_absence_keeps_it(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    """--lm-require-schema changes function_call_accuracy: its scores are another series."""
    args = [f"--lm-suite-dir={suite}", "--lm-model=qwen/qwen3-4b", "-m", "general_text"]

    def fingerprint(*extra: str) -> str:
        pytester.runpytest(*args, *lmbench_args(lms, pytester.path, *extra))
        report = json.loads((pytester.path / "out" / "latest.json").read_text())
        value: str = report["models"][0]["metadata"]["fingerprint"]
        return value

    plain = fingerprint()
    assert fingerprint("--lm-require-schema") != plain
    assert fingerprint() == plain
