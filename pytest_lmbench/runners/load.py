"""What every throughput mode shares: batches of results and the item's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_lmbench.backends.base import ChatRequest, ChatResult
from pytest_lmbench.errors import LmbenchError
from pytest_lmbench.metrics.slo import goodput, objective_report
from pytest_lmbench.records import JSON, Timing
from pytest_lmbench.runners.common import ItemContext, ItemFault, check_model
from pytest_lmbench.runners.lanes import ClientLanes
from pytest_lmbench.runners.progress import ThroughputTally, with_ticks
from pytest_lmbench.runners.prompts import unique_prompt


def produced_no_tokens(result: ChatResult) -> bool:
    """A stream that ended without a first token or with 0 tokens failed (e.g. a server
    that ends one stream when another request arrives); it must not pass as measured."""
    return result.timeline.first_token_ns is None or result.output_tokens == 0


@dataclass
class Batch:
    results: list[ChatResult]
    wall_s: float
    # Open loop: when each request was due to be sent (its arrival in the schedule).
    due_ns: list[int] | None = None
    started_ns: int = 0  # when the batch (or the open-loop schedule) started
    # The requests' prompts, in results' order (the server's tokenizer counts them).
    prompts: list[str] = field(default_factory=list)

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


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where it is installed: less client CPU per token under load."""
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # pragma: no cover - depends on the environment
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No garbage collection while requests are in flight.

    In a pytest session's heap a full collection took 210 ms: every stream whose
    bytes arrived meanwhile was stamped that much late (c=101: TTFT max 0.44 s for
    0.30 s). Refcounting still frees the streams' objects; the collector runs
    between batches.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class ItemLoop:
    """One event loop and one set of client lanes for all rounds of an item.

    Warmup rounds open the connections; measured rounds reuse them, so a TCP
    handshake or client set-up never counts as time to first token.
    """

    def __init__(self, ctx: ItemContext, tally: ThroughputTally | None = None) -> None:
        self._loop = new_event_loop()
        self._ctx = ctx
        self.lanes = ClientLanes(ctx.backend.async_client)
        self.tally = tally  # progress: requests done, batch, tok/s so far

    async def chat(self, request: ChatRequest) -> ChatResult:
        async with self.lanes.lane() as client:
            result = await self._ctx.backend.chat(client, self._ctx.model.chat_model, request)
        if self.tally is not None:
            self.tally.request_done(result.output_tokens)
        return result

    def run(self, factory: Callable[[], Coroutine[Any, Any, Batch]]) -> Batch:
        try:
            work = with_ticks(factory(), self._ctx.progress, self.tally)
            with gc_paused():
                return self._loop.run_until_complete(work)
        except LmbenchError as exc:
            message, kind = str(exc), exc.kind
        # A request the server failed is a fault: the item errors (see runners.common).
        raise ItemFault(message, kind)

    def __enter__(self) -> ItemLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._loop.run_until_complete(self.lanes.aclose())
            # As asyncio.run() does: finalise stream generators a request left open, or
            # their pending aclose() tasks are logged as destroyed later.
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._loop.close()


def fresh_requests(template: ChatRequest, words: int, count: int) -> list[ChatRequest]:
    """``count`` copies of ``template``, each with its own unique prompt prefix."""
    return [replace(template, prompt=unique_prompt(words)) for _ in range(count)]


async def closed_batch(
    ctx: ItemContext, loop: ItemLoop, template: ChatRequest, words: int, concurrency: int
) -> Batch:
    """``concurrency`` requests at once, the next round only when all are done."""
    requests = fresh_requests(template, words, concurrency)
    if loop.tally is not None:
        loop.tally.batch += 1
    started = time.perf_counter_ns()
    results = await asyncio.gather(*(loop.chat(r) for r in requests))
    wall_s = (time.perf_counter_ns() - started) / 1e9
    for result in results:
        check_model(ctx.model, result, ctx.backend.label)
    return Batch(list(results), wall_s, started_ns=started, prompts=[r.prompt for r in requests])


def objectives_into(timing: Timing, batches: list[Batch], objectives: JSON | None) -> None:
    """With ``--lm-slo``: each objective against the item's percentiles, and goodput."""
    if not objectives:
        return
    samples = timing.get("samples") or []
    wall_s = sum(b.wall_s for b in batches)
    timing["objectives"] = objective_report(timing, objectives)
    timing.update(goodput(samples, objectives, wall_s))  # type: ignore[typeddict-item]
