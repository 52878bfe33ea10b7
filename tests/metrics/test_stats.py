"""Summaries, percentiles, bootstrap intervals, tests and pass@k."""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np
import pytest
from scipy import stats as scipy_stats

from pytest_lmbench.metrics.stats import (
    bootstrap_ci,
    bootstrap_ratio_of_medians,
    mann_whitney_p,
    pass_at_k,
    pass_hat_k,
    percentile,
    summarize,
)


def test_percentile_linear_interpolation() -> None:
    data = [1.0, 2.0, 3.0, 4.0]
    assert percentile(data, 90) == pytest.approx(3.7)
    assert percentile(data, 50) == pytest.approx(2.5)
    assert percentile(data, 0) == 1.0
    assert percentile(data, 100) == 4.0
    assert percentile([], 50) is None


def test_summarize_known_data() -> None:
    summary = summarize([1.0, 2.0, 3.0, 4.0])
    assert summary["n"] == 4
    assert summary["mean"] == pytest.approx(2.5)
    assert summary["median"] == summary["p50"] == pytest.approx(2.5)
    assert summary["p90"] == pytest.approx(3.7)
    assert summary["p95"] == pytest.approx(3.85)
    assert summary["p99"] == pytest.approx(3.97)
    assert summary["std"] == pytest.approx(1.2909944)  # sample std, n - 1
    assert (summary["min"], summary["max"]) == (1.0, 4.0)
    assert summary["ci95_low"] is not None
    assert summary["ci95_high"] is not None
    assert summary["ci95_low"] <= 2.5 <= summary["ci95_high"]


def test_summarize_edge_cases() -> None:
    empty = summarize([])
    assert empty["n"] == 0
    assert all(value is None for key, value in empty.items() if key != "n")
    one = summarize([5.0])
    assert one["n"] == 1
    assert one["std"] is None
    assert (one["ci95_low"], one["ci95_high"]) == (5.0, 5.0)
    # non-finite measurements are dropped
    assert summarize([1.0, float("nan"), 3.0, float("inf")])["n"] == 2


def test_bootstrap_ci_contains_median_and_is_reproducible() -> None:
    rng = np.random.default_rng(1)
    data = list(rng.lognormal(3.0, 0.4, size=40))
    low, high = bootstrap_ci(data, seed=7)
    assert low <= float(np.median(data)) <= high
    assert low < high
    assert bootstrap_ci(data, seed=7) == (low, high)
    assert bootstrap_ci(data, seed=8) != (low, high)


def _scipy_percentile_interval(
    data: list[float], stat: Any, *, level: float, resamples: int, seed: int
) -> tuple[float, float]:
    """scipy's own percentile bootstrap, fed the same seeded generator."""
    seeded = np.random.default_rng(seed)
    # scipy 1.15 renamed random_state to rng; passing the old name there warns.
    generator = (
        {"rng": seeded}
        if "rng" in inspect.signature(scipy_stats.bootstrap).parameters
        else {"random_state": seeded}
    )
    result = scipy_stats.bootstrap(
        (np.asarray(data),),
        stat,
        n_resamples=resamples,
        confidence_level=level,
        method="percentile",
        vectorized=True,
        **generator,
    )
    interval = result.confidence_interval
    return float(interval.low), float(interval.high)


@pytest.mark.parametrize(
    ("stat", "level", "seed"),
    [(np.median, 0.95, 0), (np.median, 0.95, 7), (np.median, 0.8, 3), (np.mean, 0.95, 11)],
)
def test_bootstrap_ci_equals_scipy_percentile_bootstrap(stat: Any, level: float, seed: int) -> None:
    data = [float(v) for v in np.random.default_rng(1).lognormal(3.0, 0.4, size=40)]
    ours = bootstrap_ci(data, stat, level=level, resamples=2000, seed=seed)
    assert ours == pytest.approx(
        _scipy_percentile_interval(data, stat, level=level, resamples=2000, seed=seed), rel=1e-12
    )


def test_bootstrap_ci_known_values() -> None:
    # Fixed by hand from a seeded run (and equal to scipy's percentile bootstrap):
    # a change of resampling scheme, seed handling or percentile rule shows up here.
    data = [float(v) for v in range(1, 31)]
    assert bootstrap_ci(data, np.mean, level=0.8, seed=0) == pytest.approx((13.4, 17.5333333333))
    skewed = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert bootstrap_ci(skewed, seed=0) == (1.0, 10.0)
    # summarize() reports the median's interval with seed 0 and 2000 resamples.
    summary = summarize(data)
    assert (summary["ci95_low"], summary["ci95_high"]) == pytest.approx((10.0, 20.5))


