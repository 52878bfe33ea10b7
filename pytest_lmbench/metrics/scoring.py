"""The capability scorer: metrics of one case, and their weighted quality score.

Every task has a fixed set of metrics (``TASK_METRICS``) and default
weights (``DEFAULT_WEIGHTS``, both in :mod:`pytest_lmbench.metrics.weights`)
that users may override per task. Only the visible answer is scored:
``<think>`` blocks and the server's separate reasoning field are removed
first, so thinking the right answer and then stating a wrong one scores as
wrong. Every numeric metric lies in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_lmbench.backends.base import ToolCall
from pytest_lmbench.metrics import reasoning as reasoning_metrics
from pytest_lmbench.metrics import text as text_metrics
from pytest_lmbench.metrics.health import coherence, repetition_ratio
from pytest_lmbench.metrics.tools import check_tool_calls
from pytest_lmbench.metrics.weights import DEFAULT_WEIGHTS
from pytest_lmbench.suites.schema import ExpectedCall
from pytest_lmbench.vocabulary import TASK_METRICS, TOOL_PARTS

__all__ = ["DEFAULT_WEIGHTS", "TASK_METRICS", "TOOL_PARTS", "quality_score", "score_case"]

MetricValue = float | str | None

_REASONING_TASKS = frozenset({"logical", "math"})


def _text_scores(task: str, answer: str, references: Sequence[str]) -> dict[str, MetricValue]:
    wanted = TASK_METRICS[task]
    if not any(ref.strip() for ref in references):
        return dict.fromkeys(wanted)  # nothing to compare with: unscored, not zero
    scores: dict[str, MetricValue] = {}
    if any(name.startswith("rouge") for name in wanted):
        scores.update(text_metrics.rouge(answer, references))
    if "exact_match" in wanted:
        scores["exact_match"] = text_metrics.exact_match(answer, references)
    if "f1" in wanted:
        scores["f1"] = text_metrics.f1(answer, references)
    if "accuracy" in wanted:
        scores["accuracy"] = (
            reasoning_metrics.accuracy(answer, references)
            if task in _REASONING_TASKS
            else text_metrics.keyword_accuracy(answer, references)
        )
    return {name: scores[name] for name in wanted}


def _tool_scores(
    tool_calls: Sequence[ToolCall],
    expected_calls: Sequence[ExpectedCall] | None,
    tools: Sequence[Mapping[str, Any]],
) -> dict[str, MetricValue]:
    if expected_calls is None:
        unscored: dict[str, MetricValue] = dict.fromkeys(("function_call_accuracy", *TOOL_PARTS))
        return unscored | {"tool_problems": "the case lists no expected_calls"}
    score = check_tool_calls(tool_calls, expected_calls, tools)
    return {
        "function_call_accuracy": score.function_call_accuracy,
        "call_produced": score.call_produced,
        "name_correct": score.name_correct,
        "args_correct": score.args_correct,
        "tool_problems": "; ".join(score.problems),
    }


def score_case(
    task: str,
    *,
    output: str,
    reasoning: str,
    references: Sequence[str],
    tool_calls: Sequence[ToolCall] = (),
    expected_calls: Sequence[ExpectedCall] | None = None,
    tools: Sequence[Mapping[str, Any]] = (),
    finish_reason: str | None = None,
    output_tokens: int | None = None,
    max_tokens: int | None = None,
) -> dict[str, MetricValue]:
    """All metrics of one case, plus ``repetition_ratio`` and ``coherence``.

    ``reasoning`` is accepted so callers pass the whole result, and ignored on
    purpose. A metric is ``None`` when the case gives nothing to score it
    against (no references, no expected calls). Raises ``ValueError`` only
    for an unknown task.
    """
    del reasoning
    if task not in TASK_METRICS:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASK_METRICS)}")
    answer = reasoning_metrics.strip_reasoning(output)
    if task == "function_call":
        scores = _tool_scores(tool_calls, expected_calls, tools)
    else:
        scores = _text_scores(task, answer, references)
    scores["repetition_ratio"] = repetition_ratio(answer)
    scores["coherence"] = coherence(answer, finish_reason, output_tokens, max_tokens)
    return scores


def _score_value(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return min(max(float(value), 0.0), 1.0) if math.isfinite(value) else None


def quality_score(
    task: str,
    metrics: Mapping[str, object],
    weights: Mapping[str, Mapping[str, float]] | None = None,
) -> float | None:
    """Weighted mean of the task's metrics that are present, in [0, 1].

    A user's weights for a task replace the defaults for that task entirely.
    Weights are renormalised over the metrics that have a value; weights that
    are not positive are ignored. None when no weighted metric has a value.
    """
    table = weights[task] if weights and task in weights else DEFAULT_WEIGHTS.get(task, {})
    total = weighted = 0.0
    for name, weight in table.items():
        value = _score_value(metrics.get(name))
        if value is None or not math.isfinite(weight) or weight <= 0:
            continue
        total += weight
        weighted += weight * value
    return weighted / total if total > 0 else None
