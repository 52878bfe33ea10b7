"""What every throughput mode shares: batches of results and the item's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_lmbench.backends.base import ChatRequest, ChatResult, StreamTimeline
from pytest_lmbench.errors import LmbenchError
from pytest_lmbench.metrics.slo import goodput, objective_report
from pytest_lmbench.records import JSON, Timing
from pytest_lmbench.redaction import printable
from pytest_lmbench.runners.common import ItemContext, ItemFault, chat_retrying, check_model
from pytest_lmbench.runners.lanes import ClientLanes
from pytest_lmbench.runners.progress import ThroughputTally, with_ticks
from pytest_lmbench.runners.prompts import unique_prompt


def produced_no_tokens(result: ChatResult) -> bool:
    """A stream that ended without a first token or with 0 tokens failed (e.g. a server
    that ends one stream when another request arrives); it must not pass as measured."""
    return result.timeline.first_token_ns is None or result.output_tokens == 0


@dataclass(frozen=True)
class RequestFailure:
    """The first request of an item that the server failed (or whose answer was unreadable)."""

    batch: str  # "batch 1" (as the samples number them, from 0) or "warmup batch 0"
    position: int  # the request's place in its batch, from 0
    size: int  # requests in that batch
    message: str
    kind: str

    def describe(self) -> str:
        return f"request {self.position + 1} of {self.size} in {self.batch}: {self.message}"


@dataclass
class Batch:
    results: list[ChatResult]
    wall_s: float
    # Open loop: when each request was due to be sent (its arrival in the schedule).
    due_ns: list[int] | None = None
    started_ns: int = 0  # when the batch (or the open-loop schedule) started
    # The requests' prompts, in results' order (the server's tokenizer counts them).
    prompts: list[str] = field(default_factory=list)
    # Requests that failed or were cancelled because a sibling failed: position -> why.
    # Their results are empty stand-ins (no token, no end), so every figure is null.
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def output_tokens(self) -> int:
        return sum(r.output_tokens or 0 for r in self.results)

    @property
    def silent(self) -> int:
        return sum(
            produced_no_tokens(r) for i, r in enumerate(self.results) if i not in self.errors
        )

    def aggregate_output_tps(self) -> float | None:
        """All output tokens / wall time of the batch (prefill waits included); None for a
        batch cut short by a failed request, whose wall time ends early."""
        if self.errors or self.wall_s <= 0:
            return None
        return self.output_tokens / self.wall_s

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
        self.warming = False  # set by warm(): a failure names a warmup batch
        self._counts = {True: 0, False: 0}  # batches sent, by warming
        # The first failed request: later batches are not sent, the item errors.
        self.failure: RequestFailure | None = None

    async def chat(self, request: ChatRequest) -> ChatResult:
        async with self.lanes.lane() as client:
            ctx = self._ctx
            result = await chat_retrying(
                ctx.backend, client, ctx.model.chat_model, request, ctx.waited_429
            )
        check_model(self._ctx.model, result, self._ctx.backend.label)
        if self.tally is not None:
            self.tally.request_done(result.output_tokens)
        return result

    async def chat_all(self, sends: list[Coroutine[Any, Any, ChatResult]]) -> Batch:
        """Every send at once; when one fails, its siblings are cancelled and awaited
        (never left running into the next batch or the loop's close), and the batch
        keeps an empty stand-in with the reason for each request that did not finish."""
        started = time.perf_counter_ns()
        tasks = [asyncio.ensure_future(send) for send in sends]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        wall_s = (time.perf_counter_ns() - started) / 1e9
        batch = Batch(_results(tasks, started), wall_s, started_ns=started)
        batch.errors = self._errors(tasks)
        self._counts[self.warming] += 1
        return batch

    def _errors(self, tasks: Sequence[asyncio.Future[ChatResult]]) -> dict[int, str]:
        errors: dict[int, str] = {}
        for position, task in enumerate(tasks):
            if task.cancelled():
                continue
            exc = task.exception()
            if exc is None:
                continue
            if not isinstance(exc, LmbenchError):
                raise exc  # a bug, not a server fault: let pytest show it
            errors[position] = printable(str(exc))
            if self.failure is None:
                where = ("warmup batch " if self.warming else "batch ") + str(
                    self._counts[self.warming]
                )
                self.failure = RequestFailure(
                    where, position, len(tasks), errors[position], exc.kind
                )
        if errors:
            first = min(errors)
            for position, task in enumerate(tasks):
                if task.cancelled():
                    errors[position] = f"cancelled: request {first + 1} of this batch failed"
        return errors

    def run(self, factory: Callable[[], Coroutine[Any, Any, Batch]]) -> Batch:
        work = with_ticks(factory(), self._ctx.progress, self.tally)
        with gc_paused():
            return self._loop.run_until_complete(work)

    def raise_failure(self) -> None:
        """The item errors naming the request that failed (see runners.common.ItemFault)."""
        if self.failure is not None:
            raise ItemFault(self.failure.describe(), self.failure.kind)

    def __enter__(self) -> ItemLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            # As asyncio.run() does: no task outlives the loop. A task finalised later,
            # during an unrelated import, ended Python 3.11 sessions with INTERNALERROR.
            _cancel_leftovers(self._loop)
            self._loop.run_until_complete(self.lanes.aclose())
            # As asyncio.run() does: finalise stream generators a request left open, or
            # their pending aclose() tasks are logged as destroyed later.
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._loop.close()


def _results(tasks: Sequence[asyncio.Future[ChatResult]], started_ns: int) -> list[ChatResult]:
    return [
        task.result()
        if task.done() and not task.cancelled() and task.exception() is None
        else unfinished(started_ns)
        for task in tasks
    ]


def unfinished(started_ns: int) -> ChatResult:
    """The stand-in for a request that failed: no token, no end, so no figure."""
    timeline = StreamTimeline(start_ns=started_ns)
    return ChatResult("", None, "", "", [], None, None, None, False, {}, timeline)


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    leftovers = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in leftovers:
        task.cancel()
    if leftovers:
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))


def repeat(loop: ItemLoop, one: Callable[[], Batch], count: int) -> list[Batch]:
    """``count`` measured batches, stopping after one whose request failed: its finished
    requests are kept as samples, and nothing more is sent to a failing server."""
    done = []
    for _ in range(count):
        done.append(one())
        if loop.failure is not None:
            break
    return done


def warm(loop: ItemLoop, one: Callable[[], Batch], count: int) -> None:
    """Warmup batches are discarded; a failed one errors the item at once (nothing measured)."""
    loop.warming = True
    try:
        for _ in range(count):
            one()
            loop.raise_failure()
    finally:
        loop.warming = False


def fresh_requests(template: ChatRequest, words: int, count: int) -> list[ChatRequest]:
    """``count`` copies of ``template``, each with its own unique prompt prefix."""
    return [replace(template, prompt=unique_prompt(words)) for _ in range(count)]


async def closed_batch(
    loop: ItemLoop, template: ChatRequest, words: int, concurrency: int
) -> Batch:
    """``concurrency`` requests at once, the next round only when all are done."""
    requests = fresh_requests(template, words, concurrency)
    if loop.tally is not None:
        loop.tally.batch += 1
    batch = await loop.chat_all([loop.chat(r) for r in requests])
    batch.prompts = [r.prompt for r in requests]
    return batch


def objectives_into(timing: Timing, batches: list[Batch], objectives: JSON | None) -> None:
    """With ``--lm-slo``: each objective against the item's percentiles, and goodput."""
    if not objectives:
        return
    samples = timing.get("samples") or []
    wall_s = sum(b.wall_s for b in batches)
    timing["objectives"] = objective_report(timing, objectives)
    timing.update(goodput(samples, objectives, wall_s))  # type: ignore[typeddict-item]
