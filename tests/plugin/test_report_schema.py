"""The JSON report's published JSON Schema: shipped in the package, generated from the records."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from pytest_lmbench.cli import main as cli_main
from pytest_lmbench.records import report_json_schema
from pytest_lmbench.testing import LMStudioTestServer

from .conftest import lmbench_args


def shipped_schema() -> Any:
    text = resources.files("pytest_lmbench").joinpath("schemas/report-v1.json").read_text()
    return json.loads(text)


def test_the_shipped_schema_is_the_one_the_records_make() -> None:
    # After changing pytest_lmbench/records.py:
    #   lmbench schema > pytest_lmbench/schemas/report-v1.json
    assert shipped_schema() == report_json_schema()
    Draft202012Validator.check_schema(shipped_schema())


def test_lmbench_schema_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == shipped_schema()


def test_a_real_report_is_valid(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    pytester.runpytest(
        f"--lm-suite-dir={suite}", "--lm-model=qwen/qwen3-4b", *lmbench_args(lms, pytester.path)
    )
    report = json.loads((pytester.path / "out" / "latest.json").read_text())
    kinds = {r["kind"] for r in report["results"]}
    assert kinds == {"capability", "throughput"}
    errors = sorted(Draft202012Validator(shipped_schema()).iter_errors(report), key=str)
    assert [f"{list(e.absolute_path)}: {e.message}" for e in errors] == []
