"""Baselines: what an earlier run measured, and the statistics that compare with it.

A baseline holds, per ``"<model>::<capability>/<case_id>"``, the central value and
the repetition values of every compared metric. The key does not contain the
checkout path, so a baseline written by a ``--pyargs`` run matches a path run.

The decision rule, one for every metric:

- effect: the relative change of the central value in percent -- the median for
  timing (what the report shows), the mean for ``quality_score`` (the item's own
  figure is the mean over ``--lm-repeat`` runs);
- evidence: a one-sided Mann-Whitney U test on the repetitions, in the direction
  of the change, rejected at ``p <= alpha``. One repetition is one measured batch
  of ``--lm-runs`` (per-request values inside a batch share its load, so they are
  not independent and are reduced to the batch median first) or one ``--lm-repeat``
  run of a capability case;
- verdict: ``regression`` (or ``improvement``) only when the effect is beyond
  ``--lm-max-regression`` percent in the bad (good) direction *and* significant.
  With a single repetition on either side there is no spread to test, and with
  too few (2 vs 2: the smallest possible p is 1/6) nothing can reach ``alpha``:
  a change beyond the percentage is then ``untestable`` (shown, never failing).
  A capability's quality is also compared as a whole, over its cases, with a
  paired test (:mod:`pytest_lmbench.gates.quality`), which needs no repetitions.

The rank test is exact for small samples without ties and ignores how far an
outlier (one stalled request) lies. The bootstrap interval of the ratio of
medians is computed too and recorded for context; it does not decide.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pytest_lmbench.errors import first_problem
from pytest_lmbench.metrics.stats import bootstrap_ratio_of_medians, mann_whitney_p, percentile
from pytest_lmbench.records import Report, ResultEntry, metric_number, run_scores, timing_figure
from pytest_lmbench.reporting.summary import as_number, format_number

Verdict = Literal["regression", "improvement", "unchanged", "untestable"]
VERDICTS: tuple[Verdict, ...] = ("regression", "improvement", "untestable", "unchanged")
BASELINE_KIND = "lmbench-baseline"


class BaselineError(Exception):
    """A baseline that cannot be read or written; the message is one line."""


# -- what is compared --------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    stat: Literal["median", "mean"]


THROUGHPUT_METRICS = (
    Metric("decode_tps", True, "median"),
    Metric("ttft_s", False, "median"),
    Metric("prefill_tps", True, "median"),
    Metric("aggregate_output_tps", True, "median"),
)
QUALITY = Metric("quality_score", True, "mean")
METRICS = {m.name: m for m in (*THROUGHPUT_METRICS, QUALITY)}
_PER_REQUEST = ("decode_tps", "ttft_s", "prefill_tps")


@dataclass(frozen=True)
class Observed:
    """A metric's central value and its repetition values (one per batch or run)."""

    central: float
    values: tuple[float, ...]


def item_key(record: ResultEntry) -> str:
    return f"{record.model}::{record.capability}/{record.case_id}"


def item_label(record: ResultEntry) -> str:
    """How messages name an item: stable across checkouts, readable in a CI log."""
    return f"{record.capability}/{record.case_id}[{record.model}]"


def observe(record: ResultEntry) -> dict[str, Observed]:
    """The compared metrics of one result (empty when nothing was measured)."""
    if record.kind == "throughput":
        return _observe_throughput(record.timing)
    score = metric_number(record.metrics, "quality_score")
    if score is None:
        return {}
    values = tuple(run_scores(record.metrics)) or (score,)
    return {QUALITY.name: Observed(score, values)}


def _observe_throughput(timing: Mapping[str, Any]) -> dict[str, Observed]:
    samples = [s for s in timing.get("samples") or [] if isinstance(s, Mapping)]
    found: dict[str, Observed] = {}
    for name in _PER_REQUEST:
        values = _batch_medians(samples, name)
        central = _central(timing, name, values)
        if central is not None:
            found[name] = Observed(central, values or (central,))
    values = _aggregate_per_batch(timing, samples)
    central = _central(timing, "aggregate_output_tps", values)
    if central is not None:
        found["aggregate_output_tps"] = Observed(central, values or (central,))
    return found


