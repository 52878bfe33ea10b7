"""Throughput items: warmup, measured repetitions, concurrency, honest aggregation."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from pytest_lmbench.backends.base import ChatRequest
from pytest_lmbench.metrics.stats import summarize
from pytest_lmbench.metrics.timing import aggregate, disagreement, request_metrics
from pytest_lmbench.records import JSON, Sample, timing_figure, timing_summary
from pytest_lmbench.runners.bench import benchmark_info, feed_benchmark
from pytest_lmbench.runners.common import (
    ItemContext,
    fail_on,
    gate_problems,
    run,
    sampling_flags,
    sampling_of,
)
from pytest_lmbench.runners.load import (
    Batch,
    ItemLoop,
    closed_batch,
    objectives_into,
    produced_no_tokens,
    repeat,
    warm,
)
from pytest_lmbench.runners.openloop import run_open_loop
from pytest_lmbench.runners.progress import ThroughputTally
from pytest_lmbench.runners.prompt_tokens import fill_prompt_tokens
from pytest_lmbench.runners.prompts import PromptCalibration, calibrate, unique_prompt
from pytest_lmbench.runners.sweep import run_sweep
from pytest_lmbench.runners.thresholds import throughput_limits
from pytest_lmbench.suites.schema import ThroughputCase

NO_TOKENS = "no tokens: the stream ended before its first token"


def run_throughput(ctx: ItemContext, case: ThroughputCase, benchmark: Any | None) -> None:
    settings = ctx.settings
    calibration = _calibration(ctx)
    words = calibration.words_for(case.prompt_tokens)
    ctx.record.prompt = unique_prompt(words)[:400] + " …"

    template = ChatRequest(
        prompt="",  # replaced per request: every request gets its own unique prefix
        max_tokens=case.gen_tokens,
        temperature=settings.lm_temperature,
        seed=settings.lm_seed,
        sampling=sampling_of(settings),
    )
    extra: JSON = {}
    tally = ThroughputTally(
        ctx.record.nodeid, settings.lm_warmup, settings.lm_runs, case.concurrency
    )
    with ItemLoop(ctx, tally) as loop:
        if case.sweep is not None:
            batches, extra = run_sweep(ctx, loop, case, template, words)
        elif case.rate is not None:
            batches, extra = run_open_loop(ctx, loop, case.rate, template, words)
        else:

            async def batch() -> Batch:
                return await closed_batch(loop, template, words, case.concurrency)

            batches = _measure(ctx, loop, lambda: loop.run(batch))
    if ctx.progress is not None:
        ctx.progress.done(tally.line())
    batches, source = _count_prompts(ctx, batches)
    _record(ctx, case, batches, calibration, benchmark)
    ctx.record.flags["prompt_tokens_source"] = source
    ctx.record.timing.update(extra)  # type: ignore[typeddict-item]
    objectives_into(ctx.record.timing, batches, settings.lm_slo)
    if loop.failure is not None:
        # What finished is recorded above; the item errors naming the failed request.
        feed_benchmark(benchmark, [], failed=True)
        ctx.finish_hardware(sum(b.output_tokens for b in batches))
        loop.raise_failure()
    problems = silent_requests(batches)
    # pytest-benchmark's rounds: the end-to-end time of every measured request.
    seconds = _values(s["e2e_s"] for s in ctx.record.timing["samples"])
    feed_benchmark(benchmark, seconds, failed=bool(problems))
    # Only the measured batches' tokens: the energy is the measured window's too
    # (a sweep's window holds every level).
    tokens = extra.get("sweep_measured_tokens", sum(b.output_tokens for b in batches))
    ctx.finish_hardware(tokens)
    problems += gate_problems(ctx)
    problems += _limit_problems(ctx, case)
    fail_on(problems)


def _count_prompts(ctx: ItemContext, batches: list[Batch]) -> tuple[list[Batch], str | None]:
    """Prompt token counts from the server's tokenizer where its stream brought none."""
    counted, sources = [], set()
    for batch in batches:
        if len(batch.prompts) != len(batch.results):
            return batches, None  # a mode that kept no prompts: nothing to count
        results, source = fill_prompt_tokens(ctx.backend, batch.results, batch.prompts)
        counted.append(replace(batch, results=results))
        sources.add(source)
    if None in sources or not sources:
        return batches, None
    return counted, "tokenizer" if "tokenizer" in sources else "server"


