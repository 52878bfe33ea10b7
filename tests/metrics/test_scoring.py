"""The capability scorer: per-task metrics and the weighted quality score."""

from __future__ import annotations

import json

import pytest

from pytest_lmbench.backends.base import ToolCall
from pytest_lmbench.metrics.scoring import (
    DEFAULT_WEIGHTS,
    ScoringInput,
    quality_score,
    score_case,
)
from pytest_lmbench.suites.schema import ExpectedCall
from pytest_lmbench.vocabulary import TASK_METRICS, TASKS

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


def test_every_task_has_metrics_and_weights() -> None:
    tasks = {task for group in TASKS.values() for task in group}
    assert set(TASK_METRICS) == tasks
    assert set(DEFAULT_WEIGHTS) == tasks
    for task, weights in DEFAULT_WEIGHTS.items():
        assert set(weights) <= set(TASK_METRICS[task])
        assert sum(weights.values()) == pytest.approx(1.0)


def test_qa_case() -> None:
    scores = score_case(
        ScoringInput(
            "qa",
            output="<think>Lyon?</think>The capital is Paris.",
            reasoning="",
            references=["Paris"],
        )
    )
    assert scores["exact_match"] == 0.0
    assert scores["f1"] == pytest.approx(0.5)  # "capital is paris" vs "paris": P=1/3, R=1
    assert scores["coherence"] == "ok"
    assert scores["repetition_ratio"] == 0.0
    assert quality_score("qa", scores) == pytest.approx(0.25)


def test_summarization_case() -> None:
    scores = score_case(
        ScoringInput(
            "summarization",
            output="the cat sat on the mat",
            reasoning="",
            references=["a cat sat on a mat"],
        )
    )
    assert scores["rouge1"] == pytest.approx(2 / 3)
    assert scores["rouge2"] == pytest.approx(0.4)
    assert set(scores) == {"rouge1", "rouge2", "rougeL", "repetition_ratio", "coherence"}


def test_classification_case() -> None:
    scores = score_case(
        ScoringInput(
            "classification",
            output="The sentiment is positive.",
            reasoning="",
            references=["positive"],
        )
    )
    assert (scores["accuracy"], scores["exact_match"]) == (1.0, 0.0)
    assert quality_score("classification", scores) == pytest.approx(0.75)


def test_math_case_ignores_reasoning_field() -> None:
    scores = score_case(
        ScoringInput(
            "math", output="So she has 12 apples.", reasoning="The answer is 15", references=["12"]
        )
    )
    assert scores["accuracy"] == 1.0
    wrong = score_case(
        ScoringInput("math", output="No idea.", reasoning="The answer is 12", references=["12"])
    )
    assert wrong["accuracy"] == 0.0


def test_vision_tasks_use_keyword_accuracy() -> None:
    counting = score_case(
        ScoringInput("counting", output="I see three dogs.", reasoning="", references=["3"])
    )
    assert counting["accuracy"] == 1.0
    caption = score_case(
        ScoringInput("caption", output="A cat sleeping on a sofa", reasoning="", references=["cat"])
    )
    assert caption["accuracy"] == 1.0
    assert caption["rougeL"] is not None


def test_function_call_case() -> None:
    expected = [ExpectedCall(name="get_weather", arguments={"location": ["Paris"]})]
    calls = [ToolCall(name="get_weather", arguments_json=json.dumps({"location": "paris"}))]
    scores = score_case(
        ScoringInput(
            "function_call",
            output="",
            reasoning="",
            references=[],
            tool_calls=calls,
            expected_calls=expected,
            tools=[WEATHER],
        )
    )
    assert scores["function_call_accuracy"] == 1.0
    assert scores["call_produced"] == scores["name_correct"] == scores["args_correct"] == 1.0
    assert scores["tool_problems"] == ""
    assert quality_score("function_call", scores) == 1.0

    bad = score_case(
        ScoringInput(
            "function_call",
            output="",
            reasoning="",
            references=[],
            tool_calls=[ToolCall(name="get_weather", arguments_json="{oops")],
            expected_calls=expected,
            tools=[WEATHER],
        )
    )
    assert bad["function_call_accuracy"] == 0.0
    assert isinstance(bad["tool_problems"], str)
    assert bad["tool_problems"].startswith("arguments of get_weather are not JSON")


def test_function_call_without_expected_calls_is_unscored() -> None:
    scores = score_case(ScoringInput("function_call", output="", reasoning="", references=[]))
    assert scores["function_call_accuracy"] is None
    assert quality_score("function_call", scores) is None


def test_case_without_references_is_unscored() -> None:
    scores = score_case(ScoringInput("qa", output="Paris", reasoning="", references=[]))
    assert scores["exact_match"] is None
    assert scores["f1"] is None
    assert quality_score("qa", scores) is None


def test_health_fields() -> None:
    looping = score_case(
        ScoringInput(
            "qa",
            output="the cat sat " * 30,
            reasoning="",
            references=["cat"],
            finish_reason="length",
            output_tokens=90,
            max_tokens=90,
        )
    )
    assert looping["coherence"] == "repetitive"
    assert isinstance(looping["repetition_ratio"], float)
    assert looping["repetition_ratio"] > 0.3
    cut = score_case(
        ScoringInput(
            "qa",
            output="Paris is",
            reasoning="",
            references=["Paris"],
            output_tokens=2,
            max_tokens=2,
        )
    )
    assert cut["coherence"] == "truncated"


def test_unknown_task() -> None:
    with pytest.raises(ValueError, match="unknown task 'poetry'"):
        score_case(ScoringInput("poetry", output="", reasoning="", references=[]))


def test_quality_score_weights() -> None:
    metrics = {"exact_match": 0.0, "f1": 0.5, "coherence": "ok"}
    assert quality_score("qa", metrics) == pytest.approx(0.25)
    # user weights replace the task's defaults
    assert quality_score("qa", metrics, {"qa": {"f1": 1.0}}) == pytest.approx(0.5)
    # other tasks keep their defaults
    assert quality_score("qa", metrics, {"math": {"accuracy": 2.0}}) == pytest.approx(0.25)
    # renormalised over metrics that are present
    assert quality_score("qa", {"f1": 0.8}) == pytest.approx(0.8)
    assert quality_score("qa", {"f1": None, "exact_match": 1.0}) == pytest.approx(1.0)
    # tool parts may be weighted by users
    parts = {"function_call_accuracy": 0.0, "args_correct": 0.5}
    weights = {"function_call": {"function_call_accuracy": 1.0, "args_correct": 1.0}}
    assert quality_score("function_call", parts, weights) == pytest.approx(0.25)


def test_quality_score_ignores_bad_values_and_weights() -> None:
    assert quality_score("qa", {}) is None
    assert quality_score("unknown", {"f1": 1.0}) is None
    assert quality_score("qa", {"f1": True, "exact_match": float("nan")}) is None
    assert quality_score("qa", {"f1": 1.0}, {"qa": {"f1": -1.0}}) is None
    assert quality_score("qa", {"f1": 7.0}) == 1.0  # clamped
