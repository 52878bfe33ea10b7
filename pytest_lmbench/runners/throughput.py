"""Throughput items: warmup, measured repetitions, concurrency, honest aggregation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any

from pytest_lmbench.backends.base import ChatRequest, ChatResult
from pytest_lmbench.errors import LmbenchError
from pytest_lmbench.metrics.stats import summarize
from pytest_lmbench.metrics.timing import aggregate, disagreement, request_metrics
from pytest_lmbench.runners.common import (
    ItemContext,
    check_model,
    fail,
    fail_on,
    gate_problems,
    run,
)
from pytest_lmbench.runners.prompts import PromptCalibration, calibrate, unique_prompt
from pytest_lmbench.runners.thresholds import throughput_limits
from pytest_lmbench.suites.schema import ThroughputCase


@dataclass
class Batch:
    results: list[ChatResult]
    wall_s: float

    @property
    def output_tokens(self) -> int:
        return sum(r.output_tokens or 0 for r in self.results)


def run_throughput(ctx: ItemContext, case: ThroughputCase, benchmark: Any | None) -> None:
    settings = ctx.settings
    calibration = _calibration(ctx)
    words = calibration.words_for(case.prompt_tokens)
    ctx.record.prompt = unique_prompt(words)[:400] + " …"

    request = ChatRequest(
        prompt="",  # replaced per request: every request gets its own unique prefix
        max_tokens=case.gen_tokens,
        temperature=settings.lm_temperature,
        seed=settings.lm_seed,
    )
    with ItemLoop(ctx) as loop:

        async def batch() -> Batch:
            requests = [
                _with_prompt(request, unique_prompt(words)) for _ in range(case.concurrency)
            ]
            started = time.perf_counter_ns()
            results = await asyncio.gather(
                *(ctx.backend.chat(loop.client, ctx.model.chat_model, r) for r in requests)
            )
            wall_s = (time.perf_counter_ns() - started) / 1e9
            for result in results:
                check_model(ctx.model, result, ctx.backend.label)
            return Batch(list(results), wall_s)

        batches = _measure(lambda: loop.run(batch), settings.lm_runs, settings.lm_warmup, benchmark)
    _record(ctx, case, batches, calibration, benchmark)
    ctx.finish_hardware(sum(b.output_tokens for b in batches))
    problems = gate_problems(ctx)
    _check_limits(ctx, case)
    fail_on(problems)


class ItemLoop:
    """One event loop and one HTTP client for all rounds of an item.

    Warmup rounds open the connections; measured rounds reuse them, so a TCP
    handshake or client set-up never counts as time to first token.
    """

    def __init__(self, ctx: ItemContext) -> None:
        self._loop = asyncio.new_event_loop()
        self.client = ctx.backend.async_client()

    def run(self, factory: Callable[[], Coroutine[Any, Any, Batch]]) -> Batch:
        try:
            return self._loop.run_until_complete(factory())
        except LmbenchError as exc:
            message = str(exc)
        fail(message)

    def __enter__(self) -> ItemLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._loop.run_until_complete(self.client.aclose())
        finally:
            self._loop.close()


def _with_prompt(request: ChatRequest, prompt: str) -> ChatRequest:
    return replace(request, prompt=prompt)


def _calibration(ctx: ItemContext) -> PromptCalibration:
    cached = ctx.model_cache.get("prompt_calibration")
    if isinstance(cached, PromptCalibration):
        return cached
    calibration: PromptCalibration = run(lambda: calibrate(ctx.backend, ctx.model.chat_model))
    ctx.model_cache["prompt_calibration"] = calibration
    return calibration


def _measure(one: Any, runs: int, warmup: int, benchmark: Any | None) -> list[Batch]:
    """Warmup batches are discarded; pytest-benchmark, when on, times each measured round."""
    done: list[Batch] = []
    if benchmark is not None and not getattr(benchmark, "disabled", True):
        benchmark.pedantic(lambda: done.append(one()), rounds=runs, warmup_rounds=warmup)
        return done[warmup:]

    def all_rounds() -> None:
        for _ in range(warmup):
            one()
        for _ in range(runs):
            done.append(one())

    if benchmark is not None:
        benchmark.pedantic(all_rounds)  # disabled: pytest-benchmark just calls it once
    else:
        all_rounds()
    return done


def _record(
    ctx: ItemContext,
    case: ThroughputCase,
    batches: list[Batch],
    calibration: PromptCalibration,
    benchmark: Any | None,
) -> None:
    samples = []
    for index, batch in enumerate(batches):
        for result in batch.results:
            sample = request_metrics(result)
            sample["batch"] = index
            samples.append(sample)
    timing = aggregate(samples)
    aggregate_tps = [b.output_tokens / b.wall_s for b in batches if b.wall_s > 0]
    rps = [len(b.results) / b.wall_s for b in batches if b.wall_s > 0]
    actual_prompt = [s["prompt_tokens"] for s in samples if s["prompt_tokens"] is not None]
    timing.update(
        {
            "concurrency": case.concurrency,
            "prompt_tokens": case.prompt_tokens,
            "gen_tokens": case.gen_tokens,
            "prompt_tokens_actual": summarize(actual_prompt)["median"],
            "runs": len(batches),
            "warmup": ctx.settings.lm_warmup,
            "aggregate_output_tps": summarize(aggregate_tps)["median"],
            "aggregate_output_tps_summary": summarize(aggregate_tps),
            "aggregate_output_tps_values": aggregate_tps,
            "requests_per_s": summarize(rps)["median"],
            "output_tokens_total": sum(b.output_tokens for b in batches),
            "samples": samples,
        }
    )
    ctx.record.timing = timing
    last = batches[-1].results[-1] if batches and batches[-1].results else None
    check = disagreement(timing)
    ctx.record.server_stats = {
        key: timing[key] for key in ("server_ttft_s", "server_decode_tps", "server_prefill_tps")
    }
    ctx.record.server_stats.update(check)
    if last is not None:
        ctx.record.server_stats["last"] = last.server_stats
        ctx.record.output = (last.reasoning + last.content)[:2000]
    short = [s["output_tokens"] for s in samples if (s["output_tokens"] or 0) < case.gen_tokens]
    ctx.record.flags.update(
        {
            "short_generation": bool(short),
            "token_count_estimated": any(s["token_count_estimated"] for s in samples),
            "prompt_tokens_estimated": calibration.estimated,
            "disagreement": check["disagreement"],
            "route": last.route if last else None,
        }
    )
    if benchmark is not None and hasattr(benchmark, "extra_info"):
        benchmark.extra_info.update(_benchmark_info(timing))


def _benchmark_info(timing: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {}
    for key in ("decode_tps", "ttft_s", "prefill_tps", "e2e_s"):
        info[f"{key}_median"] = timing[key]["median"]
    for key in (
        "aggregate_output_tps",
        "output_tokens_total",
        "prompt_tokens_actual",
        "concurrency",
    ):
        info[key] = timing[key]
    return info


def _check_limits(ctx: ItemContext, case: ThroughputCase) -> None:
    problems = []
    for metric, stat, limit, bound in throughput_limits(ctx, case):
        summary = ctx.record.timing.get(metric)
        value = summary.get(stat) if isinstance(summary, dict) else summary
        if value is None:
            problems.append(f"{metric} {stat} was not measured (limit {limit:g})")
            continue
        worse = value < limit if bound == "min" else value > limit
        if worse:
            interval = ""
            if isinstance(summary, dict) and summary.get("ci95_low") is not None:
                low, high, n = summary["ci95_low"], summary["ci95_high"], summary["n"]
                interval = f" [ci95 {low:.4g}–{high:.4g}, n={n}]"
            word = "below" if bound == "min" else "above"
            problems.append(
                f"{metric} {stat} {value:.4g}{interval} is {word} {bound}_{metric} {limit:g}"
            )
    if problems:
        fail("; ".join(problems))
