"""Turn raw hardware readings into the per-item ``hardware`` dict.

Pure functions, no I/O: the sampler thread collects ``Tick`` records and
``build_hardware`` reduces them once the item is over.

Multi-GPU rule (one value per signal per tick, before min/max/avg):

* summed over GPUs: ``vram_gb``, ``gtt_gb``, ``gpu_power_w`` -- the memory a
  split model occupies and the power the whole box draws are totals;
* maximum over GPUs: ``gpu_temp_c``, ``gpu_util_pct``, ``gpu_sm_clock_mhz`` --
  the hottest / busiest / fastest card is what limits or explains a run.

Per-GPU values stay available in ``samples`` when the sampler stores them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any, Literal, NamedTuple

SIGNALS: tuple[str, ...] = (
    "vram_gb",
    "gtt_gb",
    "gpu_temp_c",
    "gpu_power_w",
    "gpu_util_pct",
    "gpu_sm_clock_mhz",
    "cpu_pct",
    "ram_gb",
    "server_cpu_pct",
    "server_rss_gb",
)
SUMMED_SIGNALS: frozenset[str] = frozenset({"vram_gb", "gtt_gb", "gpu_power_w"})

EnergySource = Literal["nvml_counter", "power_integral"]

# Sensors are far coarser than a float's digits; rounding keeps reports readable.
_DIGITS = 3


class Reading(NamedTuple):
    """One value of one signal; ``gpu_index`` is None for host-wide signals."""

    signal: str
    value: float
    gpu_index: int | None = None


class Tick(NamedTuple):
    """All readings taken at one instant (``t_ns`` on the monotonic clock)."""

    t_ns: int
    readings: Sequence[Reading]


Stats = dict[str, float | None]


def combine(readings: Iterable[Reading]) -> dict[str, float]:
    """One value per signal for a tick, applying the multi-GPU rule."""
    out: dict[str, float] = {}
    for reading in readings:
        previous = out.get(reading.signal)
        if previous is None:
            out[reading.signal] = reading.value
        elif reading.signal in SUMMED_SIGNALS:
            out[reading.signal] = previous + reading.value
        else:
            out[reading.signal] = max(previous, reading.value)
    return out


def stats(values: Sequence[float]) -> Stats:
    """``{"min","max","avg"}``; all None for a signal that was never read."""
    if not values:
        return {"min": None, "max": None, "avg": None}
    return {
        "min": round(min(values), _DIGITS),
        "max": round(max(values), _DIGITS),
        "avg": round(sum(values) / len(values), _DIGITS),
    }


def power_integral_j(points: Sequence[tuple[float, float]]) -> float | None:
    """Trapezoid integral of ``(t_s, watts)`` points; None with fewer than two."""
    if len(points) < 2:
        return None
    total = 0.0
    for (t0, p0), (t1, p1) in pairwise(points):
        total += (t1 - t0) * (p0 + p1) / 2.0
    return total


def joules_per_token(energy_j: float | None, tokens: int | float | None) -> float | None:
    """Energy per generated token; None when either figure is missing or tokens is 0."""
    if energy_j is None or tokens is None or tokens == 0:
        return None
    return energy_j / tokens


def choose_energy(
    counter_j: float | None, power_points: Sequence[tuple[float, float]]
) -> tuple[float | None, EnergySource | None]:
    """Prefer the hardware counter (exact); fall back to integrating sampled power."""
    if counter_j is not None:
        return round(counter_j, _DIGITS), "nvml_counter"
    integral = power_integral_j(power_points)
    if integral is None:
        return None, None
    return round(integral, _DIGITS), "power_integral"


def empty_hardware(interval_s: float) -> dict[str, Any]:
    """The hardware dict of an item that was never sampled: every key, null values."""
    return build_hardware([], start_ns=0, end_ns=0, interval_s=interval_s)


def build_hardware(
    ticks: Sequence[Tick],
    *,
    start_ns: int,
    end_ns: int,
    interval_s: float,
    counter_energy_j: float | None = None,
    store_samples: bool = False,
) -> dict[str, Any]:
    """Reduce ticks to the per-item ``hardware`` dict (see module docstring)."""
    series: dict[str, list[float]] = {signal: [] for signal in SIGNALS}
    power_points: list[tuple[float, float]] = []
    for tick in ticks:
        t_s = (tick.t_ns - start_ns) / 1e9
        for signal, value in combine(tick.readings).items():
            series.setdefault(signal, []).append(value)
            if signal == "gpu_power_w":
                power_points.append((t_s, value))
    hardware: dict[str, Any] = {signal: stats(series[signal]) for signal in SIGNALS}
    energy_j, source = choose_energy(counter_energy_j, power_points)
    hardware["energy_j"] = energy_j
    hardware["energy_source"] = source
    hardware["n_samples"] = len(ticks)
    hardware["interval_s"] = interval_s
    hardware["duration_s"] = round(max(end_ns - start_ns, 0) / 1e9, 4)
    if store_samples:
        hardware["samples"] = samples_list(ticks, start_ns)
    return hardware


def samples_list(ticks: Sequence[Tick], start_ns: int) -> list[dict[str, Any]]:
    """Every raw reading (per GPU) as ``{"t_s","signal","value","gpu_index"}``."""
    return [
        {
            "t_s": round((tick.t_ns - start_ns) / 1e9, 4),
            "signal": reading.signal,
            "value": round(reading.value, _DIGITS),
            "gpu_index": reading.gpu_index,
        }
        for tick in ticks
        for reading in tick.readings
    ]


def signal_max(hardware: Mapping[str, Any], signal: str) -> float | None:
    """The ``max`` of a signal in a hardware dict, tolerating missing or null entries."""
    entry = hardware.get(signal)
    if not isinstance(entry, Mapping):
        return None
    value = entry.get("max")
    return float(value) if isinstance(value, int | float) else None
