"""Gates and baselines without a server: decisions on hand-made samples, files, limits."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.config.options import SPECS, Settings
from pytest_lmbench.gates.baseline import (
    QUALITY,
    THROUGHPUT_METRICS,
    Comparison,
    Observed,
    compare,
    describe,
    min_p_value,
    observe,
    read_baseline,
    write_baseline,
)
from pytest_lmbench.gates.keeper import BaselineSource, GateKeeper, junit_properties, load_gates
from pytest_lmbench.metrics.stats import summarize
from pytest_lmbench.records import ModelEntry, Report, ResultEntry, RunInfo
from pytest_lmbench.storage.model_runs import LastRuns

DECODE, TTFT = THROUGHPUT_METRICS[0], THROUGHPUT_METRICS[1]
MODEL = "qwen/qwen3-4b"
FP = "aaaaaaaaaaaaaaaa"


def settings(**changes: Any) -> Settings:
    base = Settings(**{spec.name: spec.default for spec in SPECS})
    return dataclasses.replace(base, **changes)


def obs(*values: float) -> Observed:
    ordered = sorted(values)
    mid = len(ordered) // 2
    central = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return Observed(central, tuple(values))


def throughput(
    decode: list[float], *, ttft: float = 0.1, case: str = "pp64-tg40-c1", concurrency: int = 1
) -> ResultEntry:
    samples = []
    for index, tps in enumerate(decode):
        samples.append(
            {
                "batch": index // concurrency,
                "decode_tps": tps,
                "ttft_s": ttft,
                "prefill_tps": 64 / ttft,
                "e2e_s": ttft + 39 / tps,
                "output_tokens": 40,
            }
        )
    timing: dict[str, Any] = {
        key: summarize([s[key] for s in samples]) for key in ("decode_tps", "ttft_s", "prefill_tps")
    }
    timing["samples"] = samples
    return ResultEntry(
        nodeid=f"suite/throughput/grid.json::{case}[{MODEL}]",
        model=MODEL,
        kind="throughput",
        capability="throughput",
        case_id=case,
        outcome="passed",
        timing=timing,
    )


def capability(score: float, scores: list[float] | None = None, **kw: Any) -> ResultEntry:
    metrics: dict[str, Any] = {"quality_score": score}
    if scores is not None:
        metrics["quality_scores"] = scores
    return ResultEntry(
        nodeid=f"x::{kw.get('case', 'qa_001')}[{MODEL}]",
        model=kw.get("model", MODEL),
        kind="capability",
        capability=kw.get("cap", "general_text"),
        case_id=kw.get("case", "qa_001"),
        outcome=kw.get("outcome", "passed"),
        metrics=metrics,
    )


def report(results: list[ResultEntry], fingerprint: str | None = FP, **run: Any) -> Report:
    info = RunInfo(
        id=run.get("id", "11111111-2222"),
        started_at="2025-01-01T00:00:00+00:00",
        finished_at="2025-01-01T00:10:00+00:00",
        status=run.get("status", "completed"),
        backend="lmstudio",
        base_url="http://x",
        plugin_version="0",
    )
    models = [ModelEntry(key=MODEL, status="ok", metadata={"fingerprint": fingerprint})]
    return Report(run=info, models=models, results=results)


# -- decisions ---------------------------------------------------------------------------


def test_thirty_percent_slower_with_tight_spread_is_a_regression() -> None:
    c = compare(
        DECODE, obs(35.0, 35.2, 34.8, 35.1, 34.9), obs(50.0, 50.3, 49.8, 50.1, 49.9), 10, 0.05
    )
    assert c.verdict == "regression"
    assert c.delta_pct == pytest.approx(-30.0)
    assert c.p_value == pytest.approx(1 / 252)
    assert c.ci_high is not None
    assert c.ci_high < 1.0
    text = describe("throughput/pp64-tg40-c1[m]", c)
    assert text == (
        "regression: throughput/pp64-tg40-c1[m] decode_tps median 35.0 vs baseline 50.0 "
        "(-30.0 %, p=0.004, n=5 vs 5, limit -10 %)"
    )


def test_same_speed_is_unchanged() -> None:
    c = compare(DECODE, obs(50.1, 49.9, 50.0), obs(50.0, 50.2, 49.8), 10, 0.05)
    assert c.verdict == "unchanged"


def test_difference_inside_the_spread_is_not_flagged() -> None:
    # Medians 18 % apart, but the runs overlap: not significant.
    current = obs(40.0, 62.0, 38.0, 60.0, 41.0)
    baseline = obs(50.0, 36.0, 61.0, 37.0, 58.0)
    c = compare(DECODE, current, baseline, 10, 0.05)
    assert c.delta_pct == pytest.approx(-18.0)
    assert c.p_value is not None
    assert c.p_value > 0.05
    assert c.verdict == "unchanged"


def test_significant_but_small_change_is_not_flagged() -> None:
    c = compare(DECODE, obs(47.0, 47.1, 46.9, 47.05), obs(50.0, 50.1, 49.9, 50.05), 10, 0.05)
    assert c.p_value is not None
    assert c.p_value < 0.05
    assert c.verdict == "unchanged"


def test_direction_of_ttft_lower_is_better() -> None:
    slower = compare(TTFT, obs(0.13, 0.131, 0.129), obs(0.1, 0.101, 0.099), 10, 0.05)
    assert slower.verdict == "regression"
    assert "(+30.0 %" in describe("i", slower)
    assert "limit +10 %" in describe("i", slower)
    faster = compare(TTFT, obs(0.07, 0.071, 0.069), obs(0.1, 0.101, 0.099), 10, 0.05)
    assert faster.verdict == "improvement"
    assert "limit -10 %" in describe("i", faster)


def test_faster_decode_is_an_improvement() -> None:
    c = compare(DECODE, obs(65.0, 65.1, 64.9, 65.2), obs(50.0, 50.1, 49.9, 50.2), 10, 0.05)
    assert c.verdict == "improvement"
    assert "improvement:" in describe("i", c)


def test_three_runs_each_can_reach_alpha_005() -> None:
    assert min_p_value(3, 3) == pytest.approx(0.05)
    c = compare(DECODE, obs(35.0, 35.1, 34.9), obs(50.0, 50.1, 49.9), 10, 0.05)
    assert c.verdict == "regression"
    assert not c.underpowered


def test_two_runs_each_are_underpowered_so_a_big_change_is_untestable() -> None:
    c = compare(DECODE, obs(35.0, 35.1), obs(50.0, 50.1), 10, 0.05)
    assert c.underpowered
    assert c.verdict == "untestable"  # -30 %: not "unchanged", which would claim evidence
    # The case: TTFT -73 % with 2 vs 2 repetitions.
    assert compare(TTFT, obs(0.027, 0.028), obs(0.1, 0.101), 10, 0.05).verdict == "untestable"
    assert compare(DECODE, obs(49.0, 49.1), obs(50.0, 50.1), 10, 0.05).verdict == "unchanged"


def test_single_run_quality_cannot_be_significant() -> None:
    c = compare(QUALITY, obs(0.6), obs(0.9), 10, 0.05)
    assert c.verdict == "untestable"
    assert c.p_value is None
    assert c.test == "none"
    assert describe("general_text/qa_001[m]", c) == (
        "untestable: general_text/qa_001[m] quality_score mean 0.600 vs baseline 0.900 "
        "(-33.3 %, p=n/a (single run), n=1 vs 1, limit -10 %)"
    )
    assert compare(QUALITY, obs(0.85), obs(0.9), 10, 0.05).verdict == "unchanged"


def test_repeated_quality_uses_the_rank_test() -> None:
    c = compare(QUALITY, obs(0.0, 0.0, 0.0, 0.0), obs(1.0, 1.0, 1.0, 1.0), 10, 0.05)
    assert c.verdict == "regression"
    assert c.p_value is not None
    assert c.ci_low is None or c.ci_low <= c.ci_high  # type: ignore[operator]


def test_zero_baseline_quality_has_no_percentage() -> None:
    c = compare(QUALITY, obs(0.5), obs(0.0), 10, 0.05)
    assert c.delta_pct is None
    assert c.verdict == "unchanged"


def test_flag_round_trip() -> None:
    c = compare(DECODE, obs(35.0, 35.1, 34.9), obs(50.0, 50.1, 49.9), 10, 0.05)
    flag = c.as_flag()
    assert set(flag) >= {
        "metric",
        "baseline",
        "current",
        "delta_pct",
        "p_value",
        "ci_low",
        "ci_high",
        "verdict",
    }
    assert Comparison.from_flag(json.loads(json.dumps(flag))) == c


# -- what is observed --------------------------------------------------------------------


def test_concurrent_requests_reduce_to_batch_medians() -> None:
    record = throughput([10.0, 12.0, 20.0, 22.0, 30.0, 32.0], concurrency=2)
    found = observe(record)
    assert found["decode_tps"].values == (11.0, 21.0, 31.0)
    assert found["decode_tps"].central == pytest.approx(21.0)
    assert len(found["aggregate_output_tps"].values) == 3
    assert set(found) == {"decode_tps", "ttft_s", "prefill_tps", "aggregate_output_tps"}


def test_listed_aggregate_values_win() -> None:
    record = throughput([10.0, 11.0])
    record.timing["aggregate_output_tps_values"] = [9.0, 9.5]
    record.timing["aggregate_output_tps"] = 9.25
    assert observe(record)["aggregate_output_tps"] == Observed(9.25, (9.0, 9.5))


def test_capability_observation() -> None:
    assert observe(capability(0.5))["quality_score"] == Observed(0.5, (0.5,))
    found = observe(capability(0.5, [0.0, 1.0]))["quality_score"]
    assert found == Observed(0.5, (0.0, 1.0))
    assert observe(capability(0.5).model_copy(update={"metrics": {}})) == {}


# -- baseline files ----------------------------------------------------------------------


def test_baseline_file_round_trip(tmp_path: Path) -> None:
    errored = capability(0.0, case="qa_002", outcome="error")
    source = report([throughput([50.0, 51.0, 49.0]), capability(0.8, [0.6, 1.0]), errored])
    path = write_baseline(source, tmp_path / "ci" / "baseline.json")
    data = json.loads(path.read_text())
    assert data["schema_version"] == 1
    assert data["kind"] == "lmbench-baseline"
    assert data["run_id"] == "11111111-2222"
    assert data["fingerprints"] == {MODEL: FP}
    assert set(data["items"]) == {
        f"{MODEL}::throughput/pp64-tg40-c1",
        f"{MODEL}::general_text/qa_001",
    }
    item = data["items"][f"{MODEL}::throughput/pp64-tg40-c1"]
    assert item["timing"]["decode_tps"] == {"median": 50.0, "samples": [50.0, 51.0, 49.0]}
    loaded = read_baseline(path)
    key = f"{MODEL}::general_text/qa_001"
    assert loaded.items[key].observed()["quality_score"] == Observed(0.8, (0.6, 1.0))
    assert list(tmp_path.glob("ci/.lmbench-baseline-*")) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"kind": "report"}', "is not an lmbench baseline file"),
        (
            '{"kind": "lmbench-baseline", "schema_version": 2, "created_at": "x"}',
            "field schema_version",
        ),
    ],
)
def test_bad_baseline_file_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(pytest.UsageError, match=message) as info:
        BaselineSource(str(path), None, False)
    assert "\n" not in str(info.value)


# -- gates files -------------------------------------------------------------------------

GATES = """
min_success_rate: 0.9
min_quality: 0.5
reasoning: {min_quality: 0.7}
throughput:
  min_decode_tps: 20
  max_ttft_p95_s: 1.5
  cases:
    pp64-tg40-c1: {min_aggregate_tps: 30}
