"""What goes into the store comes back out: runs, models, results, child rows."""

from __future__ import annotations

import math
from typing import Any

import pytest
from sqlalchemy import select

from pytest_lmbench.records import Report
from pytest_lmbench.storage.models import HardwareSample, Measurement, Result, Run
from pytest_lmbench.storage.store import Store, StoreError


def _rows(store: Store, statement: Any) -> list[Any]:
    with store._engine.connect() as connection:
        return list(connection.execute(statement).mappings())


def test_full_report_round_trip(store: Store, make: Any) -> None:
    run = make.run("run-1")
    models = [make.model(), make.model("gemma-3-1b", status="load_failed", error="out of memory")]
    results = [
        make.throughput(),
        make.failed(),  # stored order, not alphabetical, must be kept
        make.capability(),
        make.capability("suite::test_case[qwen3-4b-skip]", outcome="skipped", metrics={}),
    ]
    store.begin_run(run)
    for model in models:
        store.save_model(run.id, model)
    for result in results:
        store.add_result(run.id, result)
    finished = make.iso(90)
    store.finish_run(run.id, "completed", finished, environment={"os": "Linux"}, fingerprint="fp")

    loaded = store.load_report(run.id)

    expected_run = run.model_copy(
        update={
            "status": "completed",
            "finished_at": finished,
            "environment": {"os": "Linux"},
            "fingerprint": "fp",
        }
    )
    assert loaded == Report(run=expected_run, models=models, results=results)
    assert loaded.summary == {}


def test_missing_figures_stay_null(store: Store, make: Any, fill: Any) -> None:
    failed = make.failed()
    fill(store, "run-1", [failed])

    loaded = store.load_report("run-1").results[0]
    assert loaded.metrics == {"quality_score": None, "f1": None}
    assert loaded.timing == {"ttft_s": None, "decode_tps": None}
    assert loaded.duration_s is None
    assert loaded.reference is None
    row = _rows(store, select(Result))[0]
    for column in ("quality_score", "ttft_s_median", "decode_tps_median", "energy_j", "reference"):
        assert row[column] is None, column


def test_promoted_columns(store: Store, make: Any, fill: Any) -> None:
    fill(store, "run-1", [make.throughput(decode=50.0), make.capability()])
    speed, quality = _rows(store, select(Result).order_by(Result.id))

    assert speed["decode_tps_median"] == 50.0
    assert (speed["decode_tps_ci95_low"], speed["decode_tps_ci95_high"]) == (48.0, 52.0)
    assert speed["ttft_s_median"] == 0.11
    assert speed["aggregate_output_tps"] == pytest.approx(49.0)
    assert speed["output_tokens"] == 3 * 128  # total over the measured requests
    assert speed["prompt_tokens"] == 3 * 512
    assert (speed["energy_j"], speed["joules_per_token"]) == (120.5, 0.31)
    assert speed["quality_score"] is None
    assert quality["quality_score"] == 1.0
    assert quality["decode_tps_median"] == 41.5  # a plain value is its own median
    assert quality["decode_tps_ci95_low"] is None
    assert quality["output_tokens"] == 3


def test_measurement_and_hardware_rows(store: Store, make: Any, fill: Any) -> None:
    result = make.throughput(decode=60.0)
    fill(store, "run-1", [result])

    rows = _rows(store, select(Measurement).order_by(Measurement.idx))
    assert [r["idx"] for r in rows] == [0, 1, 2]
    assert [r["decode_tps"] for r in rows] == [60.0, 61.0, 62.0]
    assert rows[0]["ttft_s"] == 0.1
    assert rows[0]["token_count_estimated"] is False
    assert rows[0]["server_ttft_s"] is None
    assert rows[0]["server_decode_tps"] == 60.0
    assert rows[0]["extra"] == {
        "itl_s": [0.02, 0.021],
        "chunks": 128,
        "server_prefill_tps": None,
        "batch": 0,
    }
    assert rows[0]["absent_keys"] is None
    readings = _rows(store, select(HardwareSample).order_by(HardwareSample.id))
    assert [(r["t_s"], r["signal"], r["value"], r["gpu_index"]) for r in readings] == [
        (0.0, "gpu_power_w", 200.5, 0),
        (0.1, "cpu_util_pct", 12.0, None),
    ]
    assert all(r["extra"] is None and r["absent_keys"] is None for r in readings)
    # The samples live in the child tables, not twice in the JSON.
    stored = _rows(store, select(Result.timing, Result.hardware))[0]
    assert "samples" not in stored["timing"]
    assert "samples" not in stored["hardware"]


def test_capability_samples_keep_their_own_keys(store: Store, make: Any, fill: Any) -> None:
    keys = ("ttft_s", "decode_tps", "prefill_tps", "e2e_s", "output_tokens", "prompt_tokens")
    samples = [dict.fromkeys(keys, 1.5) | {"output_tokens": 7, "prompt_tokens": None}] * 2
    result = make.capability(timing={"ttft_s": 1.5, "samples": samples})
    fill(store, "run-1", [result])

    assert store.load_report("run-1").results[0].timing == result.timing
    row = _rows(store, select(Measurement))[0]
    assert row["absent_keys"] == [
        "ttfr_s",
        "token_count_estimated",
        "server_ttft_s",
        "server_decode_tps",
    ]


