"""Thermal hygiene: wait for the GPU to cool before an item, flag limit breaches.

A GPU that is still hot from the previous model throttles sooner, which
biases throughput; ``wait_for_cooldown`` polls until it is back under a
target. ``check_limits`` turns an item's ``hardware`` dict into a one-line
failure message when its peak temperature or power went over a user limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pytest_lmbench.sampling.aggregate import signal_max
from pytest_lmbench.sampling.amd import gpu_temperatures as amd_temperatures
from pytest_lmbench.sampling.nvidia import gpu_temperatures as nvidia_temperatures


def current_gpu_temp(nvml: Any | None = None, sysfs_root: Path = Path("/sys")) -> float | None:
    """Hottest GPU right now (NVIDIA and AMD), or None when no GPU reports one."""
    try:
        temps = nvidia_temperatures(nvml) + amd_temperatures(sysfs_root)
    except Exception:  # a thermal probe must never break the session
        return None
    return max(temps) if temps else None


def wait_for_cooldown(
    read_temp: Callable[[], float | None],
    target_c: float,
    timeout_s: float = 300,
    poll_s: float = 1.0,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[bool, float | None, float]:
    """Poll ``read_temp`` until it is at or below ``target_c``.

    Returns ``(reached, last_temp, waited_s)``. When the temperature cannot
    be read it returns at once with ``(False, None, waited_s)``: there is
    nothing to wait for, and a None temperature tells the caller why.
    """
    started = clock()
    while True:
        temp = _safe_read(read_temp)
        waited = clock() - started
        if temp is None:
            return False, None, waited
        if temp <= target_c:
            return True, temp, waited
        if waited >= timeout_s:
            return False, temp, waited
        sleep(max(0.0, min(poll_s, timeout_s - waited)))


def _safe_read(read_temp: Callable[[], float | None]) -> float | None:
    try:
        value = read_temp()
    except Exception:
        return None
    return float(value) if value is not None else None


def check_limits(
    hardware: Mapping[str, Any], max_temp_c: float | None, max_power_w: float | None
) -> str | None:
    """One-line message naming the figure and the limit it broke, else None.

    Compares the item's peak (``max``) GPU temperature and GPU power (summed
    over GPUs) with ``--lm-max-temp`` / ``--lm-max-power``; a limit of None or
    a signal that was never read is not checked.
    """
    problems: list[str] = []
    temp = signal_max(hardware, "gpu_temp_c")
    if max_temp_c is not None and temp is not None and temp > max_temp_c:
        problems.append(
            f"GPU temperature reached {temp:.1f} °C, above --lm-max-temp {max_temp_c:g}"
        )
    power = signal_max(hardware, "gpu_power_w")
    if max_power_w is not None and power is not None and power > max_power_w:
        problems.append(f"GPU power reached {power:.1f} W, above --lm-max-power {max_power_w:g}")
    return "; ".join(problems) if problems else None
