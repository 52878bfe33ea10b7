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

# The chart module's drawing pieces (package-internal), so every chart looks alike.
from pytest_lmbench.reporting.charts import (
    _MUTED,
    WIDE_WIDTH,
    _axis_title,
    _f,
    _legend,
    _svg,
    _t,
    _x_axis,
    _y_axis,
    empty_chart,
    nice_ticks,
)

__all__ = ["CHARTED", "TimeSeries", "Timeline", "hardware_charts", "run_timeline", "time_lines"]

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


@dataclass(frozen=True)
class TimeSeries:
    label: str
    points: Sequence[tuple[float, float]]  # (seconds, value), in time order
    color: str = charts.PALETTE[0]


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
            TimeSeries(label, _thin(sorted(points)), charts.color_for(i))
            for i, (label, points) in enumerate(sorted(lines.items()))
        ]
        out.append(time_lines(series, marks, title=f"{title} over the run", unit=unit, width=width))
    return out


def time_lines(
    series: Sequence[TimeSeries],
    marks: Sequence[tuple[float, str]],
    *,
    title: str,
    unit: str,
    width: float = WIDE_WIDTH,
) -> str:
    """Lines over seconds of a run; ``marks`` (item starts) as dashed verticals."""
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    if len(xs) < 2:
        return empty_chart(title, "fewer than two readings")
    legend, top = _legend([(s.label, s.color) for s in series], width, 38.0)
    left, right, plot_h = 52.0, 24.0, 170.0
    x1, y0 = width - right, top + 8
    y1 = y0 + plot_h
    x_ticks = nice_ticks(0.0, max(xs) or 1.0)
    y_ticks = nice_ticks(min(0.0, min(ys)), max(ys) or 1.0)

    def at(x: float, y: float) -> tuple[float, float]:
        fx = (x - x_ticks[0]) / (x_ticks[-1] - x_ticks[0])
        fy = (y - y_ticks[0]) / (y_ticks[-1] - y_ticks[0])
        return left + fx * (x1 - left), y1 - fy * plot_h

    parts = [
        *legend,
        *_y_axis(y_ticks, left, x1, y0, y1),
        *_x_axis(x_ticks, left, x1, y0, y1),
    ]
    for x, label in marks:
        px = at(x, y_ticks[0])[0]
        parts.append(
            f'<line x1="{_f(px)}" y1="{_f(y0)}" x2="{_f(px)}" y2="{_f(y1)}" '
            f'stroke="{_MUTED}" stroke-dasharray="2 3">'
            f"<title>{_t(label)} starts at {x:.1f} s</title></line>"
        )
    for s in series:
        path = "".join(
            f"{'M' if i == 0 else 'L'}{_f(px)} {_f(py)}"
            for i, (px, py) in enumerate(at(x, y) for x, y in s.points)
        )
        hover = f"<title>{_t(s.label)}: {len(s.points)} readings</title>"
        parts.append(
            f'<path d="{path}" fill="none" stroke="{s.color}" stroke-width="1.5">{hover}</path>'
        )
    axis = f"{unit}; seconds into the run, dashed: item starts"
    parts.append(_axis_title(axis, left, x1, y1 + 34))
    return _svg(width, y1 + 42, title, parts)