def _central(timing: Mapping[str, Any], key: str, values: Sequence[float]) -> float | None:
    recorded = timing_figure(timing, key)
    if recorded is not None:
        return recorded
    return percentile(values, 50) if values else None


def _by_batch(samples: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    batches: dict[Any, list[Mapping[str, Any]]] = {}
    for index, sample in enumerate(samples):
        # Samples without a batch number count as batches of their own.
        batches.setdefault(sample.get("batch", f"#{index}"), []).append(sample)
    return list(batches.values())


def _batch_medians(samples: Sequence[Mapping[str, Any]], name: str) -> tuple[float, ...]:
    out = []
    for batch in _by_batch(samples):
        median = percentile([v for s in batch if (v := as_number(s.get(name))) is not None], 50)
        if median is not None:
            out.append(median)
    return tuple(out)


def _aggregate_per_batch(
    timing: Mapping[str, Any], samples: Sequence[Mapping[str, Any]]
) -> tuple[float, ...]:
    """Per-batch output tokens per second: the runner's list, else rebuilt from samples."""
    listed = timing.get("aggregate_output_tps_values")
    if isinstance(listed, list):
        return tuple(v for v in (as_number(x) for x in listed) if v is not None)
    out = []
    for batch in _by_batch(samples):
        tokens = [as_number(s.get("output_tokens")) for s in batch]
        spans = [as_number(s.get("e2e_s")) for s in batch]
        if None in tokens or None in spans or not spans:
            continue
        # Requests of a batch start together, so the longest one spans the batch.
        wall = max(s for s in spans if s is not None)
        if wall > 0:
            out.append(sum(t for t in tokens if t is not None) / wall)
    return tuple(out)


# -- the baseline file ---------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricValues(_Model):
    median: float | None = None
    samples: list[float] = Field(default_factory=list)


class BaselineItem(_Model):
    kind: str
    metrics: dict[str, Any] = Field(default_factory=dict)
    timing: dict[str, MetricValues] = Field(default_factory=dict)
    # Other processes took CPU while it was measured (older files: not known, False).
    contended: bool = False

    def observed(self) -> dict[str, Observed]:
        found: dict[str, Observed] = {}
        for name, entry in self.timing.items():
            central = entry.median if entry.median is not None else percentile(entry.samples, 50)
            if central is not None:
                found[name] = Observed(central, tuple(entry.samples) or (central,))
        score = as_number(self.metrics.get(QUALITY.name))
        if score is not None:
            scores = [as_number(v) for v in self.metrics.get("quality_scores") or []]
            values = tuple(v for v in scores if v is not None) or (score,)
            found[QUALITY.name] = Observed(score, values)
        return found


class BaselineFile(_Model):
    schema_version: Literal[1] = 1
    kind: Literal["lmbench-baseline"] = "lmbench-baseline"
    created_at: str
    run_id: str | None = None
    fingerprints: dict[str, str | None] = Field(default_factory=dict)
    items: dict[str, BaselineItem] = Field(default_factory=dict)


def baseline_from_report(report: Report) -> BaselineFile:
    """Every measured result of ``report``; errors and skips measured nothing."""
    items: dict[str, BaselineItem] = {}
    for record in report.results:
        if record.outcome not in ("passed", "failed"):
            continue
        observed = observe(record)
        if observed:
            item = _item_of(record.kind, observed)
            item.contended = record.flags.get("contended") is True
            items[item_key(record)] = item
    return BaselineFile(
        created_at=report.run.finished_at or datetime.now(timezone.utc).isoformat(),
        run_id=report.run.id,
        fingerprints={m.key: m.metadata.get("fingerprint") for m in report.models},
        items=items,
    )


def _item_of(kind: str, observed: Mapping[str, Observed]) -> BaselineItem:
    item = BaselineItem(kind=kind)
    for name, obs in observed.items():
        if name == QUALITY.name:
            item.metrics = {"quality_score": obs.central, "quality_scores": list(obs.values)}
        else:
            item.timing[name] = MetricValues(median=obs.central, samples=list(obs.values))
    return item


def write_baseline(report: Report, path: Path) -> Path:
    """Write ``report`` as a baseline file (stable key order, so git diffs stay small).

    Raises :class:`BaselineError` when the file cannot be written.
    """
    data = baseline_from_report(report).model_dump(mode="json")
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a crash never leaves a half-written baseline in the repo.
        fd, tmp = tempfile.mkstemp(prefix=".lmbench-baseline-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    except OSError as exc:
        raise BaselineError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def read_baseline(path: Path) -> BaselineFile:
    """Read a baseline file; raises :class:`BaselineError` with a one-line reason."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BaselineError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise BaselineError(f"{path} is not a baseline: JSON nested too deeply") from None
    if not isinstance(data, dict) or data.get("kind") != BASELINE_KIND:
        raise BaselineError(
            f"{path} is not an lmbench baseline file (write one with --lm-update-baseline)"
        )
    try:
        return BaselineFile.model_validate(data)
    except ValidationError as exc:
        where, problem = first_problem(exc)
        raise BaselineError(f"{path}: field {where}: {problem}") from None


# -- the comparison ------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    metric: Metric
    baseline: float
    current: float
    delta_pct: float | None
    p_value: float | None
    ci_low: float | None
    ci_high: float | None
    n_current: int
    n_baseline: int
    verdict: Verdict
    limit_pct: float
    # True when even complete separation could not reach p <= alpha at these sizes.
    underpowered: bool
    # Paired over a capability's cases (Wilcoxon) rather than over repetitions.
    paired: bool = False

    @property
    def test(self) -> str:
        if self.paired:
            return "wilcoxon-signed-rank"
        return "none" if min(self.n_current, self.n_baseline) < 2 else "mann-whitney-u"

    def as_flag(self) -> dict[str, Any]:
        return {
            "metric": self.metric.name,
            "stat": self.metric.stat,
            "higher_is_better": self.metric.higher_is_better,
            "baseline": self.baseline,
            "current": self.current,
            "delta_pct": self.delta_pct,
            "p_value": self.p_value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n_current": self.n_current,
            "n_baseline": self.n_baseline,
            "test": self.test,
            "underpowered": self.underpowered,
            "paired": self.paired,
            "limit_pct": self.limit_pct,
            "verdict": self.verdict,
        }

    @classmethod
    def from_flag(cls, flag: Mapping[str, Any]) -> Comparison:
        """Back from :meth:`as_flag` (a record's ``flags["baseline"]`` entry)."""
        return cls(
            metric=METRICS[flag["metric"]],
            baseline=flag["baseline"],
            current=flag["current"],
            delta_pct=flag["delta_pct"],
            p_value=flag["p_value"],
            ci_low=flag["ci_low"],
            ci_high=flag["ci_high"],
            n_current=flag["n_current"],
            n_baseline=flag["n_baseline"],
            verdict=flag["verdict"],
            limit_pct=flag["limit_pct"],
            underpowered=flag["underpowered"],
            paired=bool(flag.get("paired", False)),
        )


def compare(
    metric: Metric, current: Observed, baseline: Observed, max_regression: float, alpha: float
) -> Comparison:
    delta = _delta_pct(current.central, baseline.central)
    better = delta is not None and (delta > 0) == metric.higher_is_better and delta != 0
    n_cur, n_base = len(current.values), len(baseline.values)
    p_value = None
    if delta is not None and delta != 0 and min(n_cur, n_base) >= 2:
        # "greater" asks: are the current values larger than the baseline's?
        p_value = mann_whitney_p(
            current.values, baseline.values, "greater" if delta > 0 else "less"
        )
    beyond = delta is not None and abs(delta) > max_regression
    # Two runs against two can never reach alpha: calling their change "unchanged"
    # would claim evidence the sizes cannot give.
    underpowered = min(n_cur, n_base) >= 2 and min_p_value(n_cur, n_base) > alpha
    testable = min(n_cur, n_base) >= 2 and not underpowered
    verdict = decide(beyond, better, p_value, alpha, testable=testable)
    low, high = _ratio_interval(current, baseline, alpha)
    return Comparison(
        metric=metric,
        baseline=baseline.central,
        current=current.central,
        delta_pct=delta,
        p_value=p_value,
        ci_low=low,
        ci_high=high,
        n_current=n_cur,
        n_baseline=n_base,
        verdict=verdict,
        limit_pct=max_regression,
        underpowered=underpowered,
    )


def as_contended(comparisons: list[Comparison]) -> list[Comparison]:
    """Contended measurements say nothing about the model: every verdict is untestable."""
    return [replace(c, verdict="untestable") for c in comparisons]


def decide(
    beyond: bool, better: bool, p_value: float | None, alpha: float, *, testable: bool
) -> Verdict:
    """Beyond the percentage *and* significant; beyond but untestable is only shown."""
    if not beyond:
        return "unchanged"
    if not testable:
        return "untestable"
    if p_value is None or p_value > alpha:
        return "unchanged"
    return "improvement" if better else "regression"


def _delta_pct(current: float, baseline: float) -> float | None:
    # No baseline level means no percentage (a quality of 0 can only go up).
    return (current - baseline) / abs(baseline) * 100.0 if baseline != 0 else None


def _ratio_interval(
    current: Observed, baseline: Observed, alpha: float
) -> tuple[float | None, float | None]:
    if min(len(current.values), len(baseline.values)) < 2:
        return None, None
    try:
        _, low, high = bootstrap_ratio_of_medians(
            current.values, baseline.values, level=1.0 - alpha
        )
    except ValueError:  # a baseline median of 0 has no ratio
        return None, None
    return low, high


def min_p_value(n_current: int, n_baseline: int) -> float:
    """The smallest one-sided exact Mann-Whitney p-value these sample sizes allow."""
    return 1.0 / math.comb(n_current + n_baseline, n_current)


def compare_item(
    current: Mapping[str, Observed],
    baseline: Mapping[str, Observed],
    max_regression: float,
    alpha: float,
) -> list[Comparison]:
    """Every metric measured on both sides, in a fixed order."""
    return [
        compare(METRICS[name], current[name], baseline[name], max_regression, alpha)
        for name in METRICS
        if name in current and name in baseline
    ]


def describe(label: str, comparison: Comparison) -> str:
    """``regression: <item> decode_tps median 35.0 vs baseline 50.0 (-30.0 %, p=0.004, ...)``."""
    c = comparison
    delta = "n/a" if c.delta_pct is None else f"{c.delta_pct:+.1f} %"
    sign = "+" if not c.metric.higher_is_better else "-"
    if c.verdict == "improvement":
        sign = "-" if sign == "+" else "+"
    return (
        f"{c.verdict}: {label} {c.metric.name} {c.metric.stat} {format_number(c.current)} "
        f"vs baseline {format_number(c.baseline)} ({delta}, {format_p(c)}, "
        f"limit {sign}{c.limit_pct:g} %)"
    )


def format_p(comparison: Comparison) -> str:
    n = f"n={comparison.n_current} vs {comparison.n_baseline}"
    if comparison.paired:
        n = f"n={comparison.n_current} paired cases"
    if comparison.p_value is None:
        reason = "single run" if comparison.test == "none" else "no spread"
        return f"p=n/a ({reason}), {n}"
    p = comparison.p_value
    return f"p={p:.3f}, {n}" if p >= 0.001 else f"p<0.001, {n}"
