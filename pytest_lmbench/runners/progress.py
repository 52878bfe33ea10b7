"""What a throughput item tells the terminal while it runs: request i of n, batch, tok/s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class ProgressSink(Protocol):
    """Implemented by :class:`pytest_lmbench.reporting.progress.TerminalProgress`."""

    interval_s: float

    def show(self, text: str) -> None: ...

    def done(self, text: str) -> None: ...


@dataclass
class ThroughputTally:
    """Counts of an item's requests so far; ``line()`` says them in one line."""

    name: str
    warmup_batches: int
    measured_batches: int
    concurrency: int
    batch: int = 0  # 1-based once the first batch starts
    requests_done: int = 0
    output_tokens: int = 0
    started_ns: int = field(default_factory=time.perf_counter_ns)
    # Kept across batches: one short batch after another must still show a line.
    shown_ns: int | None = None

    @property
    def total_batches(self) -> int:
        return self.warmup_batches + self.measured_batches

    def request_done(self, output_tokens: int | None) -> None:
        self.requests_done += 1
        self.output_tokens += output_tokens or 0

    def line(self) -> str:
        elapsed_s = (time.perf_counter_ns() - self.started_ns) / 1e9
        phase = " (warmup)" if 0 < self.batch <= self.warmup_batches else ""
        total = self.total_batches * self.concurrency
        # Finished requests only: a streaming request's tokens are not counted yet.
        rate = self.output_tokens / elapsed_s if elapsed_s > 0 else 0.0
        return (
            f"{self.name}: {self.requests_done} of {total} requests done, batch {self.batch} "
            f"of {self.total_batches}{phase}, {rate:.1f} tok/s so far, {elapsed_s:.0f} s"
        )

    def due_in_s(self, interval_s: float) -> float:
        last = self.started_ns if self.shown_ns is None else self.shown_ns
        return max(0.0, interval_s - (time.perf_counter_ns() - last) / 1e9)


async def with_ticks(
    work: Coroutine[Any, Any, T], sink: ProgressSink | None, tally: ThroughputTally | None
) -> T:
    """``work``, showing ``tally`` every ``sink.interval_s`` while it runs."""
    if sink is None or tally is None:
        return await work

    async def tick() -> None:
        while True:
            await asyncio.sleep(tally.due_in_s(sink.interval_s))
            sink.show(tally.line())
            tally.shown_ns = time.perf_counter_ns()

    ticker = asyncio.ensure_future(tick())
    try:
        return await work
    finally:
        ticker.cancel()
