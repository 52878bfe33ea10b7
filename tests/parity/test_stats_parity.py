"""Parity of the statistics with their references on seeded generated cases.

pass@k against the Codex paper's estimator and the exact binomial formula;
percentiles, std and the bootstrap against numpy; Mann-Whitney and Wilcoxon
against scipy on the raw samples. A mismatch is allowed only where a named
exception in ``EXCEPTIONS`` says why (each is listed in the README).
"""

from __future__ import annotations

import math
import random
import statistics
import warnings
from fractions import Fraction

import numpy as np
import pytest
from scipy.stats import mannwhitneyu, wilcoxon

from pytest_lmbench.metrics import stats
from pytest_lmbench.reporting.summary import median_ci95
from pytest_lmbench.reporting.summary import percentile as summary_percentile

CASES = 2000
ALTERNATIVES: tuple[stats.Alternative, ...] = ("two-sided", "less", "greater")
EXCEPTIONS: dict[str, str] = {
    "rank-tests-need-two": (
        "Mann-Whitney and Wilcoxon give None, not scipy's p-value, when a side has fewer "
        "than two values, all values are equal, or fewer than two pairs changed"
    ),
    "wilcoxon-zeros-dropped-first": (
        "unchanged pairs are dropped before scipy chooses its method, so with zero "
        "differences the p-value is scipy's on the changed pairs, where scipy on the raw "
        "pairs switches to the normal approximation"
    ),
    "summary-median-interval": (
        "the pooled headline interval of the summary is a distribution-free order-statistic "
        "interval of the median, not the seeded bootstrap of per-item figures"
    ),
}


def codex_pass_at_k(n: int, c: int, k: int) -> float:
    # The estimator as published with the Codex paper (Chen et al. 2021, figure 3).
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def test_pass_at_k_is_the_unbiased_estimator() -> None:
    rng = random.Random(19)
    for _ in range(CASES):
        n = rng.randint(1, 300)
        c, k = rng.randint(0, n), rng.randint(1, n)
        ours = stats.pass_at_k(n, c, k)
        assert ours == codex_pass_at_k(n, c, k), (n, c, k)
        exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
        assert math.isclose(ours, float(exact), rel_tol=1e-9, abs_tol=1e-12), (n, c, k)


def samples(rng: random.Random, low: int = 0, high: int = 40) -> list[float]:
    # Ties, negative values, a wide range and the odd failed (NaN) measurement.
    size = rng.randint(low, high)
    scale = 10 ** rng.randint(-3, 6)
    values = [round(rng.gauss(0, 1) * scale, rng.randint(0, 4)) for _ in range(size)]
    return [math.nan if rng.random() < 0.05 else v for v in values]


def test_percentiles_and_std_are_numpys(monkeypatch: pytest.MonkeyPatch) -> None:
    # summarize's bootstrap is checked on its own below; here it only costs time.
    monkeypatch.setattr(stats, "bootstrap_ci", lambda *args, **kwargs: (0.0, 0.0))
    rng = random.Random(20)
    for _ in range(CASES):
        values = samples(rng)
        finite = np.array([v for v in values if not math.isnan(v)])
        q = rng.choice([0, 1, 25, 50, 90, 95, 99, 100, rng.uniform(0, 100)])
        ours = stats.percentile(values, q)
        if finite.size == 0:
            assert ours is None
            continue
        assert ours == float(np.nanpercentile(np.array(values), q))
        pooled = summary_percentile(sorted(finite.tolist()), q)
        assert pooled is not None
        assert math.isclose(pooled, ours, rel_tol=1e-12, abs_tol=1e-12 * np.ptp(finite))
        summary = stats.summarize(values)
        if finite.size >= 2:
            assert summary["std"] == float(np.std(finite, ddof=1))
            assert math.isclose(summary["std"], statistics.stdev(finite.tolist()), rel_tol=1e-9)


def numpy_bootstrap(values: list[float], resamples: int, seed: int) -> tuple[float, float]:
    # The percentile bootstrap written out: resample rows, median each, cut the tails.
    data = np.array(values)
    rng = np.random.default_rng(seed)
    medians = np.median(data[rng.integers(0, data.size, size=(resamples, data.size))], axis=1)
    low, high = np.percentile(medians, [2.5, 97.5])
    return float(low), float(high)


