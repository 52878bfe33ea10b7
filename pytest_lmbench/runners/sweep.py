"""Saturation sweeps (``--lm-concurrency=sweep``, ``--lm-rate=sweep``): find the knee.

Load doubles (1, 2, 4... streams or requests per second) until aggregate output
throughput grows by less than :data:`MIN_GAIN` over the best level so far, or a
latency objective (``--lm-slo``) breaks. The knee is the last level that still
paid: beyond it, more load only adds waiting. Every level is one point of the
curve (throughput against TTFT p95); the item's own figures are the knee's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pytest_lmbench.backends.base import ChatRequest
from pytest_lmbench.metrics.slo import broken, goodput, objective_report
from pytest_lmbench.metrics.stats import summarize
from pytest_lmbench.metrics.timing import aggregate, request_metrics
from pytest_lmbench.records import JSON, timing_figure
from pytest_lmbench.runners.common import ItemContext
from pytest_lmbench.runners.load import Batch, ItemLoop, closed_batch, repeat, warm
from pytest_lmbench.runners.openloop import open_loop_level, rate_figures, warm_up
from pytest_lmbench.suites.schema import ThroughputCase

MIN_GAIN = 0.05  # less than 5 % more throughput: saturated
MAX_CONCURRENCY = 1024
MAX_RATE_PER_S = 1024.0


@dataclass
class Level:
    load: float
    batches: list[Batch]
    point: JSON

    @property
    def aggregate_tps(self) -> float:
        value = self.point["aggregate_output_tps"]
        return float(value) if value is not None else 0.0


def run_sweep(
    ctx: ItemContext, loop: ItemLoop, case: ThroughputCase, template: ChatRequest, words: int
) -> tuple[list[Batch], JSON]:
    """Every level's figures, the knee, why the sweep stopped; the knee's batches."""
    by_rate = case.sweep == "rate"
    levels: list[Level] = []
    stop = None
    ctx.begin_measured()
    for load in _loads(by_rate):
        batches = _measure_level(ctx, loop, by_rate, load, template, words)
        level = Level(load, batches, _point(ctx, by_rate, load, batches))
        best = _knee(levels)
        levels.append(level)
        if loop.failure is not None:
            stop = "a request failed: " + loop.failure.describe()
            break
        if level.point.get("objectives_broken"):
            stop = "objectives broken: " + ", ".join(level.point["objectives_broken"])
            break
        if best is not None and level.aggregate_tps < best.aggregate_tps * (1 + MIN_GAIN):
            stop = f"throughput grew less than {MIN_GAIN:.0%}"
            break
    ctx.end_measured()
    # Stopped: the knee is the best level before the one that did not pay.
    knee = _knee(levels[:-1] if stop else levels) or levels[-1]
    unit = "rate_per_s" if by_rate else "concurrency"
    extra: JSON = {
        "sweep": [level.point for level in levels],
        f"knee_{unit}": knee.load if by_rate else int(knee.load),
        **({} if by_rate else {"concurrency": int(knee.load)}),
        "sweep_stop": stop or "the largest level was reached",
        "sweep_measured_tokens": sum(b.output_tokens for lv in levels for b in lv.batches),
    }
    return knee.batches, extra


def _knee(levels: list[Level]) -> Level | None:
    """The level with the most throughput among those that met every objective."""
    good = [lv for lv in levels if not lv.point.get("objectives_broken")]
    return max(good, key=lambda lv: lv.aggregate_tps, default=None)


def _loads(by_rate: bool) -> Iterator[float]:
    load, top = 1.0, MAX_RATE_PER_S if by_rate else MAX_CONCURRENCY
    while load <= top:
        yield load
        load *= 2


def _measure_level(
    ctx: ItemContext,
    loop: ItemLoop,
    by_rate: bool,
    load: float,
    template: ChatRequest,
    words: int,
) -> list[Batch]:
    if by_rate:
        warm_up(ctx, loop, load, template, words)
        return [open_loop_level(ctx, loop, load, template, words)]

    async def batch() -> Batch:
        return await closed_batch(loop, template, words, int(load))

    # Warmup opens this level's new connections.
    warm(loop, lambda: loop.run(batch), ctx.settings.lm_warmup)
    return repeat(loop, lambda: loop.run(batch), ctx.settings.lm_runs)


def _point(ctx: ItemContext, by_rate: bool, load: float, batches: list[Batch]) -> JSON:
    samples = [request_metrics(r) for b in batches for r in b.results]
    timing = aggregate(samples)
    tps = [v for v in (b.aggregate_output_tps() for b in batches) if v is not None]
    point: JSON = {
        "rate_per_s" if by_rate else "concurrency": load if by_rate else int(load),
        "aggregate_output_tps": summarize(tps)["median"],
        "requests": len(samples),
    }
    for key in ("ttft_s", "itl_s", "e2e_s"):
        point[f"{key.removesuffix('_s')}_p95_s"] = timing_figure(timing, key, "p95")
    if by_rate:
        point["achieved_rate_per_s"] = rate_figures(batches[0], load)["achieved_rate_per_s"]
    objectives = ctx.settings.lm_slo
    if objectives:
        report = objective_report(timing, objectives)
        point["objectives_broken"] = broken(report)
        wall_s = sum(b.wall_s for b in batches)
        point["goodput_per_s"] = goodput(samples, objectives, wall_s)["goodput_per_s"]
    return point