def test_bootstrap_ci_other_statistics_and_levels() -> None:
    data = [float(v) for v in range(1, 31)]
    low95, high95 = bootstrap_ci(data, np.mean)
    low80, high80 = bootstrap_ci(data, np.mean, level=0.8)
    assert low95 <= low80 <= 15.5 <= high80 <= high95
    # a statistic without an axis argument still works
    low, high = bootstrap_ci(data, lambda xs: float(sorted(xs)[len(xs) // 2]))
    assert low <= 16.0 <= high


def test_bootstrap_ci_arguments() -> None:
    assert bootstrap_ci([4.2]) == (4.2, 4.2)
    with pytest.raises(ValueError, match="at least one"):
        bootstrap_ci([])
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_ci([1.0, 2.0], resamples=10)
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci([1.0, 2.0], level=1.5)


def test_bootstrap_on_long_series_is_chunked_and_fast() -> None:
    data = list(np.random.default_rng(0).normal(size=5000))
    low, high = bootstrap_ci(data, resamples=1000)
    assert low < float(np.median(data)) < high


def test_ratio_of_medians() -> None:
    baseline = [10.0, 11.0, 9.0, 10.5, 9.5, 10.0]
    current = [20.0, 22.0, 18.0, 21.0, 19.0, 20.0]
    ratio, low, high = bootstrap_ratio_of_medians(current, baseline, seed=3)
    assert ratio == pytest.approx(2.0)
    assert low <= ratio <= high
    assert bootstrap_ratio_of_medians(current, baseline, seed=3) == (ratio, low, high)
    assert bootstrap_ratio_of_medians([2.0], [4.0]) == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError, match="median is 0"):
        bootstrap_ratio_of_medians([1.0], [0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="both sides"):
        bootstrap_ratio_of_medians([], [1.0])


def test_ratio_of_medians_with_zeros_in_baseline() -> None:
    ratio, low, high = bootstrap_ratio_of_medians([1.0, 1.0, 1.0], [0.0, 1.0, 1.0], seed=0)
    assert ratio == 1.0
    assert low == 1.0
    assert math.isinf(high)


def test_mann_whitney() -> None:
    slow = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    fast = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    p_value = mann_whitney_p(slow, fast, "greater")
    assert p_value is not None
    assert p_value < 0.01
    two_sided = mann_whitney_p(slow, fast)
    assert two_sided is not None
    assert two_sided < 0.01
    less = mann_whitney_p(slow, fast, "less")
    assert less is not None
    assert less > 0.99
    assert mann_whitney_p([1.0], fast) is None
    assert mann_whitney_p([2.0, 2.0], [2.0, 2.0, 2.0]) is None


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (10, 0, 1, 0.0),
        (10, 10, 5, 1.0),
        (10, 3, 1, 0.3),
        (10, 3, 2, 1 - 21 / 45),  # 1 - C(7,2)/C(10,2)
        (5, 1, 5, 1.0),
        (200, 7, 10, 1 - math.comb(193, 10) / math.comb(200, 10)),
    ],
)
def test_pass_at_k(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected)


@pytest.mark.parametrize(("n", "c", "k"), [(5, 6, 1), (5, 1, 0), (5, 1, 6), (5, -1, 1)])
def test_pass_at_k_rejects(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_pass_hat_k() -> None:
    assert pass_hat_k([True, True, True]) == 1.0
    assert pass_hat_k([True, False, True]) == 0.0
    assert pass_hat_k([]) == 0.0


def test_wilcoxon_drops_unchanged_pairs_and_matches_scipy() -> None:
    from scipy.stats import wilcoxon

    from pytest_lmbench.metrics.stats import wilcoxon_p

    now = [0.0, 0.5, 1.0, 0.2, 0.0, 0.4, 0.9, 0.1]
    before = [1.0, 1.0, 1.0, 0.8, 1.0, 1.0, 0.9, 1.0]
    changed = [(a - b) for a, b in zip(now, before, strict=True) if a != b]
    expected = wilcoxon(changed, alternative="less").pvalue
    assert wilcoxon_p(now, before, "less") == pytest.approx(expected)
    assert wilcoxon_p(now, before, "less") == pytest.approx(1 / 2**6)  # six changed, all down
    assert wilcoxon_p([1.0, 1.0], [1.0, 0.0]) is None  # one changed pair
    with pytest.raises(ValueError, match="differ in length"):
        wilcoxon_p([1.0], [1.0, 2.0])
