"""Feeding pytest-benchmark: one round per measured request, figures in ``extra_info``.

``benchmark.pedantic`` can only time whole calls, and with c streams at once a
call is a batch of c requests. So the items measure on their own clock and hand
each measured request's end-to-end time to the fixture as one round, the way
``pedantic`` records a round (``_make_stats`` then ``stats.update``). Warmup
requests are never handed over: they are warmup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_lmbench.records import JSON, Timing, timing_figure

# What pytest-benchmark shows as the fixture's mode when a test used it twice.
MODE = "pytest-lmbench (one round per measured request)"


def feed_benchmark(benchmark: Any | None, seconds: Sequence[float], *, failed: bool) -> None:
    """Record ``seconds`` (one per measured request) as the benchmark's rounds.

    ``failed``: the measurement itself failed (a request produced no tokens);
    pytest-benchmark then leaves the entry out of its tables and files, as it
    does for a benchmarked function that raised.
    """
    if benchmark is None:
        return
    if getattr(benchmark, "disabled", True):
        # Disabled (--benchmark-disable, xdist workers): mark the fixture used so it
        # does not warn, as pedantic() does when disabled.
        benchmark.pedantic(lambda: None)
        return
    # Internals of BenchmarkFixture (pytest-benchmark 4 and 5): _mode makes a
    # second use fail as FixtureAlreadyUsed; _make_stats registers the entry.
    benchmark._mode = MODE
    stats = benchmark._make_stats(1)
    for value in seconds:
        stats.update(value)
    if failed or not seconds:
        benchmark.has_error = True


def benchmark_info(timing: Timing) -> JSON:
    """tok/s, TTFT and token counts for ``extra_info`` (shown by --benchmark-compare)."""
    info: JSON = {
        f"{key}_median": timing_figure(timing, key)
        for key in ("decode_tps", "ttft_s", "prefill_tps", "e2e_s")
    }
    info["aggregate_output_tps"] = timing.get("aggregate_output_tps")
    info["aggregate_decode_tps"] = timing.get("aggregate_decode_tps")
    info["output_tokens_total"] = timing.get("output_tokens_total")
    info["prompt_tokens_actual"] = timing.get("prompt_tokens_actual")
    info["concurrency"] = timing.get("concurrency")
    return info
