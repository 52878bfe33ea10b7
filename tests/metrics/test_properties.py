"""Property tests: no metric raises on any text, and every score is in [0, 1]."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_lmbench.backends.base import ToolCall
from pytest_lmbench.metrics import health, reasoning, text
from pytest_lmbench.metrics.scoring import TASK_METRICS, ScoringInput, quality_score, score_case
from pytest_lmbench.metrics.tools import check_tool_calls
from pytest_lmbench.suites.schema import ExpectedCall

# Arbitrary unicode plus the characters the parsers care about.
SPECIAL = st.sampled_from(
    ["<think>", "</think>", "<thinking>", "\\boxed{", "}", "####", "Answer:", "the answer is",
     "$", "€", "%", "/", ",", ".", "-", "−", "(B)", "B)", " ", "\n", "1", "3.5", "1,234",
     "three", "yes", "\ufffd", "\x00"]
)  # fmt: skip
TEXT = st.lists(st.one_of(st.text(max_size=20), SPECIAL), max_size=30).map("".join)
REFERENCES = st.lists(TEXT, max_size=3)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
PROPERTY = settings(max_examples=200, deadline=None)


def in_unit_interval(value: float) -> bool:
    return 0.0 <= value <= 1.0


@PROPERTY
@given(TEXT, REFERENCES)
def test_text_metrics_are_bounded(prediction: str, references: list[str]) -> None:
    assert in_unit_interval(text.exact_match(prediction, references))
    assert in_unit_interval(text.f1(prediction, references))
    assert in_unit_interval(text.keyword_accuracy(prediction, references))
    assert all(in_unit_interval(v) for v in text.rouge(prediction, references).values())
    assert isinstance(text.normalize_answer(prediction), str)
    text.parse_number(prediction)


@PROPERTY
@given(TEXT, REFERENCES, TEXT)
def test_reasoning_metrics_are_bounded(output: str, references: list[str], thought: str) -> None:
    assert in_unit_interval(reasoning.accuracy(output, references, thought))
    answer = reasoning.extract_final_answer(output)
    assert answer is None or isinstance(answer, str)
    assert "<think>" not in reasoning.strip_reasoning(output).lower()
    for reference in references:
        assert isinstance(reasoning.answers_match(output, reference), bool)
        assert isinstance(reasoning.numbers_equal(output, reference), bool)


@PROPERTY
@given(
    TEXT,
    st.sampled_from([None, "stop", "length"]),
    st.none() | st.integers(),
    st.none() | st.integers(),
)
def test_health_is_bounded(
    output: str, finish_reason: str | None, output_tokens: int | None, max_tokens: int | None
) -> None:
    assert in_unit_interval(health.repetition_ratio(output))
    flag = health.coherence(output, finish_reason, output_tokens, max_tokens)
    assert flag in ("ok", "truncated", "repetitive", "garbled")


@PROPERTY
@given(st.sampled_from(sorted(TASK_METRICS)), TEXT, TEXT, REFERENCES)
def test_score_case_is_bounded(task: str, output: str, thought: str, references: list[str]) -> None:
    scores = score_case(ScoringInput(task, output=output, reasoning=thought, references=references))
    for name, value in scores.items():
        if isinstance(value, float):
            assert in_unit_interval(value), name
    quality = quality_score(task, scores)
    assert quality is None or in_unit_interval(quality)


CALLS = st.lists(
    st.builds(
        ToolCall,
        name=st.sampled_from(["f", "g", "h"]),
        arguments_json=st.one_of(TEXT, JSON_VALUES.map(json.dumps)),
    ),
    max_size=3,
)
EXPECTED = st.lists(
    st.builds(
        ExpectedCall,
        name=st.sampled_from(["f", "g"]),
        arguments=st.dictionaries(st.sampled_from(["a", "b"]), st.lists(JSON_VALUES, max_size=3)),
    ),
    max_size=3,
)
TOOLS: list[dict[str, Any]] = [
    {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}},
    {"type": "function", "function": {"name": "g", "parameters": {"type": "dict"}}},
]


@PROPERTY
@given(CALLS, EXPECTED)
def test_tool_checker_is_bounded(calls: list[ToolCall], expected: list[ExpectedCall]) -> None:
    score = check_tool_calls(calls, expected, TOOLS)
    parts = (score.call_produced, score.name_correct, score.args_correct)
    assert all(in_unit_interval(v) for v in parts)
    assert score.function_call_accuracy in (0.0, 1.0)
    assert not any(problem.startswith("tool checker failed") for problem in score.problems)
    if score.function_call_accuracy == 1.0:
        assert score.args_correct == score.name_correct == score.call_produced == 1.0
