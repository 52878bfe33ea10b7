"""Embedding items: batches of inputs to an embedding model; inputs/s, tokens/s, latency.

Each measured run is one request carrying ``batch`` fresh inputs (no server cache
can answer it), after ``--lm-warmup`` discarded runs; the statistics are those of
the other throughput items. Input tokens are the server's count; when it gives
none (LM Studio reports 0), about one token per filler word, flagged as estimated.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import httpx

from pytest_lmbench.backends.embeddings import EmbedResult
from pytest_lmbench.errors import ModelMismatch
from pytest_lmbench.metrics.stats import summarize
from pytest_lmbench.records import Sample, Timing
from pytest_lmbench.runners.bench import feed_benchmark
from pytest_lmbench.runners.common import (
    ItemContext,
    ItemFault,
    fail_on,
    gate_problems,
    guarded,
    run,
    same_model,
)
from pytest_lmbench.runners.prompts import filler
from pytest_lmbench.suites.schema import EmbeddingCase

Embed = Callable[[httpx.AsyncClient, str, list[str]], Awaitable[EmbedResult]]


def fresh_inputs(case: EmbeddingCase) -> list[str]:
    """``batch`` inputs of about ``prompt_tokens`` words, each with its own prefix."""
    return [f"[{secrets.token_hex(6)}] {filler(case.prompt_tokens)}" for _ in range(case.batch)]


def run_embedding(ctx: ItemContext, case: EmbeddingCase, benchmark: Any | None) -> None:
    embed: Embed | None = getattr(ctx.backend, "embed", None)
    if embed is None:
        raise ItemFault(f"{ctx.backend.label} has no embeddings route here", "protocol")
    settings = ctx.settings
    model = ctx.model.chat_model

    async def measure() -> list[EmbedResult]:
        async with ctx.backend.async_client() as client:
            for _ in range(settings.lm_warmup):
                await embed(client, model, fresh_inputs(case))
            ctx.begin_measured()
            done = [await embed(client, model, fresh_inputs(case)) for _ in range(settings.lm_runs)]
            ctx.end_measured()
            return done

    results: list[EmbedResult] = run(measure)
    for result in results:
        guarded(partial(_check, ctx, result, case))
    samples = [_sample(result, case, index) for index, result in enumerate(results)]
    ctx.record.timing = _timing(samples, case, settings.lm_runs, settings.lm_warmup)
    ctx.record.flags.update(
        {
            "route": results[-1].route if results else None,
            "token_count_estimated": any(s["token_count_estimated"] for s in samples),
            "prompt_tokens_source": "server" if results and results[-1].prompt_tokens else None,
        }
    )
    feed_benchmark(benchmark, [s["e2e_s"] or 0.0 for s in samples], failed=False)
    ctx.finish_hardware(sum(s["prompt_tokens"] or 0 for s in samples))
    fail_on(gate_problems(ctx))


def _check(ctx: ItemContext, result: EmbedResult, case: EmbeddingCase) -> None:
    answered = result.model
    if answered and not (
        same_model(ctx.model.key, answered) or same_model(ctx.model.instance_id, answered)
    ):
        raise ModelMismatch(
            f"asked {ctx.backend.label} for {ctx.model.key} but {answered} answered"
        )
    if result.vectors != case.batch:
        raise ItemFault(
            f"{ctx.backend.label} returned {result.vectors} embeddings for {case.batch} inputs",
            "protocol",
        )


def _sample(result: EmbedResult, case: EmbeddingCase, index: int) -> Sample:
    seconds = (result.end_ns - result.start_ns) / 1e9
    tokens = result.prompt_tokens
    estimated = tokens is None
    counted = tokens if tokens is not None else case.prompt_tokens * case.batch
    return {
        "e2e_s": seconds,
        "prompt_tokens": counted,
        "token_count_estimated": estimated,
        "batch": index,
        "inputs_per_s": case.batch / seconds if seconds > 0 else None,
        "embed_tokens_per_s": counted / seconds if seconds > 0 else None,
    }


def _timing(samples: list[Sample], case: EmbeddingCase, runs: int, warmup: int) -> Timing:
    def values(key: str) -> list[float]:
        found = (s.get(key) for s in samples)
        return [float(v) for v in found if isinstance(v, int | float)]

    return {
        "e2e_s": summarize(values("e2e_s")),
        "inputs_per_s": summarize(values("inputs_per_s")),
        "embed_tokens_per_s": summarize(values("embed_tokens_per_s")),
        "embed_batch": case.batch,
        "prompt_tokens": case.prompt_tokens,
        "runs": runs,
        "warmup": warmup,
        "samples": samples,
    }