def test_bootstrap_is_the_numpy_percentile_bootstrap() -> None:
    rng = random.Random(21)
    for case in range(CASES):
        values = samples(rng, low=2, high=12)
        finite = [v for v in values if not math.isnan(v)]
        if not finite:
            with pytest.raises(ValueError, match="at least one finite value"):
                stats.bootstrap_ci(values)
            continue
        if len(finite) == 1:  # one value is its own interval, no resampling
            assert stats.bootstrap_ci(values) == (finite[0], finite[0])
            continue
        ours = stats.bootstrap_ci(values, resamples=1000, seed=case)
        # Ours computes the 2.5 % tail as (1 - 0.95) / 2 * 100: one ulp away from 2.5.
        tolerance = 1e-12 * max(map(abs, finite))
        for mine, theirs in zip(ours, numpy_bootstrap(finite, 1000, case), strict=True):
            assert math.isclose(mine, theirs, rel_tol=1e-12, abs_tol=tolerance), values


def test_summary_interval_is_order_statistics_not_bootstrap() -> None:
    # Named exception "summary-median-interval": check what it is instead.
    rng = random.Random(22)
    for _ in range(CASES):
        values = sorted(v for v in samples(rng, low=2) if not math.isnan(v))
        low, high = median_ci95(values)
        if len(values) < 2:
            assert (low, high) == (None, None)
            continue
        assert low in values
        assert high in values
        assert low <= float(np.median(values)) <= high


def rank_inputs(rng: random.Random) -> tuple[list[float], list[float]]:
    def side() -> list[float]:
        return [float(rng.randint(0, 6)) for _ in range(rng.randint(0, 14))]

    return side(), side()


def test_mann_whitney_is_scipys() -> None:
    rng = random.Random(23)
    for _ in range(CASES):
        x, y = rank_inputs(rng)
        ours = stats.mann_whitney_p(x, y)
        if len(x) < 2 or len(y) < 2 or len(set(x + y)) == 1:
            assert ours is None  # rank-tests-need-two
            continue
        alternative = rng.choice(ALTERNATIVES)
        ours = stats.mann_whitney_p(x, y, alternative)
        assert ours == float(mannwhitneyu(x, y, alternative=alternative).pvalue), (x, y)


def scipy_wilcoxon(x: list[float], y: list[float], alternative: str) -> float:
    with warnings.catch_warnings():
        # scipy warns that it cannot be exact with zeros: the reason for the exception.
        warnings.simplefilter("ignore", UserWarning)
        return float(wilcoxon(x, y, alternative=alternative, zero_method="wilcox").pvalue)


def paired_inputs(rng: random.Random) -> tuple[list[float], list[float]]:
    # Tied differences only in short series: scipy resolves ties below 14 pairs
    # by enumerating sign patterns, which takes milliseconds from 3 pairs on.
    if rng.random() < 0.25:
        x = [float(rng.randint(0, 6)) for _ in range(rng.randint(0, 3))]
        return x, [float(rng.randint(0, 6)) for _ in x]
    x = [round(rng.uniform(0, 100), 3) for _ in range(rng.randint(2, 24))]
    return x, [a if rng.random() < 0.1 else round(rng.uniform(0, 100), 3) for a in x]


def test_wilcoxon_is_scipys() -> None:
    rng = random.Random(24)
    for _ in range(CASES):
        x, y = paired_inputs(rng)
        alternative = rng.choice(ALTERNATIVES)
        ours = stats.wilcoxon_p(x, y, alternative)
        changed = [(a, b) for a, b in zip(x, y, strict=True) if a != b]
        if len(changed) < 2:
            assert ours is None  # rank-tests-need-two
            continue
        if len(changed) < len(x):  # wilcoxon-zeros-dropped-first
            expected = scipy_wilcoxon([a for a, _ in changed], [b for _, b in changed], alternative)
        else:
            expected = scipy_wilcoxon(x, y, alternative)
        assert ours == pytest.approx(expected, rel=1e-12), (x, y)
