"""CI gates: limits from a gates file, and comparison with a baseline.

The gates file (``--lm-gates FILE``, or the ``gates:`` section of ``--lm-config``;
the file wins when both are given)::

    min_success_rate: 1.0              # every capability, throughput included
    min_quality: 0.5                   # every quality capability (mean per model)
    reasoning: {min_quality: 0.7, min_success_rate: 0.8}
    throughput:
      min_decode_tps: 20               # every throughput case
      max_ttft_p95_s: 1.5
      cases:
        pp512-tg128-c4: {min_aggregate_tps: 60}
    models:                            # per model: the same keys, which win
      qwen/qwen3-4b:
        throughput: {min_decode_tps: 40}

Throughput limits are checked per item and fail the item. ``min_quality`` (the
mean ``quality_score`` of a capability's items) and ``min_success_rate`` are
session gates: they set a non-zero exit status. The baseline comparison and its
statistics live in :mod:`pytest_lmbench.gates.baseline`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pytest_lmbench.config.options import Settings
from pytest_lmbench.config.yamlfile import read_yaml
from pytest_lmbench.errors import first_problem
from pytest_lmbench.gates.baseline import (
    BaselineError,
    BaselineFile,
    Comparison,
    as_contended,
    baseline_from_report,
    compare_item,
    describe,
    item_key,
    item_label,
    observe,
    read_baseline,
    write_baseline,
)
from pytest_lmbench.gates.quality import (
    CapabilityComparison,
    capability_comparisons,
    comparable_baselines,
)
from pytest_lmbench.gates.summary import baseline_lines
from pytest_lmbench.records import Report, ResultEntry, timing_figure
from pytest_lmbench.reporting.summary import format_number, format_percent, report_summary
from pytest_lmbench.vocabulary import QUALITY_CAPABILITIES, THROUGHPUT_LIMITS

if TYPE_CHECKING:
    from pytest_lmbench.storage.model_runs import LastRuns
    from pytest_lmbench.storage.store import Store

__all__ = ["GateKeeper", "GatesFile", "load_gates", "write_baseline"]


# -- the gates file ------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CapabilityGate(_Strict):
    min_quality: float | None = Field(default=None, ge=0.0, le=1.0)
    min_success_rate: float | None = Field(default=None, ge=0.0, le=1.0)


class ThroughputLimits(_Strict):
    min_decode_tps: float | None = Field(default=None, gt=0.0)
    min_prefill_tps: float | None = Field(default=None, gt=0.0)
    max_ttft_p95_s: float | None = Field(default=None, gt=0.0)
    min_aggregate_tps: float | None = Field(default=None, gt=0.0)
    min_goodput: float | None = Field(default=None, gt=0.0)


class ThroughputGate(ThroughputLimits):
    min_success_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    cases: dict[str, ThroughputLimits] = Field(default_factory=dict)


class GateSet(_Strict):
    min_quality: float | None = Field(default=None, ge=0.0, le=1.0)
    min_success_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    general_text: CapabilityGate | None = None
    reasoning: CapabilityGate | None = None
    vision: CapabilityGate | None = None
    tooling: CapabilityGate | None = None
    throughput: ThroughputGate | None = None


class GatesFile(GateSet):
    models: dict[str, GateSet] = Field(default_factory=dict)

    def _layers(self, model: str) -> list[GateSet]:
        override = self.models.get(model)
        return [self] if override is None else [self, override]

    def capability_limits(self, model: str, capability: str) -> dict[str, float]:
        """``min_quality`` / ``min_success_rate``: general, capability, then the model's."""
        merged: dict[str, float] = {}
        for layer in self._layers(model):
            defaults = {"min_success_rate": layer.min_success_rate}
            if capability in QUALITY_CAPABILITIES:
                defaults["min_quality"] = layer.min_quality
            merged.update(_set_fields(defaults))
            section = getattr(layer, capability, None)
            if isinstance(section, CapabilityGate | ThroughputGate):
                wanted = {"min_quality", "min_success_rate"} & set(type(section).model_fields)
                merged.update(_set_fields({k: getattr(section, k) for k in wanted}))
        return merged

    def throughput_limits(self, model: str, case_id: str) -> dict[str, float]:
        """Speed limits of one case: throughput-wide, the case's, then the model's."""
        merged: dict[str, float] = {}
        for layer in self._layers(model):
            if layer.throughput is None:
                continue
            merged.update(_limits(layer.throughput))
            case = layer.throughput.cases.get(case_id)
            if case is not None:
                merged.update(_limits(case))
        return merged


