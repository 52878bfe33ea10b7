"""Cooldown waiting and limit checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.sampling import check_limits, current_gpu_temp, wait_for_cooldown
from pytest_lmbench.sampling.aggregate import empty_hardware


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _temps(*values: float | None) -> Callable[[], float | None]:
    it: Iterator[float | None] = iter(values)
    return lambda: next(it)


def test_cooldown_reached_after_polling() -> None:
    clock = FakeClock()
    reached, temp, waited = wait_for_cooldown(
        _temps(80.0, 70.0, 59.0), 60.0, timeout_s=30, poll_s=2.0, sleep=clock.sleep, clock=clock
    )
    assert (reached, temp, waited) == (True, 59.0, 4.0)
    assert clock.sleeps == [2.0, 2.0]


def test_cooldown_times_out_without_oversleeping() -> None:
    clock = FakeClock()
    reached, temp, waited = wait_for_cooldown(
        lambda: 90.0, 60.0, timeout_s=5, poll_s=2.0, sleep=clock.sleep, clock=clock
    )
    assert (reached, temp, waited) == (False, 90.0, 5.0)
    assert clock.sleeps == [2.0, 2.0, 1.0]


@pytest.mark.parametrize("reader", [lambda: None, lambda: 1 / 0])
def test_cooldown_returns_at_once_when_unreadable(reader: Callable[[], float | None]) -> None:
    clock = FakeClock()
    assert wait_for_cooldown(reader, 60.0, sleep=clock.sleep, clock=clock) == (False, None, 0.0)
    assert clock.sleeps == []


def _hardware(temp: float | None, power: float | None) -> dict[str, Any]:
    hardware = empty_hardware(0.2)
    hardware["gpu_temp_c"] = {"min": temp, "max": temp, "avg": temp}
    hardware["gpu_power_w"] = {"min": power, "max": power, "avg": power}
    return hardware


def test_check_limits_messages() -> None:
    assert (
        check_limits(_hardware(91.0, 200.0), 85, None)
        == "GPU temperature reached 91.0 °C, above --lm-max-temp 85"
    )
    assert (
        check_limits(_hardware(70.0, 351.25), 85, 300)
        == "GPU power reached 351.2 W, above --lm-max-power 300"
    )
    both = check_limits(_hardware(90.0, 400.0), 85.5, 300)
    assert both == (
        "GPU temperature reached 90.0 °C, above --lm-max-temp 85.5; "
        "GPU power reached 400.0 W, above --lm-max-power 300"
    )
    assert check_limits(_hardware(80.0, 250.0), 85, 300) is None
    assert check_limits(_hardware(None, None), 85, 300) is None
    assert check_limits(_hardware(99.0, 999.0), None, None) is None
    assert check_limits({}, 85, 300) is None


def test_current_gpu_temp_is_the_max_over_vendors(
    fake_nvml: Callable[..., Any], card_factory: Callable[..., Path], tmp_path: Path
) -> None:
    card_factory(tmp_path, 0, temp_mc=75_000)
    assert current_gpu_temp(fake_nvml(gpus=2), tmp_path) == 75.0
    assert current_gpu_temp(fake_nvml(gpus=3), tmp_path) == 80.0
    assert current_gpu_temp(fake_nvml(fail_init=True), tmp_path / "nothing") is None
