"""Latency objectives (``--lm-slo``) and goodput, the rate of requests that met them all.

An objective like ``ttft_p95=2s`` is read two ways, as vLLM's ``--goodput`` and
guidellm do: per request (its TTFT at most 2 s; for ITL its mean gap, vLLM's
TPOT) to count good requests, and over an item (the p95 of its requests) to say
whether a load level still meets the objective, which ends a sweep.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import fmean
from typing import Any

from pytest_lmbench.records import JSON, Sample, timing_figure

# Objective name prefix -> the per-request figure it limits.
METRICS: dict[str, str] = {"ttft": "ttft_s", "itl": "itl_s", "e2e": "e2e_s"}


def request_figure(sample: Sample, metric: str) -> float | None:
    """The request's own value for an objective: ITL is its mean gap."""
    if metric == "itl_s":
        gaps = sample.get("itl_s") or []
        return fmean(gaps) if gaps else None
    value = sample.get(metric)
    return float(value) if isinstance(value, (int, float)) else None


def meets(sample: Sample, objectives: Mapping[str, float]) -> bool:
    """A failed request, or one without a figure an objective needs, is not good."""
    if sample.get("error"):
        return False
    for name, limit_s in objectives.items():
        metric = METRICS[name.split("_p", 1)[0]]
        value = request_figure(sample, metric)
        if metric == "itl_s" and value is None and (sample.get("output_tokens") or 0) <= 1:
            continue  # one token has no gap to judge
        if value is None or value > limit_s:
            return False
    return True


def goodput(samples: Sequence[Sample], objectives: Mapping[str, float], wall_s: float) -> JSON:
    """Good requests, and good requests per second of the measured wall time."""
    good = sum(meets(s, objectives) for s in samples)
    return {
        "good_requests": good,
        "goodput_per_s": good / wall_s if wall_s > 0 else None,
        "measured_wall_s": wall_s,
    }


def objective_report(timing: Mapping[str, Any], objectives: Mapping[str, float]) -> JSON:
    """Each objective against the item's percentile: value, limit and whether it held."""
    report: JSON = {}
    for name, limit_s in objectives.items():
        prefix, percentile = name.split("_", 1)
        value = timing_figure(timing, METRICS[prefix], percentile)
        report[name] = {
            "limit_s": limit_s,
            "value_s": value,
            "met": value is not None and value <= limit_s,
        }
    return report


def broken(report: Mapping[str, Any]) -> list[str]:
    """Names of the objectives an item did not meet."""
    return [name for name, check in report.items() if not check["met"]]
