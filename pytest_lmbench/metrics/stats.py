"""Statistics for repeated measurements: summaries, bootstrap intervals, tests.

Conventions: percentiles interpolate linearly (numpy's default); the
standard deviation is the sample one (n - 1), as llama-bench reports it;
intervals are seeded percentile bootstraps, so a rerun on the same data
gives the same numbers. Values that are not finite (failed measurements
recorded as NaN) are dropped before anything is computed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.stats import mannwhitneyu, wilcoxon

from pytest_lmbench.records import Summary

Alternative = Literal["two-sided", "less", "greater"]
MIN_RESAMPLES = 1000
# Resample in blocks of at most this many cells to bound memory on long series.
_MAX_CELLS = 2_000_000


def _clean(values: Iterable[float]) -> NDArray[np.float64]:
    data = np.asarray(list(values), dtype=np.float64).ravel()
    return data[np.isfinite(data)]


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) by linear interpolation; None when empty."""
    data = _clean(values)
    return float(np.percentile(data, q)) if data.size else None


def _check_bootstrap(level: float, resamples: int) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    if resamples < MIN_RESAMPLES:
        raise ValueError(f"resamples must be at least {MIN_RESAMPLES}, got {resamples}")


def _apply(stat: Callable[..., Any], samples: NDArray[np.float64]) -> NDArray[np.float64]:
    try:
        result = np.asarray(stat(samples, axis=1), dtype=np.float64)
    except TypeError:  # a statistic without an ``axis`` argument
        result = np.empty(0)
    if result.shape != (samples.shape[0],):
        result = np.array([stat(row) for row in samples], dtype=np.float64)
    return result


def _resampled(
    data: NDArray[np.float64],
    stat: Callable[..., Any],
    resamples: int,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """``stat`` of ``resamples`` bootstrap samples of ``data``."""
    block = max(1, _MAX_CELLS // data.size)
    parts = []
    for start in range(0, resamples, block):
        rows = min(block, resamples - start)
        parts.append(_apply(stat, data[rng.integers(0, data.size, size=(rows, data.size))]))
    return np.concatenate(parts)


def _interval(estimates: NDArray[np.float64], level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(estimates, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_ci(
    values: Sequence[float],
    stat: Callable[..., Any] = np.median,
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Seeded percentile-bootstrap interval of ``stat`` (called with ``axis=1``)."""
    _check_bootstrap(level, resamples)
    data = _clean(values)
    if data.size == 0:
        raise ValueError("bootstrap_ci needs at least one finite value")
    if data.size == 1:
        return float(data[0]), float(data[0])
    estimates = _resampled(data, stat, resamples, np.random.default_rng(seed))
    return _interval(estimates, level)


def summarize(values: Iterable[float], *, seed: int = 0) -> Summary:
    """n, mean, median and percentiles, sample std, range and a 95% CI of the median."""
    data = _clean(values)
    if data.size == 0:
        return Summary(
            n=0,
            mean=None,
            median=None,
            p50=None,
            p90=None,
            p95=None,
            p99=None,
            std=None,
            min=None,
            max=None,
            ci95_low=None,
            ci95_high=None,
        )
    p50, p90, p95, p99 = (float(v) for v in np.percentile(data, [50, 90, 95, 99]))
    low, high = bootstrap_ci(data.tolist(), np.median, seed=seed)
    return Summary(
        n=int(data.size),
        mean=float(np.mean(data)),
        median=p50,
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
        std=float(np.std(data, ddof=1)) if data.size >= 2 else None,
        min=float(np.min(data)),
        max=float(np.max(data)),
        ci95_low=low,
        ci95_high=high,
    )


def bootstrap_ratio_of_medians(
    current: Sequence[float],
    baseline: Sequence[float],
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """median(current) / median(baseline) with a seeded bootstrap interval.

    Both sides are resampled independently. Raises ``ValueError`` when a side
    is empty or the baseline median is 0 (no ratio exists). A bound can be
    ``inf`` when the baseline holds zeros.
    """
    _check_bootstrap(level, resamples)
    cur, base = _clean(current), _clean(baseline)
    if cur.size == 0 or base.size == 0:
        raise ValueError("bootstrap_ratio_of_medians needs values on both sides")
    base_median = float(np.median(base))
    if base_median == 0.0:
        raise ValueError("the baseline median is 0, so there is no ratio")
    ratio = float(np.median(cur)) / base_median
    rng = np.random.default_rng(seed)
    cur_medians = _resampled(cur, np.median, resamples, rng)
    base_medians = _resampled(base, np.median, resamples, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = cur_medians / base_medians
    # 0/0: both medians zero in a resample means no change.
    ratios[np.isnan(ratios)] = 1.0
    with np.errstate(invalid="ignore"):
        low, high = _interval(ratios, level)
    return ratio, _nan_to_inf(low), _nan_to_inf(high)


def _nan_to_inf(value: float) -> float:
    # Interpolating between two infinite estimates gives nan; the bound is inf.
    return float("inf") if np.isnan(value) else value


def mann_whitney_p(
    current: Sequence[float],
    baseline: Sequence[float],
    alternative: Alternative = "two-sided",
) -> float | None:
    """Mann-Whitney U p-value; None when a side has < 2 values or all are equal."""
    cur, base = _clean(current), _clean(baseline)
    if cur.size < 2 or base.size < 2:
        return None
    if np.ptp(np.concatenate([cur, base])) == 0.0:
        return None
    result = mannwhitneyu(cur, base, alternative=alternative)
    p_value = float(result.pvalue)
    return p_value if np.isfinite(p_value) else None


def wilcoxon_p(
    current: Sequence[float],
    baseline: Sequence[float],
    alternative: Alternative = "two-sided",
) -> float | None:
    """Paired Wilcoxon signed-rank p-value of ``current - baseline``.

    Pairs that did not change carry no evidence either way and are dropped (the
    "wilcox" zero method); None when fewer than two pairs changed.
    """
    if len(current) != len(baseline):
        raise ValueError(f"paired samples differ in length: {len(current)} vs {len(baseline)}")
    diffs = np.asarray(current, dtype=float) - np.asarray(baseline, dtype=float)
    diffs = diffs[np.isfinite(diffs) & (diffs != 0.0)]
    if diffs.size < 2:
        return None
    result = wilcoxon(diffs, alternative=alternative, zero_method="wilcox")
    p_value = float(result.pvalue)
    return p_value if np.isfinite(p_value) else None


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of the Codex paper: n samples, c correct, budget k."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    # 1 - C(n-c, k) / C(n, k) as a product, which stays stable for large n.
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_hat_k(results: Sequence[bool]) -> float:
    """pass^k: 1.0 only when every one of the k trials passed (0.0 for no trials)."""
    return 1.0 if results and all(results) else 0.0
