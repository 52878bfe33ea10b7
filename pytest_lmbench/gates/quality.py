"""A capability's quality against the baseline, over its cases, as one paired test.

Per item, a quality score usually has one repetition (``--lm-repeat 1``), and one
value on each side has no spread to test. Over a capability the cases themselves
are the repetitions: each case was scored in both runs, so the pairs
``(current, baseline)`` feed a one-sided Wilcoxon signed-rank test in the
direction of the change, and the effect is the change of the mean over the paired
cases. Five cases that all got worse already reach p = 0.031; one case that flipped
among thirty does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from pytest_lmbench.gates.baseline import (
    QUALITY,
    BaselineFile,
    Comparison,
    decide,
)
from pytest_lmbench.metrics.stats import wilcoxon_p
from pytest_lmbench.records import Report
from pytest_lmbench.reporting.summary import as_number


class BaselineLookup(Protocol):
    """What is needed of :class:`pytest_lmbench.gates.keeper.BaselineSource`."""

    def for_model(self, model: str, fingerprint: str | None) -> tuple[BaselineFile | None, str]: ...

    def refusal(
        self, baseline: BaselineFile, name: str, model: str, fp: str | None
    ) -> str | None: ...


@dataclass(frozen=True)
class CapabilityComparison:
    model: str
    capability: str
    comparison: Comparison

    @property
    def label(self) -> str:
        return f"{self.capability}[{self.model}]"


def current_scores(report: Report, model: str) -> dict[str, dict[str, float]]:
    """capability -> case id -> quality score of the items that were scored."""
    found: dict[str, dict[str, float]] = {}
    for record in report.results:
        if record.model != model or record.kind != "capability":
            continue
        if record.outcome not in ("passed", "failed") or record.capability is None:
            continue
        score = as_number(record.metrics.get(QUALITY.name))
        if score is not None and record.case_id is not None:
            found.setdefault(record.capability, {})[record.case_id] = score
    return found


def baseline_scores(baseline: BaselineFile, model: str, capability: str) -> dict[str, float]:
    prefix = f"{model}::{capability}/"
    found: dict[str, float] = {}
    for key, item in baseline.items.items():
        if not key.startswith(prefix) or item.kind != "capability":
            continue
        score = as_number(item.metrics.get(QUALITY.name))
        if score is not None:
            found[key[len(prefix) :]] = score
    return found


def compare_capability(
    current: Mapping[str, float],
    baseline: Mapping[str, float],
    max_regression: float,
    alpha: float,
) -> Comparison | None:
    """The paired comparison over the cases both runs scored (None: fewer than two)."""
    cases = sorted(set(current) & set(baseline))
    if len(cases) < 2:
        return None
    now = [current[c] for c in cases]
    before = [baseline[c] for c in cases]
    mean_now, mean_before = sum(now) / len(now), sum(before) / len(before)
    delta = (mean_now - mean_before) / abs(mean_before) * 100.0 if mean_before else None
    p_value = None
    if delta:
        p_value = wilcoxon_p(now, before, "greater" if delta > 0 else "less")
    beyond = delta is not None and abs(delta) > max_regression
    better = delta is not None and delta > 0
    # n changed pairs can reach at best 1 / 2**n, one-sided: fewer cannot show a change.
    underpowered = 0.5 ** len(cases) > alpha
    return Comparison(
        metric=QUALITY,
        baseline=mean_before,
        current=mean_now,
        delta_pct=delta,
        p_value=p_value,
        ci_low=None,
        ci_high=None,
        n_current=len(cases),
        n_baseline=len(cases),
        verdict=decide(beyond, better, p_value, alpha, testable=not underpowered),
        limit_pct=max_regression,
        underpowered=underpowered,
        paired=True,
    )


def capability_comparisons(
    report: Report,
    baselines: Mapping[str, BaselineFile],
    max_regression: float,
    alpha: float,
) -> list[CapabilityComparison]:
    """Every model and capability that has at least two cases scored on both sides.

    ``baselines`` maps a model key to the baseline it may be compared with (models
    whose baseline was refused or missing are simply absent).
    """
    out: list[CapabilityComparison] = []
    for model, baseline in baselines.items():
        for capability, scores in sorted(current_scores(report, model).items()):
            before = baseline_scores(baseline, model, capability)
            comparison = compare_capability(scores, before, max_regression, alpha)
            if comparison is not None:
                out.append(CapabilityComparison(model, capability, comparison))
    return out


def comparable_baselines(report: Report, source: BaselineLookup) -> dict[str, BaselineFile]:
    """Per model of the run, the baseline it may be compared with.

    A refused or missing baseline leaves the model out: its items already say why.
    """
    found: dict[str, BaselineFile] = {}
    for entry in report.models:
        fingerprint = entry.metadata.get("fingerprint")
        fp = fingerprint if isinstance(fingerprint, str) else None
        baseline, name = source.for_model(entry.key, fp)
        if baseline is not None and source.refusal(baseline, name, entry.key, fp) is None:
            found[entry.key] = baseline
    return found
