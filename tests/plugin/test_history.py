"""History across runs in one store, and the figures JUnit XML carries to CI dashboards."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

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
