"""Stored hardware readings placed on the run's clock, item by item."""

from __future__ import annotations

from pytest_lmbench.records import Report, ResultEntry, RunInfo
from pytest_lmbench.reporting.timeseries import hardware_charts, run_timeline

START = "2026-05-01T12:00:00+00:00"


def _item(case: str, finished: str | None, duration: float | None, t0: float) -> ResultEntry:
    readings = [
        {"t_s": t0 + k, "signal": signal, "value": value + k, "gpu_index": gpu}
        for k in range(3)
        for signal, value, gpu in (("gpu_power_w", 100.0, 0), ("cpu_pct", 10.0, None))
    ]
    return ResultEntry(
        nodeid=f"throughput/grid.json::{case}[m]",
        model="m",
        kind="throughput",
        capability="throughput",
        case_id=case,
        outcome="passed",
        hardware={"samples": readings},
        finished_at=finished,
        duration_s=duration,
    )


def _report(*results: ResultEntry) -> Report:
    run = RunInfo(id="r", started_at=START, backend="b", base_url="u", plugin_version="0")
    return Report(run=run, results=list(results))


def test_readings_are_placed_from_each_items_start() -> None:
    report = _report(
        _item("a", "2026-05-01T12:00:10+00:00", 4.0, 0.0),  # started 6 s into the run
        _item("b", None, None, 0.0),  # no times: right after the last reading so far
    )
    timeline = run_timeline(report)
    assert timeline.marks == [(6.0, "throughput/a"), (8.0, "throughput/b")]
    assert timeline.lines["gpu_power_w"]["GPU 0"][:3] == [(6.0, 100.0), (7.0, 101.0), (8.0, 102.0)]
    assert timeline.lines["cpu_pct"]["cpu_pct"][3] == (8.0, 10.0)
    svgs = hardware_charts(report)
    assert [svg.split('aria-label="')[1].split('"')[0] for svg in svgs] == [
        "GPU power over the run",
        "CPU over the run",
    ]


def test_no_readings_no_charts() -> None:
    assert (
        hardware_charts(
            _report(
                ResultEntry(
                    nodeid="x",
                    model="m",
                    kind="custom",
                    capability="c",
                    case_id="x",
                    outcome="passed",
                )
            )
        )
        == []
    )
