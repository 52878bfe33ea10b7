"""Step-by-step scoring of agentic conversations, and the metrics built on it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_lmbench.backends.base import ToolCall
from pytest_lmbench.metrics.agentic import check_steps
from pytest_lmbench.metrics.scoring import ScoringInput, quality_score, score_case
from pytest_lmbench.suites.schema import ExpectedCall

TOOLS = [
    {"name": name, "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}
    for name in ("a", "b", "c")
]


def made(name: str, q: str) -> ToolCall:
    return ToolCall(name=name, arguments_json=json.dumps({"q": q}))


def wanted(name: str, q: str) -> ExpectedCall:
    return ExpectedCall(name=name, arguments={"q": [q]})


STEPS = [[wanted("a", "1")], [wanted("b", "2")], [wanted("c", "3")]]


def test_every_step_right_in_order() -> None:
    turns = [[made("a", "1")], [made("b", "2")], [made("c", "3")]]
    score = check_steps(turns, STEPS, TOOLS)
    assert (score.steps_taken, score.steps_correct, score.calls_correct) == (3, 3, 1.0)
    assert score.problems == []


def test_a_skipped_step_is_named() -> None:
    score = check_steps([[made("a", "1")], [made("c", "3")]], STEPS, TOOLS)
    assert score.calls_correct == pytest.approx(2 / 3)
    assert score.problems == ["step 2 (b) skipped"]


def test_a_wrong_step_says_why_and_in_which_turn() -> None:
    score = check_steps([[made("a", "1")], [made("b", "9")], [made("c", "3")]], STEPS, TOOLS)
    [problem] = score.problems
    assert problem.startswith("step 2 (b) wrong in turn 2: parameter 'q' of b is '9'")


def test_order_is_kept_unless_the_case_allows_any() -> None:
    swapped = [[made("b", "2")], [made("a", "1")], [made("c", "3")]]
    strict = check_steps(swapped, STEPS, TOOLS)
    assert strict.steps_correct == 2
    assert check_steps(swapped, STEPS, TOOLS, "any").calls_correct == 1.0


def test_extra_turns_count_against_the_calls() -> None:
    turns = [[made("a", "1")], [made("a", "1")], [made("b", "2")], [made("c", "3")]]
    score = check_steps(turns, STEPS, TOOLS)
    assert score.calls_correct == 3 / 4
    assert score.problems == ["turn 2 made calls no step expects: a"]


def test_parallel_calls_of_one_step_in_any_order() -> None:
    step = [[wanted("a", "1"), wanted("a", "2")]]
    assert check_steps([[made("a", "2"), made("a", "1")]], step, TOOLS).calls_correct == 1.0
    one_turn_each = check_steps([[made("a", "1")], [made("a", "2")]], step, TOOLS)
    assert one_turn_each.steps_correct == 0


def test_no_step_and_no_call_is_right() -> None:
    assert check_steps([], [], TOOLS).calls_correct == 1.0
    assert check_steps([[made("a", "1")]], [], TOOLS).calls_correct == 0.0


def scored(turns: list[list[ToolCall]], answer: str) -> dict[str, Any]:
    metrics = score_case(
        ScoringInput(
            "multi_step",
            output=answer,
            references=["in transit"],
            tools=TOOLS,
            turn_calls=turns,
            expected_steps=STEPS,
        )
    )
    return {**metrics, "quality_score": quality_score("multi_step", metrics)}


def test_metrics_of_a_right_and_of_a_skipping_conversation() -> None:
    right = scored([[made("a", "1")], [made("b", "2")], [made("c", "3")]], "It is in transit.")
    assert right["quality_score"] == right["agentic_accuracy"] == 1.0
    assert right["steps_taken"] == 3
    assert right["agentic_problems"] == ""
    skipping = scored([[made("a", "1")], [made("c", "3")]], "It is in transit.")
    assert skipping["agentic_accuracy"] == 0.0
    assert skipping["quality_score"] == pytest.approx(0.25 * 2 / 3 + 0.25)
    assert skipping["agentic_problems"] == "step 2 (b) skipped"
    wrong_answer = scored([[made("a", "1")], [made("b", "2")], [made("c", "3")]], "Delivered.")
    assert wrong_answer["final_answer_correct"] == 0.0
    assert wrong_answer["agentic_problems"] == "the final answer names no reference"
