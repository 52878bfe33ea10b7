"""NVIDIA signals through an injected stand-in NVML module."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.sampling import HardwareSampler
from pytest_lmbench.sampling.nvidia import load_nvml, open_nvidia

GPU_SIGNALS = ("vram_gb", "gpu_temp_c", "gpu_power_w", "gpu_util_pct", "gpu_sm_clock_mhz")


def _run(sampler: HardwareSampler, seconds: float = 0.2) -> dict[str, Any]:
    sampler.start()
    time.sleep(seconds)
    return sampler.stop()


def test_two_gpus_are_aggregated_and_energy_comes_from_the_counter(
    fake_nvml: Callable[..., Any], tmp_path: Path
) -> None:
    nvml = fake_nvml(gpus=2, energy_step_mj=5000)
    hardware = _run(HardwareSampler(0.05, store_samples=True, nvml=nvml, sysfs_root=tmp_path))

    # vram and power are summed over GPUs, temperature/util/clock take the max.
    assert hardware["vram_gb"] == {"min": 9.0, "max": 9.0, "avg": 9.0}
    assert hardware["gpu_power_w"]["max"] == 350.0
    assert hardware["gpu_temp_c"]["max"] == 70.0
    assert hardware["gpu_util_pct"]["avg"] == 90.0
    assert hardware["gpu_sm_clock_mhz"]["max"] == 1900.0
    assert hardware["gtt_gb"]["max"] is None  # NVIDIA has no GTT
    # Counter read once at start and once at stop: +5 J per GPU.
    assert hardware["energy_j"] == pytest.approx(10.0)
    assert hardware["energy_source"] == "nvml_counter"
    assert nvml.init_calls == 1

    per_gpu = {
        (s["gpu_index"], s["value"]) for s in hardware["samples"] if s["signal"] == "gpu_power_w"
    }
    assert per_gpu == {(0, 150.0), (1, 200.0)}


def test_nvml_is_initialised_once(fake_nvml: Callable[..., Any], tmp_path: Path) -> None:
    nvml = fake_nvml(gpus=1)
    for _ in range(3):
        _run(HardwareSampler(0.05, nvml=nvml, sysfs_root=tmp_path), 0.01)
    assert nvml.init_calls == 1


def test_nvml_absent_gives_null_fields_and_exactly_one_notice(
    fake_nvml: Callable[..., Any], tmp_path: Path, notices: Callable[[str], list[str]]
) -> None:
    nvml = fake_nvml(fail_init=True)
    for _ in range(2):
        hardware = _run(HardwareSampler(0.05, nvml=nvml, sysfs_root=tmp_path), 0.05)
        for signal in GPU_SIGNALS:
            assert hardware[signal] == {"min": None, "max": None, "avg": None}
        assert hardware["energy_j"] is None
        assert hardware["energy_source"] is None
        assert hardware["cpu_pct"]["max"] is not None
    assert len(notices("NVML")) == 1
    assert "Driver Not Loaded" in notices("NVML")[0]


def test_pynvml_not_installed_is_one_notice(
    monkeypatch: pytest.MonkeyPatch, notices: Callable[[str], list[str]]
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail
    assert load_nvml() is None
    assert open_nvidia() is None
    assert len(notices("pynvml")) == 1


def test_no_devices_is_one_notice(
    fake_nvml: Callable[..., Any], notices: Callable[[str], list[str]]
) -> None:
    nvml = fake_nvml(gpus=0)
    assert open_nvidia(nvml) is None
    assert open_nvidia(nvml) is None
    assert len(notices("no GPU")) == 1


def test_unsupported_signal_is_dropped_and_energy_falls_back_to_power_integral(
    fake_nvml: Callable[..., Any], tmp_path: Path, notices: Callable[[str], list[str]]
) -> None:
    nvml = fake_nvml(gpus=1, unsupported=("clock", "energy"))
    hardware = _run(HardwareSampler(0.05, nvml=nvml, sysfs_root=tmp_path), 0.25)
    assert hardware["gpu_sm_clock_mhz"]["max"] is None
    assert hardware["gpu_temp_c"]["max"] == 60.0
    assert hardware["energy_source"] == "power_integral"
    # Constant 150 W over the sampled span.
    assert hardware["energy_j"] == pytest.approx(150.0 * hardware["duration_s"], rel=0.25)
    assert len(notices("gpu_sm_clock_mhz")) == 1
    assert len(notices("energy counter")) == 1
