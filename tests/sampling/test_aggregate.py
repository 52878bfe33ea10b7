"""Reduction of readings into the per-item hardware dict."""

from __future__ import annotations

import pytest

from pytest_lmbench.sampling.aggregate import (
    SIGNALS,
    Reading,
    Tick,
    build_hardware,
    combine,
    empty_hardware,
    joules_per_token,
    power_integral_j,
    stats,
)


def test_combine_sums_memory_and_power_but_takes_max_temperature() -> None:
    readings = [
        Reading("vram_gb", 4.0, 0),
        Reading("vram_gb", 5.0, 1),
        Reading("gpu_power_w", 150.0, 0),
        Reading("gpu_power_w", 200.0, 1),
        Reading("gpu_temp_c", 60.0, 0),
        Reading("gpu_temp_c", 70.0, 1),
        Reading("gpu_util_pct", 90.0, 0),
        Reading("gpu_util_pct", 30.0, 1),
    ]
    assert combine(readings) == {
        "vram_gb": 9.0,
        "gpu_power_w": 350.0,
        "gpu_temp_c": 70.0,
        "gpu_util_pct": 90.0,
    }


def test_stats_of_nothing_keeps_the_keys() -> None:
    assert stats([]) == {"min": None, "max": None, "avg": None}
    assert stats([1.0, 2.0, 6.0]) == {"min": 1.0, "max": 6.0, "avg": 3.0}


def test_power_integral_is_a_trapezoid() -> None:
    assert power_integral_j([(0.0, 100.0)]) is None
    assert power_integral_j([(0.0, 100.0), (1.0, 200.0), (3.0, 200.0)]) == pytest.approx(550.0)


@pytest.mark.parametrize(
    ("energy", "tokens", "expected"),
    [(10.0, 100, 0.1), (None, 100, None), (10.0, None, None), (10.0, 0, None)],
)
def test_joules_per_token(energy: float | None, tokens: int | None, expected: float | None) -> None:
    assert joules_per_token(energy, tokens) == expected


def test_empty_hardware_has_every_key() -> None:
    hardware = empty_hardware(0.2)
    for signal in SIGNALS:
        assert hardware[signal] == {"min": None, "max": None, "avg": None}
    assert hardware["energy_j"] is None
    assert hardware["energy_source"] is None
    assert hardware["n_samples"] == 0
    assert hardware["interval_s"] == 0.2
    assert hardware["duration_s"] == 0.0
    assert "samples" not in hardware


def test_build_hardware_prefers_counter_and_keeps_samples() -> None:
    ticks = [
        Tick(1_000_000_000, [Reading("gpu_power_w", 100.0, 0), Reading("cpu_pct", 10.0)]),
        Tick(2_000_000_000, [Reading("gpu_power_w", 300.0, 0), Reading("cpu_pct", 30.0)]),
    ]
    integral = build_hardware(ticks, start_ns=1_000_000_000, end_ns=2_000_000_000, interval_s=1.0)
    assert integral["energy_j"] == pytest.approx(200.0)
    assert integral["energy_source"] == "power_integral"
    assert integral["cpu_pct"] == {"min": 10.0, "max": 30.0, "avg": 20.0}
    assert integral["duration_s"] == 1.0

    counted = build_hardware(
        ticks,
        start_ns=1_000_000_000,
        end_ns=2_000_000_000,
        interval_s=1.0,
        counter_energy_j=123.4,
        store_samples=True,
    )
    assert counted["energy_j"] == 123.4
    assert counted["energy_source"] == "nvml_counter"
    assert counted["samples"][0] == {
        "t_s": 0.0,
        "signal": "gpu_power_w",
        "value": 100.0,
        "gpu_index": 0,
    }
    assert counted["samples"][-1] == {
        "t_s": 1.0,
        "signal": "cpu_pct",
        "value": 30.0,
        "gpu_index": None,
    }
