"""Open-loop load (``--lm-rate``): requests leave at seeded Poisson arrival times.

Closed-loop concurrency sends the next request only when one finishes, so a slow
server slows its own load; here arrivals keep their schedule whatever the server
does, as vLLM ``bench serve --request-rate`` and guidellm's Poisson profile send
them. The schedule is a Poisson process conditioned on its count: exponential gaps
scaled so that ``count`` arrivals span exactly ``count / rate`` seconds, which
keeps a 200-request run's achieved rate on the requested one instead of a
random 7 % off it. A request sent late (the client was busy) keeps its lateness
as ``queue_delay_s``.
"""

from __future__ import annotations

import asyncio
import math
import random
import time

from pytest_lmbench.backends.base import ChatRequest, ChatResult
from pytest_lmbench.config.options import Settings
from pytest_lmbench.metrics.stats import summarize
from pytest_lmbench.records import JSON
from pytest_lmbench.runners.common import ItemContext
from pytest_lmbench.runners.load import Batch, ItemLoop, closed_batch, fresh_requests, warm

# Warmup opens this many times the connections the expected load holds (Little's law).
WARMUP_HEADROOM = 1.5


def arrival_offsets_s(rate_per_s: float, count: int, seed: int) -> list[float]:
    """Send times from the start, seconds: seeded Poisson arrivals, the last at count/rate."""
    rng = random.Random(seed)
    gaps = [rng.expovariate(1.0) for _ in range(count)]
    scale = count / rate_per_s / sum(gaps)
    offsets, elapsed = [], 0.0
    for gap in gaps:
        elapsed += gap * scale
        offsets.append(elapsed)
    return offsets


def request_count(settings: Settings, rate_per_s: float) -> int:
    if settings.lm_rate_duration is not None:
        return max(1, round(rate_per_s * settings.lm_rate_duration))
    return settings.lm_rate_requests


def run_open_loop(
    ctx: ItemContext, loop: ItemLoop, rate_per_s: float, template: ChatRequest, words: int
) -> tuple[list[Batch], JSON]:
    """Warm up, then one measured open-loop run at ``rate_per_s``."""
    warm_up(ctx, loop, rate_per_s, template, words)
    ctx.begin_measured()
    batch = open_loop_level(ctx, loop, rate_per_s, template, words)
    ctx.end_measured()
    return [batch], rate_figures(batch, rate_per_s)


def warm_up(
    ctx: ItemContext, loop: ItemLoop, rate_per_s: float, template: ChatRequest, words: int
) -> None:
    """One request to learn its duration, then as many at once as the rate keeps in flight,
    so the measured run finds its connections open."""
    if ctx.settings.lm_warmup <= 0:
        return

    async def one() -> Batch:
        return await closed_batch(loop, template, words, 1)

    e2e_s = loop.run(one).wall_s
    loop.raise_failure()
    count = request_count(ctx.settings, rate_per_s)
    width = min(count, max(1, math.ceil(rate_per_s * e2e_s * WARMUP_HEADROOM)))

    async def wide() -> Batch:
        return await closed_batch(loop, template, words, width)

    warm(loop, lambda: loop.run(wide), ctx.settings.lm_warmup)


def open_loop_level(
    ctx: ItemContext, loop: ItemLoop, rate_per_s: float, template: ChatRequest, words: int
) -> Batch:
    count = request_count(ctx.settings, rate_per_s)
    offsets = arrival_offsets_s(rate_per_s, count, ctx.settings.lm_seed or 0)

    async def run() -> Batch:
        return await open_loop_batch(loop, template, words, offsets)

    return loop.run(run)


async def open_loop_batch(
    loop: ItemLoop, template: ChatRequest, words: int, offsets_s: list[float]
) -> Batch:
    requests = fresh_requests(template, words, len(offsets_s))
    started = time.perf_counter_ns()
    due_ns = [started + int(offset * 1e9) for offset in offsets_s]

    async def send(request: ChatRequest, due: int) -> ChatResult:
        # A loop's timer may fire up to a millisecond early (uvloop counts whole ms):
        # sleep again, so no request goes out before its arrival time.
        while (delay_ns := due - time.perf_counter_ns()) > 0:
            await asyncio.sleep(delay_ns / 1e9)
        return await loop.chat(request)

    batch = await loop.chat_all([send(r, d) for r, d in zip(requests, due_ns, strict=True)])
    batch.due_ns, batch.started_ns = due_ns, started
    batch.prompts = [r.prompt for r in requests]
    return batch


def rate_figures(batch: Batch, rate_per_s: float) -> JSON:
    """Requested and achieved rate, lateness, and how many requests were in flight at most.

    The achieved rate counts requests over the span from the schedule's start to
    the last send, the span in which the schedule put them.
    """
    starts = [r.timeline.start_ns for r in batch.results]
    due = batch.due_ns or starts
    span_s = (max(starts) - batch.started_ns) / 1e9 if starts else 0.0
    delays = [(sent - planned) / 1e9 for sent, planned in zip(starts, due, strict=True)]
    return {
        "rate_per_s": rate_per_s,
        "achieved_rate_per_s": len(starts) / span_s if span_s > 0 else None,
        "queue_delay_s": summarize(delays),
        "requests": len(batch.results),
        "in_flight_max": in_flight_max(batch),
    }


def in_flight_max(batch: Batch) -> int:
    """The most requests open at one time (sent, not yet ended)."""
    events = []
    for result in batch.results:
        t = result.timeline
        events.append((t.start_ns, 1))
        events.append((t.end_ns if t.end_ns is not None else t.start_ns, -1))
    most = open_now = 0
    for _, step in sorted(events):
        open_now += step
        most = max(most, open_now)
    return most
