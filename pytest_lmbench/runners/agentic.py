"""Agentic items: a conversation in which every tool call gets the case's scripted result.

The model answers the prompt; each tool it calls is answered with the result the
case scripts for it (tools are never executed), and the model goes on until it
answers without calling a tool, or until it has taken two turns more than the
case has steps (a model that loops must still end). The turns are scored step by
step (:mod:`pytest_lmbench.metrics.agentic`) and the final answer against the
references.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from functools import partial
from typing import Any

from pytest_lmbench.backends.base import AssistantTurn, ChatResult, ToolCall, ToolResult
from pytest_lmbench.metrics.scoring import ScoringInput, quality_score, score_case
from pytest_lmbench.metrics.timing import request_metrics
from pytest_lmbench.metrics.tools import standardize_string
from pytest_lmbench.records import RawToolCall
from pytest_lmbench.runners.capability import (
    build_request,
    judge,
    raw_tool_calls,
    require_schema,
    single_timing,
)
from pytest_lmbench.runners.common import (
    ItemContext,
    chat_once,
    check_model,
    fail_on,
    gate_problems,
    guarded,
    run,
)
from pytest_lmbench.runners.thresholds import min_quality
from pytest_lmbench.suites.loader import CapabilityCase
from pytest_lmbench.suites.schema import ScriptedResult, Step

# Turns a model may take beyond the case's steps before the conversation is cut.
_EXTRA_TURNS = 2
_UNSCRIPTED = "no result is available for this call"


def run_agentic(ctx: ItemContext, item: CapabilityCase) -> None:
    steps = item.case.steps or []
    turns = _converse(ctx, item, steps)
    last = turns[-1]
    metrics: dict[str, Any] = dict(
        score_case(
            ScoringInput(
                item.suite.task,
                output="" if last.tool_calls else last.content,
                reasoning=last.reasoning,
                references=item.case.references,
                tools=item.tools,
                finish_reason=last.finish_reason,
                output_tokens=last.output_tokens,
                require_schema=require_schema(ctx, item),
                turn_calls=[t.tool_calls for t in turns if t.tool_calls],
                expected_steps=[step.expected_calls for step in steps],
                step_order=item.case.order,
            )
        )
    )
    weights = ctx.settings.sections.get("weights")
    metrics["quality_score"] = quality_score(item.suite.task, metrics, weights)
    threshold = min_quality(
        ctx, item.suite.capability, item.case.min_quality, item.suite.min_quality
    )
    _record(ctx, item, turns, metrics, threshold)
    ctx.finish_hardware(sum(t.output_tokens or 0 for t in turns))
    problems = gate_problems(ctx)
    judge(ctx, threshold)
    fail_on(problems)


def _converse(ctx: ItemContext, item: CapabilityCase, steps: list[Step]) -> list[ChatResult]:
    request = build_request(ctx, item)
    history: list[AssistantTurn | ToolResult] = []
    turns: list[ChatResult] = []
    for index in range(len(steps) + _EXTRA_TURNS + 1):
        asked = replace(request, history=tuple(history))
        result: ChatResult = run(partial(chat_once, ctx.backend, ctx.model.chat_model, asked))
        guarded(partial(check_model, ctx.model, result, ctx.backend.label))
        turns.append(result)
        if not result.tool_calls:
            break
        calls = tuple(
            call if call.id else replace(call, id=f"call_{index + 1}_{n + 1}")
            for n, call in enumerate(result.tool_calls)
        )
        history.append(AssistantTurn(result.content, calls))
        history += [
            ToolResult(str(call.id), call.name, scripted_result(steps, index, call))
            for call in calls
        ]
    return turns


def scripted_result(steps: list[Step], index: int, call: ToolCall) -> str:
    """The case's result for ``call`` made in turn ``index``: its step's first, then any."""
    ordered = steps[index:] + steps[:index] if index < len(steps) else steps
    for step in ordered:
        for result in step.results:
            if result.name == call.name and _when_holds(result, call):
                content = result.content
                return content if isinstance(content, str) else json.dumps(content)
    return json.dumps({"error": _UNSCRIPTED})


def _when_holds(result: ScriptedResult, call: ToolCall) -> bool:
    if not result.when:
        return True
    try:
        arguments = json.loads(call.arguments_json or "{}")
    except ValueError:
        return False
    if not isinstance(arguments, dict):
        return False
    return all(
        key in arguments and _loosely_equal(arguments[key], value)
        for key, value in result.when.items()
    )


def _loosely_equal(sent: Any, wanted: Any) -> bool:
    if isinstance(sent, str) and isinstance(wanted, str):
        return standardize_string(sent) == standardize_string(wanted)
    return bool(sent == wanted)


def _record(
    ctx: ItemContext,
    item: CapabilityCase,
    turns: list[ChatResult],
    metrics: dict[str, Any],
    threshold: float,
) -> None:
    samples = [request_metrics(t) for t in turns]
    latencies = [s.get("e2e_s") for s in samples]
    metrics["total_latency_s"] = _total(latencies)
    metrics["total_output_tokens"] = _total(t.output_tokens for t in turns)
    metrics["total_prompt_tokens"] = _total(t.prompt_tokens for t in turns)
    ctx.record.prompt = item.prompt
    ctx.record.reference = {
        "steps": [[c.model_dump() for c in step.expected_calls] for step in item.case.steps or []],
        "order": item.case.order,
        "references": list(item.case.references),
    }
    ctx.record.metrics = metrics
    ctx.record.output = _transcript(turns)
    ctx.record.timing = single_timing(samples)  # per turn: the median of each figure
    ctx.record.server_stats = dict(turns[-1].server_stats)
    calls: list[RawToolCall] = []
    for number, (turn, latency) in enumerate(zip(turns, latencies, strict=True), start=1):
        calls += [RawToolCall(**call, turn=number) for call in raw_tool_calls(turn, latency)]
    ctx.record.flags.update(
        {
            "min_quality": threshold,
            "route": turns[-1].route,
            "finish_reason": turns[-1].finish_reason,
            "token_count_estimated": any(t.token_count_estimated for t in turns),
            "reasoning_chars": sum(len(t.reasoning) for t in turns),
            "tool_calls": calls,
        }
    )


def _total(values: Iterable[float | None]) -> float | None:
    # A turn that could not be measured leaves the total unknown, never too small.
    counted = list(values)
    return None if any(v is None for v in counted) else sum(v or 0 for v in counted)


def _transcript(turns: list[ChatResult]) -> str:
    lines = []
    for number, turn in enumerate(turns, start=1):
        calls = [{"name": c.name, "arguments": c.arguments_json} for c in turn.tool_calls]
        text = turn.content + (" tool_calls: " + json.dumps(calls) if calls else "")
        lines.append(f"[turn {number}] {text.strip()}")
    return "\n".join(lines)
