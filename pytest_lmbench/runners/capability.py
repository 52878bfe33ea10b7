"""Capability items: send the case (tools and images for real), score, judge."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any, cast

from pytest_lmbench.backends.base import ChatRequest, ChatResult
from pytest_lmbench.metrics.scoring import ScoringInput, quality_score, score_case
from pytest_lmbench.metrics.stats import pass_at_k, pass_hat_k, summarize
from pytest_lmbench.metrics.timing import request_metrics
from pytest_lmbench.records import RawToolCall, Sample, Timing, metric_number
from pytest_lmbench.runners.common import (
    ItemContext,
    chat_once,
    check_model,
    fail,
    fail_on,
    gate_problems,
    guarded,
    run,
    sampling_flags,
    sampling_of,
)
from pytest_lmbench.runners.thresholds import min_quality
from pytest_lmbench.suites.loader import CapabilityCase

_SHOWN_CHARS = 600


def build_request(ctx: ItemContext, item: CapabilityCase) -> ChatRequest:
    tooling = item.suite.capability in ("tooling", "agentic")
    return ChatRequest(
        prompt=item.prompt,
        system_prompt=item.suite.system_prompt,
        images=item.images(),
        tools=tuple(item.tools) if tooling else (),
        max_tokens=item.case.max_tokens or item.suite.max_tokens or ctx.settings.lm_max_tokens,
        temperature=ctx.settings.lm_temperature,
        seed=ctx.settings.lm_seed,
        sampling=sampling_of(ctx.settings),
    )


def run_capability(ctx: ItemContext, item: CapabilityCase) -> None:
    request = build_request(ctx, item)
    ctx.record.prompt = request.prompt
    ctx.record.reference = _reference(item)
    weights = ctx.settings.sections.get("weights")
    runs: list[tuple[ChatResult, dict[str, Any], float | None]] = []
    for _ in range(ctx.settings.lm_repeat):
        result: ChatResult = run(
            lambda: chat_once(ctx.backend, ctx.model.chat_model, request, ctx.waited_429)
        )
        guarded(partial(check_model, ctx.model, result, ctx.backend.label))
        metrics = score_case(
            ScoringInput(
                item.suite.task,
                output=result.content,
                reasoning=result.reasoning,
                references=item.case.references,
                tool_calls=result.tool_calls,
                expected_calls=item.case.expected_calls,
                tools=item.tools,
                finish_reason=result.finish_reason,
                output_tokens=result.output_tokens,
                max_tokens=request.max_tokens,
                require_schema=require_schema(ctx, item),
            )
        )
        runs.append((result, metrics, quality_score(item.suite.task, metrics, weights)))
    threshold = min_quality(
        ctx, item.suite.capability, item.case.min_quality, item.suite.min_quality
    )
    _record(ctx, runs, threshold)
    ctx.finish_hardware(sum(r.output_tokens or 0 for r, _, _ in runs))
    problems = gate_problems(ctx)
    judge(ctx, threshold)
    fail_on(problems)


def require_schema(ctx: ItemContext, item: CapabilityCase) -> bool:
    for choice in (item.case.require_schema, item.suite.require_schema):
        if choice is not None:
            return choice
    return ctx.settings.lm_require_schema


def _reference(item: CapabilityCase) -> Any:
    if item.case.expected_calls is not None:
        return [call.model_dump() for call in item.case.expected_calls]
    return list(item.case.references)


def raw_tool_calls(result: ChatResult, latency_s: float | None) -> list[RawToolCall]:
    return [
        RawToolCall(name=c.name, arguments_raw=c.arguments_json, id=c.id, latency_s=latency_s)
        for c in result.tool_calls
    ]


def _output_text(result: ChatResult) -> str:
    if not result.tool_calls:
        return result.content
    calls = [{"name": c.name, "arguments": c.arguments_json} for c in result.tool_calls]
    return (result.content + "\n" if result.content else "") + "tool_calls: " + json.dumps(calls)


def _record(
    ctx: ItemContext, runs: list[tuple[ChatResult, dict[str, Any], float | None]], threshold: float
) -> None:
    last, last_metrics, _ = runs[-1]
    metrics: dict[str, Any] = dict(last_metrics)
    for key, value in last_metrics.items():
        values = [m.get(key) for _, m, _ in runs]
        if isinstance(value, (int, float)) and all(isinstance(v, (int, float)) for v in values):
            metrics[key] = sum(values) / len(values)  # type: ignore[arg-type]
    scores = [q for _, _, q in runs]
    valid = [q for q in scores if q is not None]
    metrics["quality_score"] = sum(valid) / len(valid) if valid else None
    passes = [q is not None and q >= threshold for q in scores]
    if len(runs) > 1:
        metrics["repeat"] = len(runs)
        metrics["pass_at_1"] = pass_at_k(len(runs), sum(passes), 1)
        metrics["pass_at_k"] = pass_at_k(len(runs), sum(passes), len(runs))
        metrics["pass_hat_k"] = pass_hat_k(passes)
        metrics["quality_scores"] = scores
    ctx.record.metrics = metrics
    ctx.record.output = _output_text(last)
    samples = [request_metrics(r) for r, _, _ in runs]
    ctx.record.timing = single_timing(samples)
    if last_metrics.get("function_call_accuracy") is not None:
        ctx.record.flags["tool_calls"] = raw_tool_calls(last, samples[-1].get("e2e_s"))
    ctx.record.server_stats = dict(last.server_stats)
    ctx.record.flags.update(
        {
            "min_quality": threshold,
            "route": last.route,
            "finish_reason": last.finish_reason,
            "finish_reason_inferred": last.finish_reason_inferred,
            "token_count_estimated": last.token_count_estimated,
            "token_count_suspect": last.token_count_suspect,
            "reasoning_chars": len(last.reasoning),
        }
    )
    sampling_flags(ctx.record.flags, last)


_SINGLE_KEYS = ("ttft_s", "decode_tps", "prefill_tps", "e2e_s", "output_tokens", "prompt_tokens")


def single_timing(samples: list[Sample]) -> Timing:
    """Each figure of the one request, or the median over --lm-repeat requests."""
    rows = [cast(Mapping[str, Any], s) for s in samples]
    if len(rows) == 1:
        figures = {k: rows[0].get(k) for k in _SINGLE_KEYS}
    else:
        figures = {k: _median_of(row.get(k) for row in rows) for k in _SINGLE_KEYS}
    # Every request is a measured request: the store keeps one measurements row each.
    figures["samples"] = [{k: row.get(k) for k in _SINGLE_KEYS} for row in rows]
    return cast(Timing, figures)


def _median_of(values: Iterable[Any]) -> float | None:
    return summarize([v for v in values if v is not None])["median"]


def judge(ctx: ItemContext, threshold: float) -> None:
    metrics = ctx.record.metrics
    score = metric_number(metrics, "quality_score")
    if score is not None and score >= threshold:
        return
    shown = {
        k: (round(v, 3) if isinstance(v, float) else v)
        for k, v in metrics.items()
        if k not in ("quality_scores",)
    }
    # The first line is what the summary, the JSON and the store show: say why there.
    problems = metrics.get("tool_problems", metrics.get("agentic_problems"))
    why = f": {problems}" if isinstance(problems, str) and problems else ""
    fail(
        f"quality_score {_fmt(score)} < min_quality {threshold:g}{why}\n"
        f"output:    {_clip(ctx.record.output)}\n"
        f"reference: {_clip(json.dumps(ctx.record.reference))}\n"
        f"metrics:   {json.dumps(shown, sort_keys=True)}"
    )


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _clip(text: str | None) -> str:
    text = (text or "").replace("\n", "⏎ ")
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + " …"
