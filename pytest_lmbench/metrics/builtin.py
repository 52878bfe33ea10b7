"""The built-in metrics: the scorers of text.py, reasoning.py, tools.py and health.py, registered.

Registration order is the order a case's metrics are reported in, so it is
chosen to keep each task's familiar order: rouge1/2/L, then accuracy before
exact_match (classification), exact_match before f1 (qa), the tool-call parts
after function_call_accuracy, and the health figures last.

Text and tool scorers are imported inside the wrappers: importing this module
(which every ``pytest_lmbench.metrics`` import does) must not load rouge-score
or scipy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from pytest_lmbench.metrics.health import coherence as coherence_flag
from pytest_lmbench.metrics.health import repetition_ratio as repetition
from pytest_lmbench.metrics.registry import ALL_TASKS, MetricValue, ScoringInput, metric

if TYPE_CHECKING:
    from pytest_lmbench.metrics.agentic import StepScore
    from pytest_lmbench.metrics.tools import ToolScore

_REASONING_TASKS = ("logical", "math")
_KEYWORD_TASKS = ("classification", "caption", "vqa", "ocr", "counting")
_TOOL_TASKS = ("function_call",)
_AGENTIC_TASKS = ("multi_step",)


def _rouge(scoring: ScoringInput, key: str) -> MetricValue:
    if not scoring.has_references:
        return None  # nothing to compare with: unscored, not zero
    from pytest_lmbench.metrics.text import rouge

    return scoring.shared("rouge", lambda: rouge(scoring.answer, scoring.references))[key]


# ROUGE-L rewards fluent ordering; unigram and bigram overlap share the rest.
@metric("rouge1", tasks=("summarization",), default_weight=0.25)
def rouge1(scoring: ScoringInput) -> MetricValue:
    return _rouge(scoring, "rouge1")


@metric("rouge2", tasks=("summarization",), default_weight=0.25)
def rouge2(scoring: ScoringInput) -> MetricValue:
    return _rouge(scoring, "rouge2")


# For a caption, wording overlap and naming the key object count equally.
@metric("rougeL", tasks=("summarization", "caption"), default_weight=0.5)
def rouge_l(scoring: ScoringInput) -> MetricValue:
    return _rouge(scoring, "rougeL")


# Naming the right label matters most in classification; answering with the bare
# label is exact_match's format bonus, and keeps "positive or negative? negative"
# from scoring full.
@metric(
    "accuracy",
    tasks=_KEYWORD_TASKS,
    default_weight={
        "classification": 0.75,
        "caption": 0.5,
        "vqa": 1.0,
        "ocr": 1.0,
        "counting": 1.0,
    },
)
def keyword_accuracy(scoring: ScoringInput) -> MetricValue:
    """A reference keyword occurs as whole words (numbers by value)."""
    if not scoring.has_references:
        return None
    from pytest_lmbench.metrics.text import keyword_accuracy as keyword

    return keyword(scoring.answer, scoring.references)


@metric("accuracy", tasks=_REASONING_TASKS, default_weight=1.0)
def reasoning_accuracy(scoring: ScoringInput) -> MetricValue:
    """The extracted final answer matches a reference (numbers by value)."""
    if not scoring.has_references:
        return None
    from pytest_lmbench.metrics.reasoning import accuracy

    return accuracy(scoring.answer, scoring.references)


# EM is all-or-nothing, F1 gives partial credit; SQuAD reports both equally.
@metric(
    "exact_match",
    tasks=("qa", "classification"),
    default_weight={"qa": 0.5, "classification": 0.25},
)
def exact_match(scoring: ScoringInput) -> MetricValue:
    if not scoring.has_references:
        return None
    from pytest_lmbench.metrics.text import exact_match as squad_exact_match

    return squad_exact_match(scoring.answer, scoring.references)


@metric("f1", tasks=("qa",), default_weight=0.5)
def f1(scoring: ScoringInput) -> MetricValue:
    if not scoring.has_references:
        return None
    from pytest_lmbench.metrics.text import f1 as squad_f1

    return squad_f1(scoring.answer, scoring.references)


def _tool_score(scoring: ScoringInput) -> ToolScore | None:
    expected = scoring.expected_calls
    if expected is None:
        return None
    from pytest_lmbench.metrics.tools import check_tool_calls

    return scoring.shared(
        "tool_calls",
        lambda: check_tool_calls(
            scoring.tool_calls, expected, scoring.tools, require_schema=scoring.require_schema
        ),
    )


def _tool_part(part: str) -> Callable[[ScoringInput], MetricValue]:
    def compute(scoring: ScoringInput) -> MetricValue:
        score = _tool_score(scoring)
        return None if score is None else cast(MetricValue, getattr(score, part))

    compute.__name__ = part
    return compute


# BFCL is pass/fail per case; the parts (weight 0) only explain a failure.
for _part, _weight in (
    ("function_call_accuracy", 1.0),
    ("call_produced", 0.0),
    ("params_valid_json", 0.0),
    ("name_correct", 0.0),
    ("params_match_schema", 0.0),
    ("args_correct", 0.0),
):
    metric(_part, tasks=_TOOL_TASKS, default_weight=_weight)(_tool_part(_part))


@metric("tool_problems", tasks=_TOOL_TASKS, default_weight=None)
def tool_problems(scoring: ScoringInput) -> MetricValue:
    """Why the calls failed, in words (the failure message's first line shows it)."""
    score = _tool_score(scoring)
    return "the case lists no expected_calls" if score is None else "; ".join(score.problems)


def _step_score(scoring: ScoringInput) -> StepScore | None:
    steps = scoring.expected_steps
    if steps is None:
        return None
    from pytest_lmbench.metrics.agentic import check_steps

    return scoring.shared(
        "steps",
        lambda: check_steps(
            scoring.turn_calls,
            steps,
            scoring.tools,
            scoring.step_order,
            require_schema=scoring.require_schema,
        ),
    )


def _final_answer(scoring: ScoringInput) -> float | None:
    if not scoring.has_references:
        return None
    from pytest_lmbench.metrics.text import keyword_accuracy as keyword

    return keyword(scoring.answer, scoring.references)


# As BFCL's multi-turn category, the conversation passes or fails as a whole; the
# parts give partial credit so a model that gets most steps right is told apart.
@metric("agentic_accuracy", tasks=_AGENTIC_TASKS, default_weight=0.5)
def agentic_accuracy(scoring: ScoringInput) -> MetricValue:
    """Every step right, no extra call, and the final answer right."""
    score = _step_score(scoring)
    if score is None:
        return None
    answer = _final_answer(scoring)
    return 1.0 if score.sequence_correct and answer in (None, 1.0) else 0.0


@metric("calls_correct", tasks=_AGENTIC_TASKS, default_weight=0.25)
def calls_correct(scoring: ScoringInput) -> MetricValue:
    """Steps made right / the larger of steps expected and tool-calling turns taken."""
    score = _step_score(scoring)
    return None if score is None else score.calls_correct


@metric("final_answer_correct", tasks=_AGENTIC_TASKS, default_weight=0.25)
def final_answer_correct(scoring: ScoringInput) -> MetricValue:
    """A reference occurs in the last answer as whole words (numbers by value)."""
    return _final_answer(scoring)


@metric("steps_taken", tasks=_AGENTIC_TASKS, default_weight=None)
def steps_taken(scoring: ScoringInput) -> MetricValue:
    """Answers of the model that called tools."""
    return float(len(scoring.turn_calls))


@metric("agentic_problems", tasks=_AGENTIC_TASKS, default_weight=None)
def agentic_problems(scoring: ScoringInput) -> MetricValue:
    """Which steps went wrong, in words (the failure message's first line shows it)."""
    score = _step_score(scoring)
    if score is None:
        return "the case lists no steps"
    problems = list(score.problems)
    if _final_answer(scoring) == 0.0:
        problems.append("the final answer names no reference")
    return "; ".join(problems)


# Health figures describe every answer; a loop or a cut-off is not a quality to weigh.
@metric("repetition_ratio", tasks=ALL_TASKS, default_weight=None)
def repetition_ratio(scoring: ScoringInput) -> MetricValue:
    return repetition(scoring.answer)


@metric("coherence", tasks=ALL_TASKS, default_weight=None)
def coherence(scoring: ScoringInput) -> MetricValue:
    """ok, truncated, repetitive or garbled."""
    return coherence_flag(
        scoring.answer, scoring.finish_reason, scoring.output_tokens, scoring.max_tokens
    )