def _set_fields(values: Mapping[str, float | None]) -> dict[str, float]:
    return {k: v for k, v in values.items() if v is not None}


def _limits(limits: ThroughputLimits) -> dict[str, float]:
    return _set_fields({name: getattr(limits, name) for name in ThroughputLimits.model_fields})


def load_gates(settings: Settings) -> GatesFile:
    """The gates in force; raises a one-line ``pytest.UsageError`` on a bad file."""
    if settings.lm_gates:
        path = Path(settings.lm_gates)
        where = f"--lm-gates: {path}"
        data = read_yaml(path, "--lm-gates")
    else:
        data = settings.sections.get("gates")
        where = f"--lm-config: {settings.lm_config}: gates"
    if data is None:
        return GatesFile()
    if not isinstance(data, dict):
        raise pytest.UsageError(f"{where}: must be a mapping of gates")
    try:
        return GatesFile.model_validate(data)
    except ValidationError as exc:
        field, problem = first_problem(exc)
        raise pytest.UsageError(f"{where}: {field}: {problem}") from None


# -- where the baseline comes from ---------------------------------------------------------


class BaselineStore(Protocol):
    """What the gates need of :class:`pytest_lmbench.storage.store.Store`."""

    def last_completed_runs(self, model_key: str, fingerprint: str | None) -> LastRuns: ...

    def load_report(self, run_id: str) -> Report: ...


class BaselineSource:
    """``--lm-baseline``: a baseline file, a run id (or prefix), or ``last``.

    A file or run is read once at session start, so a bad reference stops the
    session before any model is loaded. ``last`` is looked up per model, when the
    model's fingerprint is known.
    """

    def __init__(self, ref: str, store: BaselineStore | None, any_env: bool) -> None:
        self.ref = ref
        self.any_env = any_env
        self._store = store
        self._fixed: BaselineFile | None = None
        self._reports: dict[str, BaselineFile] = {}
        self._last: dict[tuple[str, str | None], LastRuns] = {}
        if ref.endswith(".json") or Path(ref).is_file():
            try:
                self._fixed = read_baseline(Path(ref))
            except BaselineError as exc:
                raise pytest.UsageError(f"--lm-baseline: {exc}") from None
            return
        if store is None:
            raise pytest.UsageError(
                f"--lm-baseline {ref}: needs the results store, which is off (--lm-no-db); "
                "pass a baseline file written by --lm-update-baseline instead"
            )
        if ref != "last":
            self._fixed = self._load(ref)
            self.ref = f"run {(self._fixed.run_id or ref)[:8]}"

    def _load(self, run_id: str) -> BaselineFile:
        assert self._store is not None
        if run_id not in self._reports:
            try:
                self._reports[run_id] = baseline_from_report(self._store.load_report(run_id))
            except Exception as exc:  # StoreError, and any driver error behind it
                raise pytest.UsageError(f"--lm-baseline {run_id}: {exc}") from None
        return self._reports[run_id]

    def for_model(self, model: str, fingerprint: str | None) -> tuple[BaselineFile | None, str]:
        """The baseline holding ``model`` (None: none does) and how to name it."""
        if self._fixed is not None:
            holds = model in self._fixed.fingerprints or any(
                key.startswith(model + "::") for key in self._fixed.items
            )
            return (self._fixed if holds else None), self.ref
        runs = self._last_runs(model, fingerprint)
        # Another fingerprint's run is still returned, for refusal() to name it.
        run_id = runs.same or runs.newest
        if run_id is None:
            return None, "last"
        return self._load(run_id), f"last (run {run_id[:8]})"

    def _last_runs(self, model: str, fingerprint: str | None) -> LastRuns:
        # Looked up once per model and fingerprint: every item of a model compares
        # with the same run, even when another session completes one meanwhile.
        key = (model, fingerprint)
        if key not in self._last:
            assert self._store is not None
            try:
                self._last[key] = self._store.last_completed_runs(model, fingerprint)
            except Exception as exc:  # StoreError, and any driver error behind it
                raise pytest.UsageError(f"--lm-baseline last: {exc}") from None
        return self._last[key]

    def refusal(self, baseline: BaselineFile, name: str, model: str, fp: str | None) -> str | None:
        """The refusal message when fingerprints differ and any-env is off."""
        theirs = baseline.fingerprints.get(model)
        if self.any_env or theirs == fp:
            return None
        return (
            f"baseline {name} was measured on fingerprint {theirs or 'unknown'}, "
            f"this run is {fp or 'unknown'}; refusing to compare "
            "(pass --lm-baseline-any-env to compare anyway)"
        )


