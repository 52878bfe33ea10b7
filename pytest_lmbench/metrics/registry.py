"""The metric registry: which metrics each task reports, and how each weighs by default.

A metric is a function of one :class:`ScoringInput`, registered for its tasks
with ``@metric(name, tasks, default_weight)`` (as inspect_ai registers scorers).
The scorer, the default weights, the check of the ``weights`` section of
``--lm-config`` and the README's table of weights all read this registry, so a
metric registered by a conftest or a plugin is scored, weighable and checked
without editing any of them. The built-in metrics are registered by
:mod:`pytest_lmbench.metrics.builtin` when the ``metrics`` package is imported,
so they come first whatever registers more.

This module imports none of the scorers (rouge-score, scipy): registering a
metric in a conftest must not slow down every pytest start.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar, cast

from pytest_lmbench.backends.base import ToolCall
from pytest_lmbench.suites.schema import ExpectedCall
from pytest_lmbench.vocabulary import TASKS

__all__ = [
    "ALL_TASKS",
    "Metric",
    "MetricValue",
    "ScoringInput",
    "default_weights",
    "metric",
    "metrics_for",
    "unregister",
    "weighable_metrics",
]

MetricValue = float | str | None
# Every task, in capability order (the order of tables and error messages).
ALL_TASKS: tuple[str, ...] = tuple(task for tasks in TASKS.values() for task in tasks)

_T = TypeVar("_T")


@dataclass(frozen=True)
class ScoringInput:
    """One answer to one case: everything a metric may score it by."""

    task: str
    output: str
    # The server's separate reasoning field; the built-in metrics never score it.
    reasoning: str = ""
    references: Sequence[str] = ()
    tool_calls: Sequence[ToolCall] = ()
    expected_calls: Sequence[ExpectedCall] | None = None
    tools: Sequence[Mapping[str, Any]] = ()
    finish_reason: str | None = None
    output_tokens: int | None = None
    max_tokens: int | None = None
    # --lm-require-schema or the case's require_schema: function_call_accuracy also
    # needs arguments that satisfy the tool's JSON schema (BFCL does not check it).
    require_schema: bool = False
    # Agentic: the tool calls of each answer of the conversation, in order; the calls
    # each expected step should make; "strict" or "any" order of the steps.
    turn_calls: Sequence[Sequence[ToolCall]] = ()
    expected_steps: Sequence[Sequence[ExpectedCall]] | None = None
    step_order: str = "strict"
    _shared: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @cached_property
    def answer(self) -> str:
        """The visible answer: ``output`` without its ``<think>`` blocks."""
        # Imported on use: reasoning pulls in rouge-score, and registering must stay cheap.
        from pytest_lmbench.metrics.reasoning import strip_reasoning

        return strip_reasoning(self.output)

    @property
    def has_references(self) -> bool:
        return any(ref.strip() for ref in self.references)

    def shared(self, key: str, compute: Callable[[], _T]) -> _T:
        """``compute()``, run once per input for every metric asking with the same ``key``.

        Several metrics come out of one computation (ROUGE's three scores, the
        tool-call check's parts); each asks for it and only the first pays.
        """
        if key not in self._shared:
            self._shared[key] = compute()
        return cast(_T, self._shared[key])


Compute = Callable[[ScoringInput], MetricValue]
_C = TypeVar("_C", bound=Compute)


@dataclass(frozen=True)
class Metric:
    """One metric as registered for one task."""

    name: str
    task: str
    # None: reported, never weighted (a health figure, a problem text).
    default_weight: float | None
    compute: Compute


# task -> metric name -> Metric, in registration order (the order a case's metrics are shown).
_REGISTRY: dict[str, dict[str, Metric]] = {task: {} for task in ALL_TASKS}


def metric(
    name: str,
    tasks: Sequence[str],
    default_weight: float | Mapping[str, float] | None = 0.0,
) -> Callable[[_C], _C]:
    """Register the decorated function as metric ``name`` of ``tasks``.

    ``default_weight`` is its weight in ``quality_score`` when the user sets no
    weights for the task: one number for every task, a mapping per task (tasks
    it leaves out get 0), or None for a value that is reported but may not be
    weighted. A weighable metric must return a number in [0, 1] (higher is
    better) or None when the case gives nothing to score it against. Raises
    ``ValueError`` for an unknown task, a bad weight or a name already
    registered for one of the tasks.
    """
    weights = _weights_per_task(name, tuple(tasks), default_weight)

    def register(compute: _C) -> _C:
        for task, weight in weights.items():
            _REGISTRY[task][name] = Metric(name, task, weight, compute)
        return compute

    return register


def _weights_per_task(
    name: str, tasks: tuple[str, ...], default_weight: float | Mapping[str, float] | None
) -> dict[str, float | None]:
    # Everything is checked before anything is registered: a bad call leaves no half entry.
    if not name.isidentifier():
        raise ValueError(f"metric name {name!r} is not an identifier (it is a YAML and CSV key)")
    unknown = [task for task in tasks if task not in _REGISTRY]
    if unknown or not tasks:
        raise ValueError(f"metric {name!r}: unknown tasks {unknown}; choose from {ALL_TASKS}")
    taken = [task for task in tasks if name in _REGISTRY[task]]
    if taken:
        raise ValueError(f"metric {name!r} is already registered for {', '.join(taken)}")
    if isinstance(default_weight, Mapping):
        stray = set(default_weight) - set(tasks)
        if stray:
            raise ValueError(f"metric {name!r}: default weights for tasks it lacks: {stray}")
        weights: dict[str, float | None] = {t: default_weight.get(t, 0.0) for t in tasks}
    else:
        weights = dict.fromkeys(tasks, default_weight)
    for weight in weights.values():
        if weight is not None and not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"metric {name!r}: a default weight must be 0 or more, got {weight}")
    return weights


def unregister(name: str) -> None:
    """Remove metric ``name`` from every task (a test that registered one cleans up)."""
    for metrics in _REGISTRY.values():
        metrics.pop(name, None)


def metrics_for(task: str) -> tuple[Metric, ...]:
    """The metrics ``task`` reports, in registration order; () for an unknown task."""
    return tuple(_REGISTRY.get(task, {}).values())


def weighable_metrics(task: str) -> tuple[str, ...]:
    """The metrics a user may weight for ``task``."""
    return tuple(m.name for m in metrics_for(task) if m.default_weight is not None)


def default_weights(task: str) -> dict[str, float]:
    """The metrics of ``task`` with a positive default weight, heaviest first."""
    weighted = [(m.name, m.default_weight) for m in metrics_for(task) if m.default_weight]
    # sorted() is stable: equal weights keep their registration order.
    return dict(sorted(weighted, key=lambda pair: -pair[1]))