def _calibration(ctx: ItemContext) -> PromptCalibration:
    cached = ctx.model_cache.get("prompt_calibration")
    if isinstance(cached, PromptCalibration):
        return cached
    calibration: PromptCalibration = run(lambda: calibrate(ctx.backend, ctx.model.chat_model))
    ctx.model_cache["prompt_calibration"] = calibration
    return calibration


def _measure(ctx: ItemContext, loop: ItemLoop, one: Callable[[], Batch]) -> list[Batch]:
    """Warmup batches are discarded; the measured ones bracket the energy window."""
    warm(loop, one, ctx.settings.lm_warmup)
    ctx.begin_measured()
    done = repeat(loop, one, ctx.settings.lm_runs)
    ctx.end_measured()
    return done


def silent_requests(batches: list[Batch]) -> list[str]:
    """One problem naming the measured requests that produced no tokens, per batch."""
    silent = [(index, b.silent, len(b.results)) for index, b in enumerate(batches) if b.silent]
    if not silent:
        return []
    total = sum(b.silent for b in batches)
    requests = sum(len(b.results) for b in batches)
    where = ", ".join(f"{n} of {c} in batch {index}" for index, n, c in silent)
    return [
        f"{total} of {requests} measured requests produced no tokens ({where}): "
        "the server ended those streams before their first token"
    ]


def _record(
    ctx: ItemContext,
    case: ThroughputCase,
    batches: list[Batch],
    calibration: PromptCalibration,
    benchmark: Any | None,
) -> None:
    samples = []
    for index, batch in enumerate(batches):
        for position, result in enumerate(batch.results):
            sample = request_metrics(result)
            sample["batch"] = index
            sample["error"] = batch.errors.get(position)
            if batch.due_ns is not None:
                late_ns = result.timeline.start_ns - batch.due_ns[position]
                sample["queue_delay_s"] = late_ns / 1e9
            if produced_no_tokens(result):
                # A failed stream has no token count, not a count of 0.
                sample["output_tokens"] = None
                sample["error"] = sample["error"] or NO_TOKENS
            samples.append(sample)
    timing = aggregate(samples)
    aggregate_tps = _values(b.aggregate_output_tps() for b in batches)
    decode_tps = _values(b.aggregate_decode_tps() for b in batches)
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
            "aggregate_decode_tps": summarize(decode_tps)["median"],
            "aggregate_decode_tps_summary": summarize(decode_tps),
            "aggregate_decode_tps_values": decode_tps,
            "requests_per_s": summarize(rps)["median"],
            "output_tokens_total": sum(b.output_tokens for b in batches),
            "connections_opened_measured": connections_opened(samples),
            "samples": samples,
        }
    )
    if case.rate is not None or case.sweep is not None:
        del timing["concurrency"]  # open loop has no fixed level; a sweep names its knee
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
            "token_count_suspect": any(s["token_count_suspect"] for s in samples),
            "prompt_tokens_estimated": calibration.estimated,
            "disagreement": check["disagreement"],
            "route": last.route if last else None,
        }
    )
    if last is not None:
        sampling_flags(ctx.record.flags, last)
    if benchmark is not None and hasattr(benchmark, "extra_info"):
        benchmark.extra_info.update(benchmark_info(timing))


def connections_opened(samples: Iterable[Sample]) -> int:
    """Measured requests that opened their connection (their TTFT holds a handshake)."""
    return sum(s.get("connection_reused") is False for s in samples)


def _values(figures: Iterable[float | None]) -> list[float]:
    return [f for f in figures if f is not None]


def _limit_problems(ctx: ItemContext, case: ThroughputCase) -> list[str]:
    problems = []
    for metric, stat, limit, bound in throughput_limits(ctx, case):
        value = timing_figure(ctx.record.timing, metric, stat)
        summary = timing_summary(ctx.record.timing, metric)
        if value is None:
            problems.append(f"{metric} {stat} was not measured (limit {limit:g})")
            continue
        worse = value < limit if bound == "min" else value > limit
        if worse:
            interval = ""
            if summary is not None and summary["ci95_low"] is not None:
                low, high, n = summary["ci95_low"], summary["ci95_high"], summary["n"]
                interval = f" [ci95 {low:.4g}–{high or low:.4g}, n={n}]"
            word = "below" if bound == "min" else "above"
            problems.append(
                f"{metric} {stat} {value:.4g}{interval} is {word} {bound}_{metric} {limit:g}"
            )
    return problems
