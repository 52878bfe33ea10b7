"""Hardware over a run's time (``--lm-store-samples``): one line chart per signal.

Each item's raw readings are timed from its own start; the item started
``duration_s`` before it finished, so its readings are placed on the run's
clock from there. Item boundaries are marked, so a hot GPU can be traced to
the item that heated it. Without stored readings there is no chart.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pytest_lmbench.records import Report, ResultEntry
from pytest_lmbench.reporting import charts

__all__ = ["CHARTED", "Timeline", "hardware_charts", "run_timeline"]

# (signal, title, unit): what the charts show, in this order.
CHARTED = (
    ("gpu_power_w", "GPU power", "W"),
    ("gpu_temp_c", "GPU temperature", "°C"),
    ("vram_gb", "VRAM used", "GB"),
    ("cpu_pct", "CPU", "%"),
    ("ram_gb", "RAM used", "GB"),
)
MAX_POINTS = 600  # per line; more would not be visible and would weigh the page down
MAX_MARKS = 60  # item boundaries drawn; a long run marks every n-th


@dataclass
class Timeline:
    # signal -> line label ("GPU 0", or the signal's own name) -> (seconds into the run, value)
    lines: dict[str, dict[str, list[tuple[float, float]]]] = field(default_factory=dict)
    marks: list[tuple[float, str]] = field(default_factory=list)  # item starts


def _time(text: str | None) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except ValueError:
        return None


def _item_start(result: ResultEntry, run_start: float, previous_end: float) -> float:
    finished = _time(result.finished_at)
    if finished is None or result.duration_s is None:
        return previous_end  # unknown: right after the item before it
    return max(finished - result.duration_s - run_start, 0.0)


def run_timeline(report: Report) -> Timeline:
    timeline = Timeline()
    run_start = _time(report.run.started_at) or 0.0
    cursor = 0.0
    wanted = {signal for signal, _title, _unit in CHARTED}
    for result in report.results:
        readings = result.hardware.get("samples") or []
        if not readings:
            continue
        start = _item_start(result, run_start, cursor)
        timeline.marks.append((start, f"{result.capability}/{result.case_id}"))
        for reading in readings:
            if reading["signal"] not in wanted:
                continue
            gpu = reading.get("gpu_index")
            label = f"GPU {gpu}" if gpu is not None else reading["signal"]
            point = (start + reading["t_s"], reading["value"])
            timeline.lines.setdefault(reading["signal"], defaultdict(list))[label].append(point)
            cursor = max(cursor, point[0])
    return timeline


def _thin(points: Sequence[tuple[float, float]]) -> Sequence[tuple[float, float]]:
    step = max(1, len(points) // MAX_POINTS)
    return points[::step]


def hardware_charts(report: Report, *, width: float = charts.WIDE_WIDTH) -> list[str]:
    """One SVG per charted signal that has readings; empty without stored readings."""
    timeline = run_timeline(report)
    step = max(1, len(timeline.marks) // MAX_MARKS)
    marks = timeline.marks[::step]
    out = []
    for signal, title, unit in CHARTED:
        lines = timeline.lines.get(signal)
        if not lines:
            continue
        series = [
            charts.TimeSeries(label, _thin(sorted(points)), charts.color_for(i))
            for i, (label, points) in enumerate(sorted(lines.items()))
        ]
        out.append(
            charts.time_lines(series, marks, title=f"{title} over the run", unit=unit, width=width)
        )
    return out
