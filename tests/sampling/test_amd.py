"""AMD signals read from a fake amdgpu sysfs tree."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.sampling import HardwareSampler
from pytest_lmbench.sampling.amd import drm_cards, gpu_temperatures, open_amd


def test_values_are_converted(
    card_factory: Callable[..., Path], tmp_path: Path, no_nvml: Any
) -> None:
    card_factory(tmp_path, 0)
    sampler = HardwareSampler(0.05, store_samples=True, nvml=no_nvml, sysfs_root=tmp_path)
    sampler.start()
    time.sleep(0.3)
    hardware = sampler.stop()

    assert hardware["vram_gb"]["avg"] == 8.0
    assert hardware["gtt_gb"]["avg"] == 1.5
    assert hardware["gpu_temp_c"]["avg"] == 55.0
    assert hardware["gpu_power_w"]["avg"] == 120.0
    assert hardware["gpu_util_pct"]["avg"] == 75.0
    assert hardware["gpu_sm_clock_mhz"]["avg"] is None
    assert hardware["energy_source"] == "power_integral"
    power_times = [s["t_s"] for s in hardware["samples"] if s["signal"] == "gpu_power_w"]
    span = power_times[-1] - power_times[0]
    assert span > 0.2
    assert hardware["energy_j"] == pytest.approx(120.0 * span, rel=0.01)
    assert {s["gpu_index"] for s in hardware["samples"] if s["signal"] == "vram_gb"} == {0}


def test_two_cards_power1_input_fallback_and_other_vendors_ignored(
    card_factory: Callable[..., Path], tmp_path: Path
) -> None:
    card_factory(tmp_path, 0, power_uw=100_000_000, power_file="power1_input")
    card_factory(tmp_path, 1, temp_mc=81_500, power_uw=50_000_000)
    card_factory(tmp_path, 2, vendor="0x8086")  # an Intel iGPU is not sampled
    assert [card.number for card in drm_cards(tmp_path)] == [0, 1, 2]
    source = open_amd(tmp_path, index_offset=1)
    assert source is not None
    assert source.gpu_count == 2
    source.begin()
    readings = source.read()
    source.end()
    by_gpu = {(r.signal, r.gpu_index): r.value for r in readings}
    assert by_gpu[("gpu_power_w", 1)] == 100.0
    assert by_gpu[("gpu_power_w", 2)] == 50.0
    assert by_gpu[("gpu_temp_c", 2)] == 81.5
    assert source.counter_energy_j() is None
    assert gpu_temperatures(tmp_path) == [55.0, 81.5]


def test_missing_file_is_skipped(card_factory: Callable[..., Path], tmp_path: Path) -> None:
    card_factory(tmp_path, 0, power_uw=None)
    source = open_amd(tmp_path)
    assert source is not None
    signals = {r.signal for r in source.read()}
    assert signals == {"vram_gb", "gtt_gb", "gpu_util_pct", "gpu_temp_c"}


def test_no_amd_gpu_is_one_notice(tmp_path: Path, notices: Callable[[str], list[str]]) -> None:
    assert open_amd(tmp_path) is None
    assert open_amd(tmp_path) is None
    assert len(notices("no AMD GPU")) == 1
