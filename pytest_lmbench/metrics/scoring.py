"""The capability scorer: metrics of one case, and their weighted quality score.

A task's metrics are those registered for it (:mod:`pytest_lmbench.metrics.registry`;
the built-in ones are in :mod:`pytest_lmbench.metrics.builtin`), and their
default weights come with them; users may override the weights per task. Only
the visible answer is scored: ``<think>`` blocks and the server's separate
reasoning field are removed first, so thinking the right answer and then
stating a wrong one scores as wrong. Every weighable metric lies in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pytest_lmbench.metrics.registry import ALL_TASKS, MetricValue, ScoringInput, metrics_for
from pytest_lmbench.metrics.weights import DEFAULT_WEIGHTS
from pytest_lmbench.vocabulary import TASK_METRICS, TOOL_PARTS

__all__ = [
    "DEFAULT_WEIGHTS",
    "TASK_METRICS",
    "TOOL_PARTS",
    "MetricValue",
    "ScoringInput",
    "quality_score",
    "score_case",
]


def score_case(scoring: ScoringInput) -> dict[str, MetricValue]:
    """Every metric registered for the case's task, ``repetition_ratio`` and ``coherence`` too.

    A metric is ``None`` when the case gives nothing to score it against (no
    references, no expected calls). Raises ``ValueError`` only for an unknown task.
    """
    if scoring.task not in ALL_TASKS:
        raise ValueError(f"unknown task {scoring.task!r}; known tasks: {', '.join(ALL_TASKS)}")
    return {m.name: m.compute(scoring) for m in metrics_for(scoring.task)}


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
