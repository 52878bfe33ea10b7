"""NVIDIA GPU signals through NVML (the ``pynvml`` module of nvidia-ml-py).

``pynvml`` is imported lazily and any module-like object with the same
functions can be injected (tests use a stand-in). NVML is initialised once
per process and module object; it is never shut down because other parts of
the session may still use it and the driver cleans up at exit.

Per GPU: ``vram_gb`` (memory used), ``gpu_util_pct``, ``gpu_temp_c``,
``gpu_power_w`` (from mW), ``gpu_sm_clock_mhz``; plus the energy counter
``nvmlDeviceGetTotalEnergyConsumption`` (mJ) read at ``begin`` and ``end`` (and
at the edges of the measured window).
A signal a GPU does not support (NVMLError_NotSupported on older or consumer
boards) is dropped for that GPU with one notice; the rest keep working.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from pytest_lmbench.sampling.aggregate import Reading
from pytest_lmbench.sampling.notices import notice_once

_GB = 1e9
_state_lock = threading.Lock()
# id(module) -> (module, initialised?). The module is kept so its id stays unique.
_init_state: dict[int, tuple[Any, bool]] = {}


def load_nvml(nvml: Any | None = None) -> Any | None:
    """An initialised NVML module, or None (with one notice) when NVML is absent."""
    if nvml is None:
        try:
            import pynvml
        except ImportError:
            notice_once("nvml", "pynvml not importable: no NVIDIA GPU signals")
            return None
        nvml = pynvml
    with _state_lock:
        cached = _init_state.get(id(nvml))
        if cached is None:
            cached = (nvml, _try_init(nvml))
            _init_state[id(nvml)] = cached
    return nvml if cached[1] else None


def _try_init(nvml: Any) -> bool:
    try:
        nvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        notice_once("nvml", f"NVML unavailable ({_describe(exc)}): no NVIDIA GPU signals")
        return False
    return True


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def device_handles(nvml: Any) -> list[Any]:
    """Handles of all GPUs NVML sees (empty list on any error)."""
    try:
        count = int(nvml.nvmlDeviceGetCount())
        return [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
    except Exception as exc:
        notice_once("nvml:devices", f"NVML device enumeration failed ({_describe(exc)})")
        return []


def decode(value: Any) -> str:
    """NVML strings are bytes in older pynvml releases, str in newer ones."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def gpu_temperatures(nvml: Any | None = None) -> list[float]:
    """Current core temperature of every NVIDIA GPU that reports one."""
    module = load_nvml(nvml)
    if module is None:
        return []
    temps: list[float] = []
    for handle in device_handles(module):
        # A GPU without a readable sensor simply does not count towards the max.
        with contextlib.suppress(Exception):
            temps.append(float(module.nvmlDeviceGetTemperature(handle, _temp_sensor(module))))
    return temps


def _temp_sensor(nvml: Any) -> int:
    return int(getattr(nvml, "NVML_TEMPERATURE_GPU", 0))


def _probes(nvml: Any, handle: Any) -> dict[str, Callable[[], float]]:
    """Signal name -> zero-argument reader for one GPU."""
    sm_clock = int(getattr(nvml, "NVML_CLOCK_SM", 1))
    sensor = _temp_sensor(nvml)
    return {
        "vram_gb": lambda: nvml.nvmlDeviceGetMemoryInfo(handle).used / _GB,
        "gpu_util_pct": lambda: float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
        "gpu_temp_c": lambda: float(nvml.nvmlDeviceGetTemperature(handle, sensor)),
        "gpu_power_w": lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0,
        "gpu_sm_clock_mhz": lambda: float(nvml.nvmlDeviceGetClockInfo(handle, sm_clock)),
    }


class NvidiaSampler:
    """NVML source; build it with ``open_nvidia`` so absence is handled."""

    name = "nvidia"
    measures_gpu_power = True

    def __init__(self, nvml: Any, handles: list[Any], index_offset: int = 0) -> None:
        self._nvml = nvml
        self._handles = handles
        self._offset = index_offset
        self._probes = [_probes(nvml, handle) for handle in handles]
        self._energy_supported = True
        self._energy_start: list[float] = []
        self._energy_j: float | None = None

    @property
    def gpu_count(self) -> int:
        return len(self._handles)

    def begin(self) -> None:
        self._energy_j = None
        self._energy_start = self._read_energy_mj() or []

    def read(self) -> list[Reading]:
        readings: list[Reading] = []
        for local_index, probes in enumerate(self._probes):
            index = local_index + self._offset
            for signal in list(probes):
                try:
                    readings.append(Reading(signal, probes[signal](), index))
                except Exception as exc:
                    del probes[signal]
                    notice_once(
                        f"nvml:{signal}:{index}",
                        f"GPU {index} does not report {signal} ({_describe(exc)}); dropped",
                    )
        return readings

    def end(self) -> None:
        stop = self._read_energy_mj()
        if stop is None or len(stop) != len(self._energy_start):
            self._energy_j = None
            return
        self._energy_j = sum(b - a for a, b in zip(self._energy_start, stop, strict=True)) / 1e3

    def counter_energy_j(self) -> float | None:
        return self._energy_j

    def counter_now_j(self) -> float | None:
        now = self._read_energy_mj()
        return sum(now) / 1e3 if now is not None else None

    def _read_energy_mj(self) -> list[float] | None:
        """Energy counters of all GPUs, or None once any GPU lacks one (pre-Volta)."""
        if not self._energy_supported:
            return None
        try:
            return [
                float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
                for handle in self._handles
            ]
        except Exception as exc:
            self._energy_supported = False
            notice_once(
                "nvml:energy",
                f"NVML energy counter unavailable ({_describe(exc)}); "
                "energy_j falls back to integrating gpu_power_w",
            )
            return None


def open_nvidia(nvml: Any | None = None, *, index_offset: int = 0) -> NvidiaSampler | None:
    """An NVML source over every GPU, or None (one notice) without NVML or GPUs."""
    module = load_nvml(nvml)
    if module is None:
        return None
    handles = device_handles(module)
    if not handles:
        notice_once("nvml", "NVML reports no GPU: no NVIDIA GPU signals")
        return None
    return NvidiaSampler(module, handles, index_offset)
