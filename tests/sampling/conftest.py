"""Fixtures for the sampling tests: a stand-in NVML module and a fake sysfs tree."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_lmbench.sampling import reset_notices

LOGGER_NAME = "pytest_lmbench.sampling"


class FakeNVMLError(Exception):
    """Stands in for pynvml.NVMLError."""


class FakeNvml:
    """The subset of pynvml the sampling package calls, returning fixed values.

    GPU ``i`` uses (4 + i) GB of 24 GB, runs at 90 % utilisation, 60 + 10 i °C,
    150 + 50 i W and 1800 + 100 i MHz. Every energy-counter read advances that
    GPU's counter by ``energy_step_mj``.

    For runs through the plugin: ``power_w`` fixes every GPU's power draw, and the
    energy counter then follows the clock (``power_w`` x seconds since creation), as
    a real board's does; ``temps_c`` scripts the temperature reads (the last value
    repeats).
    """

    NVMLError = FakeNVMLError
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1

    def __init__(
        self,
        gpus: int = 2,
        *,
        fail_init: bool = False,
        energy_step_mj: int = 5000,
        unsupported: tuple[str, ...] = (),
        power_w: float | None = None,
        temps_c: tuple[float, ...] = (),
    ) -> None:
        self.gpus = gpus
        self.fail_init = fail_init
        self.energy_step_mj = energy_step_mj
        self.unsupported = set(unsupported)
        self.init_calls = 0
        self.energy_mj = [1_000_000] * gpus
        self.power_w = power_w
        self.temps_c = list(temps_c)
        self.temperature_reads = 0
        self._created = time.monotonic()

    def _check(self, name: str) -> None:
        if name in self.unsupported:
            raise FakeNVMLError("Not Supported")

    def nvmlInit(self) -> None:
        self.init_calls += 1
        if self.fail_init:
            raise FakeNVMLError("Driver Not Loaded")

    def nvmlDeviceGetCount(self) -> int:
        return self.gpus

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        self._check("memory")
        return SimpleNamespace(used=(4 + handle) * 10**9, total=24 * 10**9, free=0)

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        self._check("utilization")
        return SimpleNamespace(gpu=90, memory=40)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        assert sensor == self.NVML_TEMPERATURE_GPU
        self._check("temperature")
        self.temperature_reads += 1
        if self.temps_c:
            return int(self.temps_c.pop(0) if len(self.temps_c) > 1 else self.temps_c[0])
        return 60 + 10 * handle

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        self._check("power")
        if self.power_w is not None:
            return int(self.power_w * 1000)
        return 150_000 + 50_000 * handle

    def nvmlDeviceGetClockInfo(self, handle: int, clock: int) -> int:
        assert clock == self.NVML_CLOCK_SM
        self._check("clock")
        return 1800 + 100 * handle

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        self._check("energy")
        if self.power_w is not None:
            return int(1_000_000 + self.power_w * 1000 * (time.monotonic() - self._created))
        self.energy_mj[handle] += self.energy_step_mj
        return self.energy_mj[handle]

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return b"NVIDIA GeForce RTX 4090"

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.14"


def make_card(
    sysfs_root: Path,
    number: int = 0,
    *,
    vendor: str = "0x1002",
    device_id: str = "0x744c",
    vram_used: int = 8_000_000_000,
    vram_total: int = 24_000_000_000,
    gtt_used: int = 1_500_000_000,
    temp_mc: int = 55_000,
    power_uw: int | None = 120_000_000,
    power_file: str = "power1_average",
    busy_pct: int = 75,
) -> Path:
    """Create ``class/drm/card<N>/device`` the way amdgpu lays it out; return the device dir."""
    drm = sysfs_root / "class" / "drm"
    device = drm / f"card{number}" / "device"
    hwmon = device / "hwmon" / f"hwmon{number + 3}"
    hwmon.mkdir(parents=True)
    # A connector directory, which must not be mistaken for a card.
    (drm / f"card{number}-DP-1").mkdir()
    files = {
        device / "vendor": vendor,
        device / "device": device_id,
        device / "mem_info_vram_used": str(vram_used),
        device / "mem_info_vram_total": str(vram_total),
        device / "mem_info_gtt_used": str(gtt_used),
        device / "gpu_busy_percent": str(busy_pct),
        hwmon / "temp1_input": str(temp_mc),
    }
    if power_uw is not None:
        files[hwmon / power_file] = str(power_uw)
    for path, text in files.items():
        path.write_text(text + "\n")
    return device


@pytest.fixture(autouse=True)
def _fresh_notices() -> Iterator[None]:
    reset_notices()
    yield
    reset_notices()


@pytest.fixture
def fake_nvml() -> Callable[..., FakeNvml]:
    return FakeNvml


@pytest.fixture
def card_factory() -> Callable[..., Path]:
    return make_card


@pytest.fixture
def notices(caplog: pytest.LogCaptureFixture) -> Callable[[str], list[str]]:
    """Messages logged by the sampling package that contain a word."""
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)

    def matching(word: str) -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.name == LOGGER_NAME and word in r.getMessage()
        ]

    return matching


@pytest.fixture
def no_nvml() -> Any:
    """An NVML stand-in whose init fails, so tests do not depend on this machine's GPUs."""
    return FakeNvml(fail_init=True)
