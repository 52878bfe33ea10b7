"""Scoring a conversation's tool calls step by step (BFCL multi-turn style).

Each answer of the model that called tools is a turn; each turn is checked
against an expected step with BFCL's AST rules (:func:`check_tool_calls`:
parallel calls of one step in any order). Turns are paired with steps by the
alignment that pairs the most passing ones, keeping their order under the
"strict" rule and in any order under "any"; a step left without a turn was
skipped, a turn left without a step was an extra call. The checker never
raises and never executes a call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from pytest_lmbench.backends.base import ToolCall
from pytest_lmbench.metrics.tools import ToolScore, check_tool_calls
from pytest_lmbench.suites.schema import ExpectedCall


@dataclass
class StepScore:
    """How a conversation's turns met the case's steps."""

    steps_taken: int
    steps_correct: int
    # Correct steps / the larger of steps expected and turns taken (1 when both are 0).
    calls_correct: float
    problems: list[str] = field(default_factory=list)

    @property
    def sequence_correct(self) -> bool:
        return self.calls_correct == 1.0


def _names(calls: Sequence[ToolCall] | Sequence[ExpectedCall]) -> str:
    return ", ".join(str(call.name) for call in calls)


def _strict_pairs(passes: np.ndarray[Any, Any]) -> list[tuple[int, int]]:
    """The order-keeping alignment of turns (rows) and steps (columns) passing most."""
    turns, steps = passes.shape
    best = np.zeros((turns + 1, steps + 1))
    for t in range(turns - 1, -1, -1):
        for s in range(steps - 1, -1, -1):
            best[t, s] = max(best[t + 1, s], best[t, s + 1], passes[t, s] + best[t + 1, s + 1])
    pairs, t, s = [], 0, 0
    while t < turns and s < steps:
        if passes[t, s] and best[t, s] == 1 + best[t + 1, s + 1]:
            pairs.append((t, s))
            t, s = t + 1, s + 1
        elif best[t, s] == best[t + 1, s]:
            t += 1
        else:
            s += 1
    return pairs


def _any_pairs(passes: np.ndarray[Any, Any]) -> list[tuple[int, int]]:
    rows, cols = linear_sum_assignment(passes, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if passes[r, c]]


def _unmatched_problems(
    turns: Sequence[Sequence[ToolCall]],
    steps: Sequence[Sequence[ExpectedCall]],
    scores: list[list[ToolScore]],
    pairs: list[tuple[int, int]],
) -> list[str]:
    """Why each step without a passing turn failed: a turn in its place, else skipped."""
    used_turns = {t for t, _ in pairs}
    used_steps = {s for _, s in pairs}
    spare = [t for t in range(len(turns)) if t not in used_turns]
    problems = []
    for s, step in enumerate(steps):
        if s in used_steps:
            continue
        # The first spare turn calling the step's tools explains it; else it was skipped.
        wanted = {call.name for call in step}
        turn = next((t for t in spare if wanted & {str(c.name) for c in turns[t]}), None)
        if turn is None:
            problems.append(f"step {s + 1} ({_names(step)}) skipped")
            continue
        spare.remove(turn)
        why = "; ".join(scores[turn][s].problems) or "calls do not match"
        problems.append(f"step {s + 1} ({_names(step)}) wrong in turn {turn + 1}: {why}")
    problems += [f"turn {t + 1} made calls no step expects: {_names(turns[t])}" for t in spare]
    return problems


def check_steps(
    turns: Sequence[Sequence[ToolCall]],
    steps: Sequence[Sequence[ExpectedCall]],
    tools: Sequence[Mapping[str, Any]],
    order: str = "strict",
    *,
    require_schema: bool = False,
) -> StepScore:
    """Score the tool-calling turns of a conversation against the case's steps."""
    try:
        scores = [
            [check_tool_calls(calls, step, tools, require_schema=require_schema) for step in steps]
            for calls in turns
        ]
        passes = np.array(
            [[score.function_call_accuracy == 1.0 for score in row] for row in scores], dtype=float
        ).reshape(len(turns), len(steps))
        pairs = _any_pairs(passes) if order == "any" else _strict_pairs(passes)
        problems = _unmatched_problems(turns, steps, scores, pairs)
    except Exception as exc:  # a checker bug must not abort a benchmark run
        return StepScore(len(turns), 0, 0.0, [f"step checker failed: {exc!r}"])
    widest = max(len(turns), len(steps))
    correct = len(pairs)
    return StepScore(len(turns), correct, correct / widest if widest else 1.0, problems)
