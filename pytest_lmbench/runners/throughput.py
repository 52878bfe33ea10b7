"""Throughput items: warmup, measured repetitions, concurrency, honest aggregation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_lmbench.backends.base import ChatRequest, ChatResult
from pytest_lmbench.errors import LmbenchError
from pytest_lmbench.metrics.stats import summarize
from pytest_lmbench.metrics.timing import aggregate, disagreement, request_metrics
from pytest_lmbench.records import timing_figure, timing_summary
from pytest_lmbench.runners.bench import benchmark_info, feed_benchmark
from pytest_lmbench.runners.common import (
    ItemContext,
    check_model,
    fail,
    fail_on,
    gate_problems,
    run,
)
from pytest_lmbench.runners.progress import ThroughputTally, with_ticks
from pytest_lmbench.runners.prompt_tokens import fill_prompt_tokens
from pytest_lmbench.runners.prompts import PromptCalibration, calibrate, unique_prompt
from pytest_lmbench.runners.thresholds import throughput_limits
from pytest_lmbench.suites.schema import ThroughputCase

NO_TOKENS = "no tokens: the stream ended before its first token"


def produced_no_tokens(result: ChatResult) -> bool:
    """A stream that ended without a first token or with 0 tokens failed (e.g. a server
    that ends one stream when another request arrives); it must not pass as measured."""
    return result.timeline.first_token_ns is None or result.output_tokens == 0


@dataclass
class Batch:
    results: list[ChatResult]
    wall_s: float
    prompts: list[str] = field(default_factory=list)  # the requests', in results' order

    @property
    def output_tokens(self) -> int:
        return sum(r.output_tokens or 0 for r in self.results)

    @property
    def silent(self) -> int:
        return sum(produced_no_tokens(r) for r in self.results)

    def aggregate_output_tps(self) -> float | None:
        """All output tokens / wall time of the batch (prefill waits included)."""
        return self.output_tokens / self.wall_s if self.wall_s > 0 else None

    def aggregate_decode_tps(self) -> float | None:
        """(All output tokens - c) / (last token - first token across the batch).

        Each stream's first token closes its prefill, so it is left out like in
        ``decode_tps``; None unless every stream has a first and a last token.
        """
        firsts = [r.timeline.first_token_ns for r in self.results]
        lasts = [r.timeline.last_token_ns for r in self.results]
        counts = [r.output_tokens for r in self.results]
        if not self.results or None in firsts or None in lasts or None in counts:
            return None
        span_s = (max(t for t in lasts if t) - min(t for t in firsts if t)) / 1e9
        decoded = sum(c for c in counts if c) - len(self.results)
        return decoded / span_s if span_s > 0 and decoded > 0 else None


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
    tally = ThroughputTally(
        ctx.record.nodeid, settings.lm_warmup, settings.lm_runs, case.concurrency
    )
    with ItemLoop(ctx, tally) as loop:

        async def counted(one: ChatRequest) -> ChatResult:
            result = await ctx.backend.chat(loop.client, ctx.model.chat_model, one)
            tally.request_done(result.output_tokens)
            return result

        async def batch() -> Batch:
            requests = [
                _with_prompt(request, unique_prompt(words)) for _ in range(case.concurrency)
            ]
            tally.batch += 1
            started = time.perf_counter_ns()
            results = await asyncio.gather(*(counted(r) for r in requests))
            wall_s = (time.perf_counter_ns() - started) / 1e9
            for result in results:
                check_model(ctx.model, result, ctx.backend.label)
            return Batch(list(results), wall_s, [r.prompt for r in requests])

        batches = _measure(ctx, lambda: loop.run(batch), settings.lm_runs, settings.lm_warmup)
    if ctx.progress is not None:
        ctx.progress.done(tally.line())
    batches, source = _count_prompts(ctx, batches)
    _record(ctx, case, batches, calibration, benchmark)
    ctx.record.flags["prompt_tokens_source"] = source
    problems = silent_requests(batches)
    # pytest-benchmark's rounds: the end-to-end time of every measured request.
    seconds = _values(s["e2e_s"] for s in ctx.record.timing["samples"])
    feed_benchmark(benchmark, seconds, failed=bool(problems))
    # Only the measured batches' tokens: the energy is the measured window's too.
    ctx.finish_hardware(sum(b.output_tokens for b in batches))
    problems += gate_problems(ctx)
    problems += _limit_problems(ctx, case)
    fail_on(problems)


class ItemLoop:
    """One event loop and one HTTP client for all rounds of an item.

    Warmup rounds open the connections; measured rounds reuse them, so a TCP
    handshake or client set-up never counts as time to first token.
    """

    def __init__(self, ctx: ItemContext, tally: ThroughputTally | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self.client = ctx.backend.async_client()
        self._progress = ctx.progress
        self._tally = tally

    def run(self, factory: Callable[[], Coroutine[Any, Any, Batch]]) -> Batch:
        try:
            work = with_ticks(factory(), self._progress, self._tally)
            return self._loop.run_until_complete(work)
        except LmbenchError as exc:
            message = str(exc)
        fail(message)

    def __enter__(self) -> ItemLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._loop.run_until_complete(self.client.aclose())
            # As asyncio.run() does: finalise stream generators a request left open, or
            # their pending aclose() tasks are logged as destroyed later.
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._loop.close()


def _count_prompts(ctx: ItemContext, batches: list[Batch]) -> tuple[list[Batch], str | None]:
    """Prompt token counts from the server's tokenizer where its stream brought none."""
    counted, sources = [], set()
    for batch in batches:
        results, source = fill_prompt_tokens(ctx.backend, batch.results, batch.prompts)
        counted.append(replace(batch, results=results))
        sources.add(source)
    if None in sources or not sources:
        return batches, None
    return counted, "tokenizer" if "tokenizer" in sources else "server"


def _with_prompt(request: ChatRequest, prompt: str) -> ChatRequest:
    return replace(request, prompt=prompt)


def _calibration(ctx: ItemContext) -> PromptCalibration:
    cached = ctx.model_cache.get("prompt_calibration")
    if isinstance(cached, PromptCalibration):
        return cached
    calibration: PromptCalibration = run(lambda: calibrate(ctx.backend, ctx.model.chat_model))
    ctx.model_cache["prompt_calibration"] = calibration
    return calibration


def _measure(ctx: ItemContext, one: Callable[[], Batch], runs: int, warmup: int) -> list[Batch]:
    """Warmup batches are discarded; the measured ones bracket the energy window."""
    for _ in range(warmup):
        one()
    ctx.begin_measured()
    done = [one() for _ in range(runs)]
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
        for result in batch.results:
            sample = request_metrics(result)
            sample["batch"] = index
            sample["error"] = None
            if produced_no_tokens(result):
                # A failed stream has no token count, not a count of 0.
                sample["output_tokens"], sample["error"] = None, NO_TOKENS
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
            "token_count_suspect": any(s["token_count_suspect"] for s in samples),
            "prompt_tokens_estimated": calibration.estimated,
            "disagreement": check["disagreement"],
            "route": last.route if last else None,
        }
    )
    if benchmark is not None and hasattr(benchmark, "extra_info"):
        benchmark.extra_info.update(benchmark_info(timing))


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