@pytest.mark.parametrize(
    "samples",
    [[], [1, 2], "not a list", [{"ttft_s": "fast"}, {"output_tokens": 1.5, "odd": {"x": 1}}]],
)
def test_unusual_samples_survive(store: Store, make: Any, fill: Any, samples: Any) -> None:
    result = make.capability(timing={"samples": samples}, hardware={"samples": samples})
    fill(store, "run-1", [result])

    loaded = store.load_report("run-1").results[0]
    assert loaded.timing == {"samples": samples}
    assert loaded.hardware == {"samples": samples}


def test_nan_and_infinity_become_null(store: Store, make: Any, fill: Any) -> None:
    result = make.capability(metrics={"quality_score": math.nan, "ratio": math.inf, "ok": 1})
    fill(store, "run-1", [result])

    loaded = store.load_report("run-1").results[0]
    assert loaded.metrics == {"quality_score": None, "ratio": None, "ok": 1}


def test_same_nodeid_twice_keeps_the_first(store: Store, make: Any, fill: Any) -> None:
    first = make.capability(output="first")
    fill(store, "run-1", [first, make.capability(output="second", outcome="failed")])

    assert store.load_report("run-1").results == [first]
    assert len(_rows(store, select(Result))) == 1


def test_save_model_replaces_by_key(store: Store, make: Any) -> None:
    store.begin_run(make.run("run-1"))
    store.save_model("run-1", make.model(status="not_loaded"))
    updated = make.model(metadata={"quantization": "Q8_0"}, status="ok")
    store.save_model("run-1", updated)

    assert store.load_report("run-1").models == [updated]


def test_run_times_are_aware_utc(store: Store, make: Any) -> None:
    store.begin_run(make.run("run-1", started_at="2026-05-01T14:00:00+02:00"))

    assert store.load_report("run-1").run.started_at == "2026-05-01T12:00:00+00:00"
    row = _rows(store, select(Run))[0]
    assert row["started_at"].utcoffset().total_seconds() == 0
    assert row["finished_at"] is None


def test_finish_run_keeps_what_it_is_not_given(store: Store, make: Any) -> None:
    store.begin_run(make.run("run-1", calibration={"score": 1.0}))
    store.finish_run("run-1", "interrupted", make.iso(5))

    run = store.load_report("run-1").run
    assert (run.status, run.finished_at) == ("interrupted", make.iso(5))
    assert (run.fingerprint, run.calibration) == ("fp-a", {"score": 1.0})


def test_run_prefix_and_listing(store: Store, make: Any, fill: Any) -> None:
    fill(store, "abc-111", [], offset_s=0)
    fill(store, "abc-222", [], offset_s=100)
    fill(store, "x_y%z", [], offset_s=50)

    assert store.load_report("abc-2").run.id == "abc-222"
    assert store.load_report("x_y").run.id == "x_y%z"
    assert [r.id for r in store.list_runs()] == ["abc-222", "x_y%z", "abc-111"]
    assert [r.id for r in store.list_runs(limit=1)] == ["abc-222"]
    with pytest.raises(StoreError, match="ambiguous"):
        store.load_report("abc")
    with pytest.raises(StoreError, match="no run 'x_%'"):
        store.load_report("x_%")  # LIKE wildcards are taken literally


def test_run_stats(store: Store, make: Any, fill: Any) -> None:
    fill(store, "run-1", [make.throughput(), make.failed(), make.capability()])

    stats = store.run_stats(["run-1"])["run-1"]
    assert stats == {
        "models": 1,
        "results": 3,
        "passed": 2,
        "failed": 1,
        "error": 0,
        "skipped": 0,
    }


def test_errors_are_store_errors(store: Store, make: Any) -> None:
    store.begin_run(make.run("run-1"))
    with pytest.raises(StoreError, match="run run-1 is already in"):
        store.begin_run(make.run("run-1"))
    with pytest.raises(StoreError, match=r"no run nope in .*begin_run first"):
        store.add_result("nope", make.capability())
    with pytest.raises(StoreError, match="no run nope"):
        store.save_model("nope", make.model())
    with pytest.raises(StoreError, match="no run nope"):
        store.finish_run("nope", "completed", make.iso())
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.load_report("nope")
    with pytest.raises(StoreError, match="not an ISO 8601 time"):
        store.begin_run(make.run("run-2", started_at="yesterday"))


def test_export_rows(store: Store, make: Any, fill: Any) -> None:
    fill(store, "run-1", [make.throughput()])
    fill(store, "run-2", [make.capability()], offset_s=100)

    rows = store.export_rows()
    assert [(r["run_id"], r["kind"]) for r in rows] == [
        ("run-1", "throughput"),
        ("run-2", "capability"),
    ]
    assert rows[1]["metrics"]["exact_match"] is True
    assert rows[1]["run_started_at"] == make.iso(100)
    assert "timing" not in rows[0]
    assert "prompt" not in rows[0]
    assert [r["run_id"] for r in store.export_rows("run-2")] == ["run-2"]
