"""previous_result (baselines, speed_delta_pct) and history (the trend chart)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_lmbench.storage.store import Store

NODE = "speed.py::test_decode[qwen3-4b-pp512-tg128]"


@pytest.fixture
def timeline(store: Store, make: Any, fill: Any) -> Store:
    """Five earlier runs on two machines, then the current run 'now'."""
    fill(store, "old-a", [make.throughput(decode=40.0)], offset_s=0, fingerprint="fp-a")
    fill(store, "mid-b", [make.throughput(decode=90.0)], offset_s=100, fingerprint="fp-b")
    fill(store, "new-a", [make.throughput(decode=45.0)], offset_s=200, fingerprint="fp-a")
    # Later but unusable: failed run, still-running run, a skipped result.
    fill(store, "bad-a", [make.throughput(decode=1.0)], 300, "failed", fingerprint="fp-a")
    store.begin_run(make.run("live-a", 350, fingerprint="fp-a"))
    store.add_result("live-a", make.throughput(decode=2.0))
    skipped = make.throughput(decode=3.0, outcome="skipped")
    fill(store, "skip-a", [skipped], offset_s=380, fingerprint="fp-a")
    fill(store, "now", [make.throughput(decode=50.0)], 400, "running", fingerprint="fp-a")
    return store


def _decode(result: Any) -> float:
    value: float = result.timing["decode_tps"]["median"]
    return value


def test_previous_result_same_fingerprint(timeline: Store) -> None:
    previous = timeline.previous_result("qwen3-4b", NODE, "fp-a", before_run="now")
    assert previous is not None
    assert _decode(previous) == 45.0
    assert len(previous.timing["samples"]) == 3  # rebuilt with its measurements


def test_previous_result_any_fingerprint(timeline: Store) -> None:
    previous = timeline.previous_result("qwen3-4b", NODE, None, before_run="now")
    assert previous is not None
    assert _decode(previous) == 45.0
    before_new = timeline.previous_result("qwen3-4b", NODE, None, before_run="new-a")
    assert before_new is not None
    assert _decode(before_new) == 90.0
    only_b = timeline.previous_result("qwen3-4b", NODE, "fp-b", before_run="now")
    assert only_b is not None
    assert _decode(only_b) == 90.0


def test_previous_result_by_case_id(timeline: Store) -> None:
    previous = timeline.previous_result("qwen3-4b", "pp512-tg128", "fp-a", before_run="now")
    assert previous is not None
    assert _decode(previous) == 45.0


def test_previous_result_none(timeline: Store) -> None:
    assert timeline.previous_result("qwen3-4b", NODE, "fp-a", before_run="old-a") is None
    assert timeline.previous_result("other-model", NODE, None, before_run="now") is None
    assert timeline.previous_result("qwen3-4b", "no::such", None, before_run="now") is None
    assert timeline.previous_result("qwen3-4b", NODE, "fp-zzz", before_run="now") is None


def test_previous_result_unknown_current_run(timeline: Store) -> None:
    # A run not (yet) stored: every stored finished run counts as earlier.
    previous = timeline.previous_result("qwen3-4b", NODE, "fp-a", before_run="not-stored")
    assert previous is not None
    assert _decode(previous) == 45.0


def test_history(timeline: Store, make: Any) -> None:
    history = timeline.history("qwen3-4b", "fp-a")
    # Oldest first; failed, running and measured-nothing runs are left out.
    assert [h["run_id"] for h in history] == ["old-a", "new-a"]
    assert [h["decode_tps_median"] for h in history] == [40.0, 45.0]
    assert history[0]["started_at"] == make.iso(0)
    assert history[0]["quality_score_mean"] is None
    assert [h["run_id"] for h in timeline.history("qwen3-4b", None, limit=2)] == [
        "mid-b",
        "new-a",
    ]
    assert [h["run_id"] for h in timeline.history("qwen3-4b", None, up_to_run="mid-b")] == [
        "old-a",
        "mid-b",
    ]
    assert timeline.history("other-model", None) == []


def test_history_headline_and_quality(store: Store, make: Any, fill: Any) -> None:
    results = [
        make.throughput("a", decode=40.0),
        make.throughput("b", decode=60.0),
        make.throughput("c", decode=10.0, timing={"decode_tps": 10.0, "concurrency": 8}),
        make.capability("q1", metrics={"quality_score": 1.0}),
        make.capability("q2", metrics={"quality_score": 0.5}),
        make.failed("q3"),
    ]
    fill(store, "run-1", results)

    (entry,) = store.history("qwen3-4b", None)
    # Median of the lowest-concurrency throughput items; capability speeds do not count.
    assert entry["decode_tps_median"] == 50.0
    assert entry["quality_score_mean"] == 0.75
