"""Collection of suite files: a malformed file is an error naming file, case and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_lmbench.testing import LMStudioTestServer

from .conftest import lmbench_args


def test_malformed_case_names_file_case_and_field_and_others_still_run(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    broken = {
        "capability": "general_text",
        "task": "qa",
        "template": "qa_template.md",
        "cases": [{"id": "bad_case", "input": {"question": "?"}, "references": "Paris"}],
    }
    (suite / "general_text" / "broken.json").write_text(json.dumps(broken))
    (suite / "general_text" / "not_json.json").write_text("{ nope")
    result = pytester.runpytest(
        f"--lm-suite-dir={suite}", "--lm-model=qwen/qwen3-4b", *lmbench_args(lms, pytester.path)
    )
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*broken.json: case bad_case: field references: Input should be a valid list*",
            "*not_json.json: not valid JSON (line 1*",
        ]
    )


def test_report_has_environment_fingerprint_and_hardware(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    pytester.runpytest(
        f"--lm-suite-dir={suite}", "--lm-model=qwen/qwen3-4b", *lmbench_args(lms, pytester.path)
    )
    report = json.loads((pytester.path / "out" / "latest.json").read_text())
    run = report["run"]
    assert run["fingerprint"]
    assert {"os", "kernel", "cpu_model", "ram_gb", "python_version", "gpus"} <= set(
        run["environment"]
    )
    assert report["models"][0]["metadata"]["fingerprint"]
    for item in report["results"]:
        # Items of a few milliseconds may have no CPU % (too short a window): keys, not values.
        assert {"cpu_pct", "ram_gb", "vram_gb", "gpu_temp_c", "energy_j"} <= set(item["hardware"])
        assert item["hardware"]["ram_gb"]["max"] is not None


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ({"prompt_tokens": 512, "gen_tokens": 128, "concurrency": 100_000}, "concurrency"),
        ({"prompt_tokens": 5_000_000, "gen_tokens": 128}, "prompt_tokens"),
        ({"prompt_tokens": 512, "gen_tokens": 10**9}, "gen_tokens"),
    ],
)
def test_a_throughput_grid_beyond_sane_bounds_is_a_collection_error(
    pytester: pytest.Pytester,
    lms: LMStudioTestServer,
    suite: Path,
    case: dict[str, int],
    field: str,
) -> None:
    grid = {"capability": "throughput", "cases": [case]}
    (suite / "throughput" / "huge.json").write_text(json.dumps(grid))
    result = pytester.runpytest(
        f"--lm-suite-dir={suite}", "--lm-model=qwen/qwen3-4b", *lmbench_args(lms, pytester.path)
    )
    result.stdout.fnmatch_lines([f"*huge.json: case #0: field {field}: *less than or equal to*"])
    assert result.parseoutcomes()["errors"] == 1


@pytest.mark.parametrize("named", ["root", "capability folder", "file"])
def test_a_suite_folder_named_on_the_command_line_is_collected_without_lm_suite_dir(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path, named: str
) -> None:
    target = {
        "root": suite,
        "capability folder": suite / "general_text",
        "file": suite / "general_text" / "qa.json",
    }[named]
    result = pytester.runpytest(
        str(target), "--lm-model=qwen/qwen3-4b", *lmbench_args(lms, pytester.path)
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 2
    assert "errors" not in outcomes
    report = json.loads((pytester.path / "out" / "latest.json").read_text())
    assert len(report["results"]) == outcomes["passed"]
