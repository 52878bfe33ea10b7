"""The metric registry: registering, the built-in metrics, and scoring a registered metric."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from pytest_lmbench.metrics.registry import (
    ALL_TASKS,
    MetricValue,
    ScoringInput,
    metric,
    metrics_for,
    unregister,
    weighable_metrics,
)
from pytest_lmbench.metrics.scoring import DEFAULT_WEIGHTS, quality_score, score_case
from pytest_lmbench.metrics.weights import markdown_table
from pytest_lmbench.vocabulary import TASK_METRICS, TOOL_PARTS


@pytest.fixture
def brevity() -> Iterator[str]:
    @metric("brevity", tasks=("qa", "math"), default_weight={"math": 0.5})
    def _brevity(scoring: ScoringInput) -> MetricValue:
        return 1.0 / (1 + len(scoring.answer.split()))

    yield "brevity"
    unregister("brevity")


def test_builtin_metrics_are_the_vocabulary_names() -> None:
    # The terminal summary orders metric means by vocabulary.TASK_METRICS.
    for task in ALL_TASKS:
        extra = TOOL_PARTS if task == "function_call" else ()
        assert weighable_metrics(task) == TASK_METRICS[task] + extra


def test_builtin_health_figures_are_reported_but_not_weighable() -> None:
    for task in ALL_TASKS:
        names = [m.name for m in metrics_for(task)]
        assert names[-2:] == ["repetition_ratio", "coherence"]
        assert "repetition_ratio" not in weighable_metrics(task)
    assert "tool_problems" in [m.name for m in metrics_for("function_call")]
    assert "tool_problems" not in weighable_metrics("function_call")


def test_a_registered_metric_is_scored_and_weighed(brevity: str) -> None:
    scores = score_case(ScoringInput("qa", output="<think>hmm</think>Paris", references=["Paris"]))
    assert scores[brevity] == 0.5
    assert list(scores)[-1] == brevity  # after the built-in metrics
    # Default weight 0 for qa: the quality score is unchanged until a user weights it.
    assert DEFAULT_WEIGHTS["qa"] == {"exact_match": 0.5, "f1": 0.5}
    assert quality_score("qa", scores) == 1.0
    assert quality_score("qa", scores, {"qa": {"exact_match": 1, brevity: 1}}) == 0.75
    assert DEFAULT_WEIGHTS["math"] == {"accuracy": 1.0, brevity: 0.5}
    assert brevity in weighable_metrics("qa")


def test_a_registered_metric_shows_in_the_weights_table(brevity: str) -> None:
    rows = {row.split("|")[2].strip(): row for row in markdown_table()[2:]}
    assert rows["qa"].endswith(f"| `{brevity}` |")
    assert f"`{brevity}` 0.5" in rows["math"]


def test_unregister_removes_it_everywhere(brevity: str) -> None:
    unregister(brevity)
    assert all(brevity not in weighable_metrics(task) for task in ALL_TASKS)
    assert brevity not in score_case(ScoringInput("qa", output="Paris", references=["Paris"]))


def _nothing(scoring: ScoringInput) -> MetricValue:
    return None


@pytest.mark.parametrize(
    ("name", "tasks", "weight", "message"),
    [
        ("f1", ("qa",), 0.0, "metric 'f1' is already registered for qa"),
        ("brevity", ("poetry",), 0.0, "metric 'brevity': unknown tasks ['poetry']"),
        ("brevity", (), 0.0, "metric 'brevity': unknown tasks []"),
        ("brev ity", ("qa",), 0.0, "metric name 'brev ity' is not an identifier"),
        ("brevity", ("qa",), -1.0, "metric 'brevity': a default weight must be 0 or more"),
        (
            "brevity",
            ("qa",),
            float("nan"),
            "metric 'brevity': a default weight must be 0 or more, got nan",
        ),
        (
            "brevity",
            ("qa",),
            {"math": 1.0},
            "metric 'brevity': default weights for tasks it lacks: {'math'}",
        ),
    ],
)
def test_bad_registrations_are_refused_whole(
    name: str, tasks: tuple[str, ...], weight: float | dict[str, float], message: str
) -> None:
    before = {task: metrics_for(task) for task in ALL_TASKS}
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        metric(name, tasks, weight)(_nothing)
    assert {task: metrics_for(task) for task in ALL_TASKS} == before


def test_shared_computations_run_once() -> None:
    scoring = ScoringInput("qa", output="x")
    calls: list[int] = []
    assert scoring.shared("k", lambda: calls.append(1) or 7) == 7
    assert scoring.shared("k", lambda: calls.append(1) or 8) == 7
    assert calls == [1]