models:
  qwen/qwen3-4b:
    min_success_rate: 1.0
    throughput: {min_decode_tps: 40}
"""


def test_gates_file_layers(tmp_path: Path) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text(GATES)
    gates = load_gates(settings(lm_gates=str(path)))
    assert gates.capability_limits("other", "reasoning") == {
        "min_success_rate": 0.9,
        "min_quality": 0.7,
    }
    assert gates.capability_limits(MODEL, "general_text") == {
        "min_success_rate": 1.0,
        "min_quality": 0.5,
    }
    assert gates.capability_limits("other", "throughput") == {"min_success_rate": 0.9}
    assert gates.throughput_limits("other", "pp64-tg40-c1") == {
        "min_decode_tps": 20,
        "max_ttft_p95_s": 1.5,
        "min_aggregate_tps": 30,
    }
    assert gates.throughput_limits(MODEL, "pp512-tg128-c1") == {
        "min_decode_tps": 40,
        "max_ttft_p95_s": 1.5,
    }


def test_gates_section_of_the_config_and_file_precedence(tmp_path: Path) -> None:
    section = {"reasoning": {"min_quality": 0.4}}
    assert load_gates(settings(sections={"gates": section})).reasoning is not None
    path = tmp_path / "gates.yaml"
    path.write_text("general_text: {min_quality: 0.3}\n")
    gates = load_gates(settings(lm_gates=str(path), sections={"gates": section}))
    assert gates.reasoning is None
    assert gates.general_text is not None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("reasoning: [1, 2\n", "is not valid YAML at line"),
        ("- 1\n- 2\n", "must be a mapping"),
        ("reasoning: {min_quality: 1.5}\n", r"reasoning\.min_quality: Input should be less"),
        ("throughput: {min_decode_tps: fast}\n", r"throughput\.min_decode_tps"),
        ("speed: {min: 1}\n", "speed: Extra inputs are not permitted"),
        ("throughput: {cases: {pp1: {max_tps: 3}}}\n", r"throughput\.cases\.pp1\.max_tps"),
    ],
)
def test_bad_gates_file_is_one_usage_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text(content)
    with pytest.raises(pytest.UsageError, match=message) as info:
        load_gates(settings(lm_gates=str(path)))
    assert str(info.value).startswith(f"--lm-gates: {path}")
    assert "\n" not in str(info.value)


def test_missing_gates_file(tmp_path: Path) -> None:
    with pytest.raises(pytest.UsageError, match="--lm-gates: cannot read"):
        load_gates(settings(lm_gates=str(tmp_path / "nope.yaml")))


# -- the gate keeper ---------------------------------------------------------------------


def keeper(tmp_path: Path, baseline: Report, **changes: Any) -> GateKeeper:
    path = write_baseline(baseline, tmp_path / "baseline.json")
    return GateKeeper.from_settings(settings(lm_baseline=str(path), **changes), None)


def _contended(record: ResultEntry) -> ResultEntry:
    record.flags.update({"contended": True, "contention_other_cpu_pct": 98.0})
    return record


@pytest.mark.parametrize("side", ["current", "baseline"])
def test_a_contended_comparison_is_untestable_unless_allowed(tmp_path: Path, side: str) -> None:
    before = throughput([50.0, 50.2, 49.8, 50.1, 49.9])
    gates = keeper(tmp_path, report([_contended(before) if side == "baseline" else before]))
    record = throughput([35.0, 35.2, 34.8, 35.1, 34.9])
    if side == "current":
        _contended(record)
    assert gates.check_item(record, FP) == []
    assert {flag["verdict"] for flag in record.flags["baseline"]} == {"untestable"}
    lines = gates.summary_lines(report([record]))
    assert any(
        line.startswith("note: other processes took more than half a core") for line in lines
    )
    allowed = keeper(tmp_path / "allowed", report([before]), lm_allow_contention=True)
    again = _contended(throughput([35.0, 35.2, 34.8, 35.1, 34.9]))
    assert len(allowed.check_item(again, FP)) == 2  # decode_tps and aggregate_output_tps


def test_item_regression_fails_with_a_full_message(tmp_path: Path) -> None:
    gates = keeper(tmp_path, report([throughput([50.0, 50.2, 49.8, 50.1, 49.9])]))
    record = throughput([35.0, 35.2, 34.8, 35.1, 34.9])
    problems = gates.check_item(record, FP)
    assert len(problems) == 2  # decode_tps and aggregate_output_tps
    assert problems[0].startswith(
        f"regression: throughput/pp64-tg40-c1[{MODEL}] decode_tps median 35.0 "
        "vs baseline 50.0 (-30.0 %, p=0.004, n=5 vs 5, limit -10 %)"
    )
    flags = record.flags["baseline"]
    assert {f["metric"] for f in flags} == {
        "decode_tps",
        "ttft_s",
        "prefill_tps",
        "aggregate_output_tps",
    }
    assert {f["verdict"] for f in flags if f["metric"] == "ttft_s"} == {"unchanged"}
    lines = gates.summary_lines(report([record]))
    assert any(line.startswith("regression: throughput/pp64-tg40-c1") for line in lines)
    assert any("2 regressions, 0 improvements, 0 untestable, 2 unchanged" in line for line in lines)
    assert [name for name, _ in junit_properties(record)] == [
        "lmbench_regression_decode_tps",
        "lmbench_regression_aggregate_output_tps",
    ]


def test_same_numbers_pass(tmp_path: Path) -> None:
    gates = keeper(tmp_path, report([throughput([50.0, 50.2, 49.8])]))
    record = throughput([50.1, 49.9, 50.0])
    assert gates.check_item(record, FP) == []
    assert all(f["verdict"] == "unchanged" for f in record.flags["baseline"])


def test_other_fingerprint_is_refused_unless_any_env(tmp_path: Path) -> None:
    base = report([throughput([50.0, 50.2, 49.8])])
    refused = keeper(tmp_path, base).check_item(throughput([50.0, 50.1, 49.9]), "b" * 16)
    assert refused == [
        f"baseline {tmp_path / 'baseline.json'} was measured on fingerprint {FP}, "
        f"this run is {'b' * 16}; refusing to compare "
        "(pass --lm-baseline-any-env to compare anyway)"
    ]
    record = throughput([50.0, 50.1, 49.9])
    assert keeper(tmp_path, base, lm_baseline_any_env=True).check_item(record, "b" * 16) == []
    assert record.flags["baseline_fingerprints"] == {"baseline": FP, "current": "b" * 16}


def test_new_item_and_unknown_model_are_not_failures(tmp_path: Path) -> None:
    gates = keeper(tmp_path, report([throughput([50.0, 50.2, 49.8])]))
    record = throughput([10.0, 10.1, 10.2], case="pp128-tg512-c1")
    assert gates.check_item(record, FP) == []
    assert record.flags["baseline_status"] == "missing"
    other = capability(0.1, model="someone/else")
    assert gates.check_item(other, FP) == []
    assert other.flags["baseline_status"] == "no_baseline"
    lines = gates.summary_lines(report([record, other]))
    assert any("2 items without a baseline" in line for line in lines)


def test_gate_limits_fail_the_item(tmp_path: Path) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text(GATES)
    gates = GateKeeper.from_settings(settings(lm_gates=str(path)), None)
    slow = throughput([30.0, 31.0, 29.0])
    problems = gates.check_item(slow, FP)
    assert problems == [
        f"gate: throughput/pp64-tg40-c1[{MODEL}] decode_tps median 30.0 is below min_decode_tps 40",
        f"gate: throughput/pp64-tg40-c1[{MODEL}] aggregate_output_tps value was not measured "
        "(min_aggregate_tps 30)",
    ]
    assert gates.check_item(throughput([50.0, 51.0]), FP)[0].startswith("gate:")


def test_session_gates(tmp_path: Path) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text("reasoning: {min_quality: 0.7, min_success_rate: 0.5}\n")
    gates = GateKeeper.from_settings(settings(lm_gates=str(path)), None)
    results = [
        capability(0.9, cap="reasoning", case="a"),
        capability(0.2, cap="reasoning", case="b", outcome="failed"),
        capability(0.1, cap="general_text", case="c", outcome="failed"),
    ]
    failures = gates.session_failures(report(results))
    assert failures == [f"reasoning[{MODEL}] mean quality_score 0.550 is below min_quality 0.7"]
    lines = gates.summary_lines(report(results))
    assert lines == [
        f"gate ok: reasoning[{MODEL}] success_rate 50% (1 of 2 passed) >= min_success_rate 50%"
    ]


def test_repeated_capability_regression(tmp_path: Path) -> None:
    gates = keeper(tmp_path, report([capability(1.0, [1.0, 1.0, 1.0, 1.0])]))
    record = capability(0.25, [0.0, 0.0, 0.0, 1.0])
    problems = gates.check_item(record, FP)
    assert len(problems) == 1
    assert "quality_score mean 0.250 vs baseline 1.00 (-75.0 %, p=0.0" in problems[0]


# -- a capability's quality over its cases -------------------------------------------------


def cases(cap: str, scores: list[float]) -> list[ResultEntry]:
    return [capability(v, cap=cap, case=f"{cap}_{i:03d}") for i, v in enumerate(scores)]


def test_single_run_item_drops_do_not_fail_items(tmp_path: Path) -> None:
    gates = keeper(tmp_path, report([capability(1.0)]))
    record = capability(0.0)
    assert gates.check_item(record, FP) == []
    assert record.flags["baseline"][0]["verdict"] == "untestable"
    lines = gates.summary_lines(report([record]))
    assert any(line.startswith("untestable: general_text/qa_001") for line in lines)
    assert any("0 regressions, 0 improvements, 1 untestable, 0 unchanged" in x for x in lines)
    assert any(line.startswith("note: an untestable change") for line in lines)


def test_a_capability_that_got_worse_on_most_cases_fails_the_session(tmp_path: Path) -> None:
    before = [1.0, 1.0, 1.0, 0.8, 1.0, 1.0, 0.9, 1.0]
    after = [0.0, 0.5, 1.0, 0.2, 0.0, 0.4, 0.9, 0.1]
    gates = keeper(tmp_path, report(cases("reasoning", before)))
    current = report(cases("reasoning", after))
    failures = gates.session_failures(current)
    assert failures == [
        f"regression: reasoning[{MODEL}] quality_score mean 0.388 vs baseline 0.963 "
        "(-59.7 %, p=0.016, n=8 paired cases, limit -10 %)"
    ]
    lines = gates.summary_lines(current)
    assert failures[0] in lines
    assert any("Wilcoxon signed-rank" in line for line in lines)


def test_one_flipped_case_among_many_is_not_a_capability_regression(tmp_path: Path) -> None:
    before = [1.0] * 6
    after = [1.0] * 5 + [0.0]
    gates = keeper(tmp_path, report(cases("general_text", before)))
    current = report(cases("general_text", after))
    assert gates.session_failures(current) == []  # -16.7 %, but p = 0.5


def test_capability_comparison_uses_only_cases_scored_on_both_sides() -> None:
    from pytest_lmbench.gates.quality import compare_capability

    assert compare_capability({"a": 1.0}, {"a": 0.0, "b": 1.0}, 10, 0.05) is None
    c = compare_capability({"a": 0.0, "b": 0.0, "new": 1.0}, {"a": 1.0, "b": 1.0}, 10, 0.05)
    assert c is not None
    assert (c.current, c.baseline, c.n_current) == (0.0, 1.0, 2)
    assert c.underpowered  # two pairs reach p = 0.25 at best
    assert c.verdict == "untestable"


def test_a_refused_baseline_is_not_compared_per_capability(tmp_path: Path) -> None:
    gates = keeper(tmp_path, report(cases("reasoning", [1.0] * 8)))
    current = report(cases("reasoning", [0.0] * 8), fingerprint="b" * 16)
    assert gates.session_failures(current) == []


# -- baselines from the store ------------------------------------------------------------


class FakeStore:
    def __init__(self, reports: list[Report]) -> None:
        self.reports = {r.run.id: r for r in reports}
        self.loaded: list[str] = []

    def last_completed_runs(self, model_key: str, fingerprint: str | None) -> LastRuns:
        # As the store's query, over the reports given newest first.
        same: str | None = None
        newest: str | None = None
        for r in self.reports.values():
            prints = {m.key: m.metadata.get("fingerprint") for m in r.models}
            if r.run.status != "completed" or model_key not in prints:
                continue
            newest = newest or r.run.id
            if prints[model_key] == fingerprint:
                same = same or r.run.id
        return LastRuns(same=same, newest=newest)

    def load_report(self, run_id: str) -> Report:
        matches = [k for k in self.reports if k.startswith(run_id)]
        if len(matches) != 1:
            raise LookupError(f"no run {run_id!r}")
        self.loaded.append(matches[0])
        return self.reports[matches[0]]


def test_last_prefers_the_same_fingerprint() -> None:
    runs = [
        report([], id="running-0", status="running"),
        report([throughput([10.0])], fingerprint="c" * 16, id="newer-other-fp"),
        report([throughput([50.0])], id="older-same-fp"),
    ]
    source = BaselineSource("last", FakeStore(runs), False)
    found, name = source.for_model(MODEL, FP)
    assert found is not None
    assert found.run_id == "older-same-fp"
    assert name == "last (run older-sa)"
    found, name = source.for_model(MODEL, "d" * 16)
    assert found is not None
    assert found.run_id == "newer-other-fp"
    assert source.refusal(found, name, MODEL, "d" * 16) is not None
    assert source.for_model("unknown/model", FP) == (None, "last")


def test_run_id_prefix_and_unknown_run() -> None:
    store = FakeStore([report([throughput([50.0])], id="abcdef123456")])
    source = BaselineSource("abcd", store, False)
    assert source.ref == "run abcdef12"
    with pytest.raises(pytest.UsageError, match="--lm-baseline zzz: no run 'zzz'"):
        BaselineSource("zzz", store, False)


def test_store_baselines_need_the_store() -> None:
    with pytest.raises(pytest.UsageError, match="needs the results store"):
        GateKeeper.from_settings(settings(lm_baseline="last", lm_no_db=True), None)


def test_session_gate_failures_reach_junit_xml(pytester: pytest.Pytester) -> None:
    from _pytest.junitxml import xml_key

    from pytest_lmbench.gates.keeper import junit_session_properties

    config = pytester.parseconfigure(f"--junitxml={pytester.path / 'junit.xml'}")
    junit_session_properties(config, ["reasoning[m] success_rate 50% ..."])
    xml = config.stash[xml_key]
    assert ("lmbench_gate_failed", "reasoning[m] success_rate 50% ...") in xml.global_properties


def test_a_store_the_gates_open_themselves_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_lmbench.storage.store import Store

    closed: list[str] = []
    monkeypatch.setattr(Store, "close", lambda self: closed.append(self.url))
    url = f"sqlite:///{tmp_path / 'results.db'}"
    gates = GateKeeper.from_settings(settings(lm_baseline="last", lm_db=url), None)
    assert closed == []
    gates.close()
    gates.close()  # twice is harmless
    assert closed == [url]


def test_a_session_store_lent_to_the_gates_stays_open() -> None:
    store = FakeStore([report([throughput([50.0])], id="abcdef123456")])
    gates = GateKeeper.from_settings(settings(lm_baseline="abcd"), store)
    gates.close()  # FakeStore has no close(): reaching it would raise
