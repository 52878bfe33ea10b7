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
from typing import Any, Literal, NamedTuple, cast

from pytest_lmbench.records import Hardware, HardwareReading, SignalStats

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
    "other_cpu_pct",
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


class Mark(NamedTuple):
    """One edge of the measured window: when, and the energy counters' total then (J).

    ``counter_j`` is None unless every GPU source has an energy counter.
    """

    t_ns: int
    counter_j: float | None


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


def stats(values: Sequence[float]) -> SignalStats:
    """``{"min","max","avg"}``; all None for a signal that was never read."""
    if not values:
        return {"min": None, "max": None, "avg": None}
    return {
        "min": round(min(values), _DIGITS),
        "max": round(max(values), _DIGITS),
        "avg": round(sum(values) / len(values), _DIGITS),
    }


def power_integral_j(
    points: Sequence[tuple[float, float]],
    start_s: float | None = None,
    end_s: float | None = None,
) -> float | None:
    """Trapezoid integral of ``(t_s, watts)`` points; None with fewer than two.

    ``start_s``/``end_s`` clip it to a window: power at an edge is interpolated
    linearly between the neighbouring readings (held flat outside them).
    """
    if len(points) < 2:
        return None
    if start_s is not None and end_s is not None:
        inside = [(t, p) for t, p in points if start_s < t < end_s]
        first, last = (start_s, _power_at(points, start_s)), (end_s, _power_at(points, end_s))
        points = [first, *inside, last]
    total = 0.0
    for (t0, p0), (t1, p1) in pairwise(points):
        total += (t1 - t0) * (p0 + p1) / 2.0
    return total


def _power_at(points: Sequence[tuple[float, float]], t_s: float) -> float:
    """Linear interpolation of sampled power at ``t_s`` (points sorted by time)."""
    if t_s <= points[0][0]:
        return points[0][1]
    for (t0, p0), (t1, p1) in pairwise(points):
        if t0 <= t_s <= t1:
            return p0 if t1 == t0 else p0 + (p1 - p0) * (t_s - t0) / (t1 - t0)
    return points[-1][1]


def joules_per_token(energy_j: float | None, tokens: int | float | None) -> float | None:
    """Energy per generated token; None when either figure is missing or tokens is 0."""
    if energy_j is None or tokens is None or tokens == 0:
        return None
    return energy_j / tokens


def choose_energy(
    counter_j: float | None,
    power_points: Sequence[tuple[float, float]],
    start_s: float | None = None,
    end_s: float | None = None,
) -> tuple[float | None, EnergySource | None]:
    """Prefer the hardware counter (exact); fall back to integrating sampled power
    (over ``start_s``..``end_s`` when given, see ``power_integral_j``)."""
    if counter_j is not None:
        return round(counter_j, _DIGITS), "nvml_counter"
    integral = power_integral_j(power_points, start_s, end_s)
    if integral is None:
        return None, None
    return round(integral, _DIGITS), "power_integral"


def empty_hardware(interval_s: float) -> Hardware:
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
    measured: tuple[Mark, Mark] | None = None,
) -> Hardware:
    """Reduce ticks to the per-item ``hardware`` dict (see module docstring).

    ``energy_j`` and ``duration_s`` cover the whole sampled item; ``measured``
    (the edges of the measured rounds, when marked) gives ``measured_energy_j``
    and ``measured_duration_s`` over that window only.
    """
    series: dict[str, list[float]] = {signal: [] for signal in SIGNALS}
    power_points: list[tuple[float, float]] = []
    for tick in ticks:
        t_s = (tick.t_ns - start_ns) / 1e9
        for signal, value in combine(tick.readings).items():
            series.setdefault(signal, []).append(value)
            if signal == "gpu_power_w":
                power_points.append((t_s, value))
    hardware = cast(Hardware, {signal: stats(series[signal]) for signal in SIGNALS})
    energy_j, source = choose_energy(counter_energy_j, power_points)
    hardware["energy_j"] = energy_j
    hardware["energy_source"] = source
    hardware["n_samples"] = len(ticks)
    hardware["interval_s"] = interval_s
    hardware["duration_s"] = round(max(end_ns - start_ns, 0) / 1e9, 4)
    hardware.update(measured_energy(measured, start_ns, power_points))
    hardware["measured_other_cpu_pct"] = window_mean(ticks, "other_cpu_pct", measured)
    if store_samples:
        hardware["samples"] = samples_list(ticks, start_ns)
    return hardware


def window_mean(
    ticks: Sequence[Tick], signal: str, measured: tuple[Mark, Mark] | None
) -> float | None:
    """Mean of ``signal`` over the measured rounds (the whole item when not marked)."""
    begin, end = (measured[0].t_ns, measured[1].t_ns) if measured else (None, None)
    values = [
        reading.value
        for tick in ticks
        if begin is None or end is None or begin <= tick.t_ns <= end
        for reading in tick.readings
        if reading.signal == signal
    ]
    return round(sum(values) / len(values), _DIGITS) if values else None


def measured_energy(
    measured: tuple[Mark, Mark] | None,
    start_ns: int,
    power_points: Sequence[tuple[float, float]],
) -> Hardware:
    """Energy between two marks: counter difference, else the clipped power integral."""
    if measured is None:
        return {
            "measured_energy_j": None,
            "measured_energy_source": None,
            "measured_duration_s": None,
        }
    begin, end = measured
    counter_j: float | None = None
    if begin.counter_j is not None and end.counter_j is not None:
        counter_j = end.counter_j - begin.counter_j
    start_s, end_s = (begin.t_ns - start_ns) / 1e9, (end.t_ns - start_ns) / 1e9
    energy_j, source = choose_energy(counter_j, power_points, start_s, end_s)
    return {
        "measured_energy_j": energy_j,
        "measured_energy_source": source,
        "measured_duration_s": round(max(end.t_ns - begin.t_ns, 0) / 1e9, 4),
    }


def samples_list(ticks: Sequence[Tick], start_ns: int) -> list[HardwareReading]:
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
