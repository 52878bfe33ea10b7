"""Energy over the measured window only: the part of an item energy per token covers."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.sampling import HardwareSampler
from pytest_lmbench.sampling.aggregate import Mark, Reading, Tick, build_hardware, power_integral_j
from pytest_lmbench.session.hardware import per_token


def _windowed(sampler: HardwareSampler, before: float, during: float, after: float) -> Any:
    sampler.start()
    time.sleep(before)
    sampler.begin_measured()
    time.sleep(during)
    sampler.end_measured()
    time.sleep(after)
    return sampler.stop()


def test_counter_energy_of_the_window_excludes_what_came_before_and_after(
    fake_nvml: Callable[..., Any], tmp_path: Path
) -> None:
    # The stand-in's counter advances 5 J per GPU at every read: begin, window start,
    # window end and end are four reads, so the item spans 3 steps and the window 1.
    nvml = fake_nvml(gpus=2, energy_step_mj=5000)
    hardware = _windowed(HardwareSampler(0.05, nvml=nvml, sysfs_root=tmp_path), 0.05, 0.1, 0.05)
    assert hardware["energy_j"] == pytest.approx(30.0)
    assert hardware["measured_energy_j"] == pytest.approx(10.0)
    assert hardware["measured_energy_source"] == "nvml_counter"
    assert 0.1 <= hardware["measured_duration_s"] < hardware["duration_s"]


def test_power_integral_of_the_window_when_there_is_no_counter(
    fake_nvml: Callable[..., Any], tmp_path: Path
) -> None:
    nvml = fake_nvml(gpus=2, unsupported=("energy",))  # 150 W + 200 W, constant
    hardware = _windowed(HardwareSampler(0.05, nvml=nvml, sysfs_root=tmp_path), 0.1, 0.3, 0.1)
    assert hardware["energy_source"] == hardware["measured_energy_source"] == "power_integral"
    assert hardware["measured_energy_j"] == pytest.approx(
        350.0 * hardware["measured_duration_s"], rel=1e-3
    )
    assert hardware["energy_j"] == pytest.approx(350.0 * hardware["duration_s"], rel=0.05)
    assert hardware["measured_energy_j"] < hardware["energy_j"]


def test_unmarked_or_unfinished_window_gives_null_measured_fields(
    fake_nvml: Callable[..., Any], tmp_path: Path
) -> None:
    sampler = HardwareSampler(0.05, nvml=fake_nvml(gpus=1), sysfs_root=tmp_path)
    sampler.begin_measured()  # not sampling yet: ignored
    sampler.start()
    unmarked = sampler.stop()
    sampler.start()
    sampler.begin_measured()
    unfinished = sampler.stop()  # the measured rounds failed before their end
    for hardware in (unmarked, unfinished):
        assert hardware["energy_j"] is not None
        assert hardware["measured_energy_j"] is None
        assert hardware["measured_duration_s"] is None
    # A new item forgets the previous item's window.
    sampler.start()
    sampler.end_measured()
    assert sampler.stop()["measured_energy_j"] is None


def test_power_integral_clipped_to_a_window_interpolates_its_edges() -> None:
    points = [(0.0, 100.0), (1.0, 300.0), (2.0, 300.0), (3.0, 100.0)]
    # 0.5 s -> 200 W, 2.5 s -> 200 W: trapezoids 0.5*250 + 1*300 + 0.5*250.
    assert power_integral_j(points, 0.5, 2.5) == pytest.approx(550.0)
    assert power_integral_j(points, 1.0, 2.0) == pytest.approx(300.0)
    # Edges outside the readings hold the nearest reading.
    assert power_integral_j(points, -1.0, 0.0) == pytest.approx(100.0)
    assert power_integral_j([(0.0, 100.0)], 0.0, 1.0) is None


def test_build_hardware_prefers_the_counters_at_the_marks() -> None:
    ticks = [
        Tick(0, [Reading("gpu_power_w", 100.0, 0)]),
        Tick(4 * 10**9, [Reading("gpu_power_w", 100.0, 0)]),
    ]
    counted = build_hardware(
        ticks,
        start_ns=0,
        end_ns=4 * 10**9,
        interval_s=1.0,
        measured=(Mark(1 * 10**9, 1000.0), Mark(3 * 10**9, 1234.5)),
    )
    assert counted["measured_energy_j"] == pytest.approx(234.5)
    assert counted["measured_energy_source"] == "nvml_counter"
    assert counted["measured_duration_s"] == 2.0
    integrated = build_hardware(
        ticks,
        start_ns=0,
        end_ns=4 * 10**9,
        interval_s=1.0,
        measured=(Mark(1 * 10**9, None), Mark(3 * 10**9, 1234.5)),
    )
    assert integrated["measured_energy_j"] == pytest.approx(200.0)
    assert integrated["measured_energy_source"] == "power_integral"


@pytest.mark.parametrize(
    ("hardware", "tokens", "expected"),
    [
        # The measured window's energy when it was marked, not the whole item's.
        (
            {"energy_j": 90.0, "measured_energy_j": 30.0, "measured_duration_s": 1.0},
            10,
            (3.0, "measured_rounds"),
        ),
        (
            {"energy_j": 90.0, "measured_energy_j": None, "measured_duration_s": None},
            10,
            (9.0, "item"),
        ),
        (
            {"energy_j": 90.0, "measured_energy_j": None, "measured_duration_s": 1.0},
            10,
            (None, None),
        ),
        (
            {"energy_j": None, "measured_energy_j": None, "measured_duration_s": None},
            10,
            (None, None),
        ),
        (
            {"energy_j": 90.0, "measured_energy_j": 30.0, "measured_duration_s": 1.0},
            0,
            (None, None),
        ),
    ],
)
def test_joules_per_token_names_its_window(
    hardware: dict[str, Any], tokens: int, expected: tuple[float | None, str | None]
) -> None:
    result = per_token(hardware, tokens)
    assert (result["joules_per_token"], result["joules_per_token_window"]) == expected