# -- the gate keeper -----------------------------------------------------------------------


class GateKeeper:
    """Implements :class:`pytest_lmbench.runners.common.Gates`."""

    def __init__(
        self,
        gates: GatesFile,
        baseline: BaselineSource | None = None,
        *,
        max_regression: float = 10.0,
        alpha: float = 0.05,
        owned_store: Store | None = None,
        allow_contention: bool = False,
    ) -> None:
        self.gates = gates
        self.baseline = baseline
        self.max_regression = max_regression
        self.alpha = alpha
        self.allow_contention = allow_contention
        # A store opened here (not the session's) is ours to close.
        self._owned_store = owned_store
        self._by_capability: tuple[Report, list[CapabilityComparison]] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, store: BaselineStore | None) -> GateKeeper:
        """Read the gates and the baseline now; a bad one is a ``pytest.UsageError``."""
        gates = load_gates(settings)
        baseline = None
        owned = None
        if settings.lm_baseline:
            if store is None and not settings.lm_no_db and _needs_store(settings.lm_baseline):
                store = owned = _open_store(settings)  # e.g. an xdist worker: no session store
            try:
                baseline = BaselineSource(settings.lm_baseline, store, settings.lm_baseline_any_env)
            except BaseException:
                _close(owned)
                raise
        return cls(
            gates,
            baseline,
            max_regression=settings.lm_max_regression,
            alpha=settings.lm_alpha,
            owned_store=owned,
            allow_contention=settings.lm_allow_contention,
        )

    def close(self) -> None:
        _close(self._owned_store)
        self._owned_store = None

    # -- per item (inside the item's call phase) --

    def check_item(self, record: ResultEntry, fingerprint: str | None) -> list[str]:
        problems = self._limit_failures(record)
        if problems:
            record.flags["gates"] = list(problems)
        if self.baseline is not None:
            problems += self._baseline_failures(record, fingerprint)
        return problems

    def _limit_failures(self, record: ResultEntry) -> list[str]:
        if record.kind != "throughput":
            return []
        label = item_label(record)
        problems = []
        for name, limit in self.gates.throughput_limits(record.model, record.case_id).items():
            metric, stat, bound = THROUGHPUT_LIMITS[name]
            value = timing_figure(record.timing, metric, stat)
            if value is None:
                problems.append(
                    f"gate: {label} {metric} {stat} was not measured ({name} {limit:g})"
                )
            elif (value < limit) if bound == "min" else (value > limit):
                word = "below" if bound == "min" else "above"
                shown = format_number(value)
                problems.append(f"gate: {label} {metric} {stat} {shown} is {word} {name} {limit:g}")
        return problems

    def _baseline_failures(self, record: ResultEntry, fingerprint: str | None) -> list[str]:
        assert self.baseline is not None
        try:
            baseline, name = self.baseline.for_model(record.model, fingerprint)
        except pytest.UsageError as exc:  # the store failed mid-session
            return [str(exc)]
        record.flags["baseline_ref"] = name
        if baseline is None:
            record.flags["baseline_status"] = "no_baseline"
            return []
        refusal = self.baseline.refusal(baseline, name, record.model, fingerprint)
        if refusal is not None:
            record.flags["baseline_status"] = "refused"
            record.flags["baseline_refused"] = refusal
            return [refusal]
        theirs = baseline.fingerprints.get(record.model)
        if theirs != fingerprint:
            record.flags["baseline_fingerprints"] = {"baseline": theirs, "current": fingerprint}
        item = baseline.items.get(item_key(record))
        if item is None:
            record.flags["baseline_status"] = "missing"
            return []
        comparisons = compare_item(
            observe(record), item.observed(), self.max_regression, self.alpha
        )
        contended = record.flags.get("contended") is True or item.contended
        if contended and not self.allow_contention:
            comparisons = as_contended(comparisons)
            record.flags["baseline_contended"] = True
        record.flags["baseline_status"] = "compared"
        record.flags["baseline"] = [c.as_flag() for c in comparisons]
        label = item_label(record)
        return [describe(label, c) for c in comparisons if c.verdict == "regression"]

    # -- per session --

    def session_failures(self, report: Report) -> list[str]:
        failures = [message for ok, message in self._session_checks(report) if not ok]
        return failures + [
            describe(c.label, c.comparison)
            for c in self._capability_comparisons(report)
            if c.comparison.verdict == "regression"
        ]

    def _capability_comparisons(self, report: Report) -> list[CapabilityComparison]:
        if self.baseline is None:
            return []
        if self._by_capability is None or self._by_capability[0] is not report:
            try:
                baselines = comparable_baselines(report, self.baseline)
            except pytest.UsageError:  # the store failed at the end; items said so already
                baselines = {}
            found = capability_comparisons(report, baselines, self.max_regression, self.alpha)
            self._by_capability = (report, found)
        return self._by_capability[1]

    def _session_checks(self, report: Report) -> list[tuple[bool, str]]:
        checks: list[tuple[bool, str]] = []
        for model, summary in report_summary(report)["models"].items():
            for capability, counts in summary["capabilities"].items():
                limits = self.gates.capability_limits(model, capability)
                label = f"{capability}[{model}]"
                checks += _success_check(label, counts, limits.get("min_success_rate"))
                checks += _quality_check(label, counts, limits.get("min_quality"))
        return checks

    def summary_lines(self, report: Report) -> list[str]:
        """Every regression and improvement, notes, then the session gates that passed.

        Failed session gates are not repeated here: the plugin prints
        :meth:`session_failures` itself.
        """
        lines = self._baseline_lines(report)
        lines += [f"gate failed: {m}" for r in report.results for m in r.flags.get("gates", [])]
        lines += [f"gate ok: {m}" for ok, m in self._session_checks(report) if ok]
        return lines

    def _baseline_lines(self, report: Report) -> list[str]:
        if self.baseline is None:
            return []
        return baseline_lines(
            report,
            self.baseline.ref,
            self._capability_comparisons(report),
            max_regression=self.max_regression,
            alpha=self.alpha,
        )


