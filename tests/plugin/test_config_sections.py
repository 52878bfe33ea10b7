"""The weights and thresholds sections of --lm-config: checked at configure time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.config.sections import check_sections as check_config_sections
from pytest_lmbench.metrics.registry import MetricValue, ScoringInput, metric, unregister
from pytest_lmbench.metrics.weights import check_weights
from pytest_lmbench.testing import LMStudioTestServer
from pytest_lmbench.vocabulary import CAPABILITIES, TASK_METRICS, THROUGHPUT_LIMITS, TOOL_PARTS

from .conftest import lmbench_args

WHERE = "--lm-config: cfg.yaml"


def check_sections(sections: dict[str, Any], where: str) -> dict[str, Any]:
    """Both checks as pytest runs them: thresholds by config, weights by the metric registry."""
    return check_weights(check_config_sections(sections, where), where)


def _error(sections: dict[str, Any]) -> str:
    with pytest.raises(pytest.UsageError) as caught:
        check_sections(sections, WHERE)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(WHERE + ": ")
    return message.removeprefix(WHERE + ": ")


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"qa": {"f1": "x"}}, "weights.qa.f1: Input should be a valid number, got 'x'"),
        ({"qa": {"f1": True}}, "weights.qa.f1: Input should be a valid number, got True"),
        ({"qa": {"f1": -0.5}}, "weights.qa.f1: Input should be greater than or equal to 0"),
        ({"qa": {"f1": float("nan")}}, "weights.qa.f1: Input should be a finite number"),
        ({"qa": {"fone": 1}}, "weights.qa.fone: unknown metric 'fone' for qa; choose from "),
        ({"qa": {"f1": 0, "exact_match": 0}}, "weights.qa: needs at least one weight above 0"),
        ({"qa": {}}, "weights.qa: needs at least one weight above 0, got {}"),
        ({"qa": [1]}, "weights.qa: expected a mapping, got [1]"),
        ({"poetry": {"f1": 1}}, "weights.poetry: unknown task 'poetry'; choose from qa, "),
        (
            {"general_text": {"f1": 1}},
            "weights.general_text: weights are per task, not per capability: "
            "general_text has qa, summarization, classification",
        ),
        (
            {"math": {"f1": 1}},
            "weights.math.f1: unknown metric 'f1' for math; choose from accuracy",
        ),
    ],
)
def test_bad_weights(weights: dict[str, Any], message: str) -> None:
    assert _error({"weights": weights}).startswith(message)


def test_weights_must_be_a_mapping() -> None:
    assert _error({"weights": [1, 2]}) == "weights: expected a mapping, got [1, 2]"


def test_every_known_metric_may_be_weighted() -> None:
    weights = {task: dict.fromkeys(metrics, 1) for task, metrics in TASK_METRICS.items()}
    weights["function_call"].update(dict.fromkeys(TOOL_PARTS, 0.5))
    checked = check_sections({"weights": weights}, WHERE)["weights"]
    assert checked["function_call"] == {"function_call_accuracy": 1.0} | dict.fromkeys(
        TOOL_PARTS, 0.5
    )
    assert set(checked) == set(TASK_METRICS)


def test_valid_weights_keep_only_what_was_set() -> None:
    checked = check_sections({"weights": {"qa": {"f1": 1, "exact_match": 0}}}, WHERE)
    assert checked == {"weights": {"qa": {"f1": 1.0, "exact_match": 0.0}}}


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        (
            {"min_quality": "high"},
            "thresholds.min_quality: Input should be a valid number, got 'high'",
        ),
        ({"min_quality": 1.5}, "thresholds.min_quality: Input should be less than or equal to 1"),
        ({"reasoning": {"min_quality": -1}}, "thresholds.reasoning.min_quality: Input should be"),
        ({"reasonin": {"min_quality": 0.5}}, "thresholds.reasonin: unknown key 'reasonin'; choose"),
        ({"reasoning": 0.5}, "thresholds.reasoning: expected a mapping, got 0.5"),
        (
            {"throughput": {"min_quality": 0.5}},
            "thresholds.throughput.min_quality: unknown key 'min_quality'; "
            "choose from " + ", ".join(THROUGHPUT_LIMITS),
        ),
        (
            {"throughput": {"min_decode_tps": 0}},
            "thresholds.throughput.min_decode_tps: Input should be greater than 0",
        ),
        (
            {"models": {"qwen/qwen3-4b": {"min_quality": 0.8}}},
            "thresholds.models.qwen/qwen3-4b.min_quality: unknown key 'min_quality'; "
            "choose from " + ", ".join(CAPABILITIES),
        ),
        (
            {"models": {"qwen/qwen3-4b": {"tooling": {"min_qualty": 0.8}}}},
            "thresholds.models.qwen/qwen3-4b.tooling.min_qualty: unknown key 'min_qualty'; "
            "choose from min_quality",
        ),
        ({"models": [1]}, "thresholds.models: expected a mapping, got [1]"),
        ([0.5], "thresholds: expected a mapping, got [0.5]"),
    ],
)
def test_bad_thresholds(thresholds: Any, message: str) -> None:
    assert _error({"thresholds": thresholds}).startswith(message)


def test_readme_thresholds_example_is_valid() -> None:
    thresholds = {
        "min_quality": 0.6,
        "reasoning": {"min_quality": 0.7},
        "throughput": {"min_decode_tps": 20, "max_ttft_p95_s": 1.5},
        "models": {"qwen/qwen3-4b": {"tooling": {"min_quality": 0.8}}},
    }
    assert check_sections({"thresholds": thresholds}, WHERE) == {
        "thresholds": {
            "min_quality": 0.6,
            "reasoning": {"min_quality": 0.7},
            "throughput": {"min_decode_tps": 20.0, "max_ttft_p95_s": 1.5},
            "models": {"qwen/qwen3-4b": {"tooling": {"min_quality": 0.8}}},
        }
    }


def test_empty_sections_and_gates_pass_through() -> None:
    gates = {"reasoning": {"min_quality": 0.5}}
    assert check_sections({"weights": None, "thresholds": None, "gates": gates}, WHERE) == {
        "gates": gates
    }


# -- through pytest ------------------------------------------------------------------------


def _run(pytester: pytest.Pytester, text: str) -> tuple[pytest.RunResult, Path]:
    cfg = pytester.makefile(".yaml", cfg=text)
    pytester.makepyfile("def test_plain():\n    assert True\n")
    return pytester.runpytest(f"--lm-config={cfg}", "-p", "no:cacheprovider"), cfg


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("weights:\n  qa: {f1: x}\n", "weights.qa.f1: Input should be a valid number, got 'x'"),
        ("weights:\n  qa: {fone: 1}\n", "weights.qa.fone: unknown metric 'fone' for qa"),
        ("weights: [1, 2]\n", "weights: expected a mapping, got [1, 2]"),
        (
            "thresholds:\n  min_quality: high\n",
            "thresholds.min_quality: Input should be a valid number",
        ),
    ],
)
def test_bad_section_is_one_usage_error_line(
    pytester: pytest.Pytester, text: str, message: str
) -> None:
    result, cfg = _run(pytester, text)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1
    assert errors[0].startswith(f"ERROR: --lm-config: {cfg}: {message}")
    assert "Traceback" not in result.stderr.str()
    assert "test_plain" not in result.stdout.str()


def test_valid_sections_let_the_session_run(pytester: pytest.Pytester) -> None:
    result, _ = _run(
        pytester, "weights:\n  qa: {f1: 0.7, exact_match: 0.3}\nthresholds:\n  min_quality: 0.6\n"
    )
    result.assert_outcomes(passed=1)


# -- a metric registered outside the package ---------------------------------------------


@pytest.fixture
def brevity() -> Iterator[str]:
    # pytester runs in this process: the inner session sees this registration.
    @metric("brevity", tasks=("qa",), default_weight=0.0)
    def _brevity(scoring: ScoringInput) -> MetricValue:
        return 1.0 / (1 + len(scoring.answer.split()))

    yield "brevity"
    unregister("brevity")


def test_a_registered_metric_is_a_weights_choice(pytester: pytest.Pytester, brevity: str) -> None:
    result, _ = _run(pytester, f"weights:\n  qa: {{{brevity}: 1}}\n")
    result.assert_outcomes(passed=1)
    result, cfg = _run(pytester, "weights:\n  qa: {nonsense: 1}\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: --lm-config: {cfg}: weights.qa.nonsense: unknown metric 'nonsense' for qa; "
            f"choose from exact_match, f1, {brevity}"
        ]
    )


def test_a_registered_metric_is_scored_and_weighed(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path, brevity: str
) -> None:
    cfg = pytester.makefile(".yaml", cfg=f"weights:\n  qa: {{exact_match: 1, {brevity}: 1}}\n")
    result = pytester.runpytest(
        f"--lm-suite-dir={suite}",
        "--lm-model=qwen/qwen3-4b",
        f"--lm-config={cfg}",
        "--lm-formats=json",
        "-m",
        "not throughput",
        *lmbench_args(lms, pytester.path),
    )
    result.assert_outcomes(passed=3)
    report = json.loads((pytester.path / "out" / "latest.json").read_text())
    metrics = {r["case_id"]: r["metrics"] for r in report["results"]}
    for case in ("capital_fr", "moon_year"):  # one-word answers, exactly right
        assert metrics[case][brevity] == 0.5
        assert metrics[case]["quality_score"] == 0.75  # (1 * 1.0 + 1 * 0.5) / 2
    assert brevity not in metrics["math_001"]
    assert metrics["math_001"]["quality_score"] == 1.0
