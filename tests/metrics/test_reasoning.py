"""Final-answer extraction, number comparison and reasoning accuracy."""

from __future__ import annotations

import pytest

from pytest_lmbench.metrics.reasoning import (
    accuracy,
    answers_match,
    extract_final_answer,
    numbers_equal,
    strip_reasoning,
)


@pytest.mark.parametrize(
    ("text", "visible"),
    [
        ("<think>42 maybe</think>The answer is 7.", "The answer is 7."),
        ("<thinking>\nlong\n</thinking>\n\nDone", "Done"),
        ("<THINK>a</THINK>b<think>c</think>d", "bd"),
        ("<think>never closed, 5 apples", ""),
        ("answer 3 <think>then thinking again", "answer 3"),
        ("thinking from a template prompt</think> Final: 9", "Final: 9"),
        ("no tags at all", "no tags at all"),
    ],
)
def test_strip_reasoning(text: str, visible: str) -> None:
    assert strip_reasoning(text) == visible


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Answer: 42", "42"),
        ("**Answer:** 42", "42"),
        ("The answer is Paris.", "Paris"),
        ("The answer is:\n\n**42**", "42"),
        ("The answer is 12 because 3 times 4 is 12", "12"),
        ("Work: 3 + 4 = 7\n#### 7", "7"),
        ("so the result is \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),
        ("\\boxed{x^{2}}", "x^{2}"),
        ("Answer: 5. Wait, no. The answer is 6.", "6"),  # last explicit form wins
        ("#### 3\nActually \\boxed{4}", "4"),
        ("It costs $1,234.50 in total.", "$1,234.50"),
        ("We subtract: 10 - 3 = 7", "7"),
        ("The temperature is -5 degrees", "-5"),
        ("I would pick (C) here.", "C"),
        ("B", "B"),
        ("b)", "B"),
        ("The right option is D", "D"),
        ("<think>it is 99</think>Nothing numeric here", None),
        ("A cat sat", None),  # an article is not an option letter
        ("", None),
    ],
)
def test_extract_final_answer(text: str, answer: str | None) -> None:
    assert extract_final_answer(text) == answer


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("$1,234.50", "1234.5", True),
        ("1/2", "0.5", True),
        ("5.0", "5", True),
        ("5.", "5", True),
        ("-3", "−3", True),
        ("€20", "20", True),
        ("£7", "7.00", True),
        ("50%", "50", True),
        ("1,000,000", "1e6", True),
        ("1.5e3", "1500", True),
        ("1e9999", "1", False),  # an exponent of four digits is not a number here
        ("1000000", 1_000_000, True),
        ("0.1", 0.1, True),  # binary float within relative 1e-9
        ("0.333", "1/3", False),
        ("3", "-3", False),
        ("three", "3", True),
        ("abc", "abc", False),
        ("nan", float("nan"), False),
        ("1", True, False),
    ],
)
def test_numbers_equal(a: str, b: str | int | float, equal: bool) -> None:
    assert numbers_equal(a, b) is equal


@pytest.mark.parametrize(
    ("predicted", "reference", "match"),
    [
        ("B", "B", True),
        ("b", "B", True),
        ("(B)", "B", True),
        ("B)", "b", True),
        ("B) Paris", "B", True),
        ("C", "B", False),
        ("Yes", "yes", True),
        ("yes, because all bloops are razzies", "Yes", True),
        ("no", "yes", False),
        ("18 dollars", "18", True),
        ("The Butler", "butler", True),
        ("the gardener", "butler", False),
        ("", "butler", False),
        ("anything", "", False),
    ],
)
def test_answers_match(predicted: str, reference: str, match: bool) -> None:
    assert answers_match(predicted, reference) is match


def test_question_numbers_restated_do_not_confuse() -> None:
    output = (
        "A train travels 120 miles in 2 hours. Speed is distance over time, "
        "so we divide 120 by 2. That gives 60 miles per hour."
    )
    assert accuracy(output, ["60"]) == 1.0
    assert accuracy(output, ["120"]) == 0.0


def test_think_block_with_wrong_number_is_ignored() -> None:
    assert accuracy("<think>maybe 41? no...</think>The answer is 42.", ["42"]) == 1.0
    assert accuracy("<think>The answer is 42</think>The answer is 41.", ["42"]) == 0.0


def test_separate_reasoning_field_is_ignored() -> None:
    assert accuracy("I am not sure.", ["42"], reasoning="The answer is 42") == 0.0


def test_accuracy_forms() -> None:
    assert accuracy("Total: $1,234.50", ["1234.5"]) == 1.0
    assert accuracy("Half of it: 1/2", ["0.5"]) == 1.0
    assert accuracy("#### 1,234", ["1234"]) == 1.0
    assert accuracy("so x = \\boxed{5}", ["5"]) == 1.0
    assert accuracy("All bloops are lazzies, so yes, they are.", ["Yes"]) == 1.0
    assert accuracy("Looking at the options, (B) fits best.", ["B"]) == 1.0
    assert accuracy("Answer: C", ["B", "C"]) == 1.0
    assert accuracy("The butler", ["butler"]) == 1.0
    assert accuracy("", ["5"]) == 0.0
    assert accuracy("5", []) == 0.0