def _needs_store(ref: str) -> bool:
    return not (ref.endswith(".json") or Path(ref).is_file())


def _open_store(settings: Settings) -> Store:
    from pytest_lmbench.storage.store import StoreError, default_db_url, open_store

    try:
        return open_store(settings.lm_db or default_db_url())
    except StoreError as exc:
        raise pytest.UsageError(f"--lm-db: {exc}") from None


def _close(store: Store | None) -> None:
    if store is not None:
        store.close()


def _success_check(
    label: str, counts: Mapping[str, Any], limit: float | None
) -> list[tuple[bool, str]]:
    rate = counts.get("success_rate")
    if limit is None or rate is None:
        return []
    ran = counts["total_tests"] - counts["skipped_tests"]
    passed = f"{counts['successful_tests']} of {ran} passed"
    ok = rate >= limit
    relation = ">=" if ok else "is below"
    shown = f"{label} success_rate {format_percent(rate)} ({passed}) {relation} min_success_rate"
    return [(ok, f"{shown} {format_percent(limit)}")]


def _quality_check(
    label: str, counts: Mapping[str, Any], limit: float | None
) -> list[tuple[bool, str]]:
    quality = counts.get("mean_quality_score")
    if limit is None or quality is None:
        return []
    ok = quality >= limit
    relation = ">=" if ok else "is below"
    return [(ok, f"{label} mean quality_score {quality:.3f} {relation} min_quality {limit:g}")]


def junit_properties(record: ResultEntry) -> list[tuple[str, str]]:
    """``record_property`` pairs for JUnit XML: each regression and improvement of an item."""
    out = []
    for flag in record.flags.get("baseline") or []:
        if flag["verdict"] != "unchanged":
            c = Comparison.from_flag(flag)
            out.append((f"lmbench_{c.verdict}_{c.metric.name}", describe(item_label(record), c)))
    return out


def junit_session_properties(config: pytest.Config, failures: list[str]) -> None:
    """Put failed session gates into JUnit XML as testsuite properties.

    Call from a ``pytest_sessionfinish(tryfirst=True)`` hook: pytest's JUnit writer
    saves the file in its own ``pytest_sessionfinish``.
    """
    from _pytest.junitxml import xml_key  # no public handle on the JUnit writer

    xml = config.stash.get(xml_key, None)
    if xml is not None:
        for message in failures:
            xml.add_global_property("lmbench_gate_failed", message)
