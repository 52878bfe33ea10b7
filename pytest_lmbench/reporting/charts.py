"""Inline SVG charts as plain strings, so a report needs no JavaScript and no network.

Every function is pure: data in, one ``<svg>`` element out. Labels come from model
keys and suite files, which are untrusted, so every piece of text goes through
:func:`markupsafe.escape`; numbers are formatted by us. No ``xmlns`` is written:
inline SVG in HTML does not need it, and the report must not contain any URL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import escape

from pytest_lmbench.reporting.summary import format_number, percentile

# Tableau 10: distinct, print-friendly, readable for most colour-vision deficiencies.
PALETTE: tuple[str, ...] = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
WIDTH = 720
_FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'
_AXIS = "#8a8f98"
_GRID = "#e6e8eb"
_INK = "#1f2328"
_MUTED = "#59636e"
_MAX_POINTS = 120  # per strip row; the box still uses every sample
_CHAR_W = 6.7  # average glyph width at 12px, to size label margins without a font engine
HALF_WIDTH = 550
WIDE_WIDTH = 1140


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    color: str = PALETTE[0]


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]
    color: str = PALETTE[0]


@dataclass(frozen=True)
class StripRow:
    label: str
    values: Sequence[float] = field(default_factory=tuple)
    color: str = PALETTE[0]


def color_for(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _t(text: object) -> str:
    return str(escape(str(text)))


def _f(number: float) -> str:
    return f"{number:.1f}"


def _clip(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _svg(width: float, height: float, title: str, body: Sequence[str]) -> str:
    head = (
        f'<svg class="chart" viewBox="0 0 {_f(width)} {_f(height)}" width="{_f(width)}" '
        f'height="{_f(height)}" role="img" aria-label="{_t(title)}" {_FONT} font-size="12">'
        f"<title>{_t(title)}</title>"
        f'<text x="0" y="16" font-size="14" font-weight="600" fill="{_INK}">{_t(title)}</text>'
    )
    return head + "".join(body) + "</svg>"


def empty_chart(title: str, message: str, *, width: float = WIDTH) -> str:
    """A titled placeholder, so a missing chart explains itself."""
    text = (
        f'<text x="{_f(width / 2)}" y="62" text-anchor="middle" fill="{_MUTED}">'
        f"{_t(message)}</text>"
    )
    return _svg(width, 96, title, [text])


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]; the last tick is the axis end."""
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = [start]
    while ticks[-1] < high - step * 1e-9:
        ticks.append(start + step * len(ticks))
    return ticks


def _tick_label(value: float) -> str:
    return f"{round(value, 9):g}"


def _x_axis(ticks: Sequence[float], x0: float, x1: float, y0: float, y1: float) -> list[str]:
    """Vertical grid lines with labels under the plot area."""
    span = ticks[-1] - ticks[0]
    parts = []
    for tick in ticks:
        x = x0 + (tick - ticks[0]) / span * (x1 - x0)
        parts.append(
            f'<line x1="{_f(x)}" y1="{_f(y0)}" x2="{_f(x)}" y2="{_f(y1)}" stroke="{_GRID}"/>'
            f'<text x="{_f(x)}" y="{_f(y1 + 16)}" text-anchor="middle" fill="{_MUTED}">'
            f"{_tick_label(tick)}</text>"
        )
    return parts


def _y_axis(ticks: Sequence[float], x0: float, x1: float, y0: float, y1: float) -> list[str]:
    """Horizontal grid lines with labels left of the plot area (y0 is the top)."""
    span = ticks[-1] - ticks[0]
    parts = []
    for tick in ticks:
        y = y1 - (tick - ticks[0]) / span * (y1 - y0)
        parts.append(
            f'<line x1="{_f(x0)}" y1="{_f(y)}" x2="{_f(x1)}" y2="{_f(y)}" stroke="{_GRID}"/>'
            f'<text x="{_f(x0 - 6)}" y="{_f(y + 4)}" text-anchor="end" fill="{_MUTED}">'
            f"{_tick_label(tick)}</text>"
        )
    return parts


def _legend(
    entries: Sequence[tuple[str, str]], width: float, top: float
) -> tuple[list[str], float]:
    """Swatches wrapped onto as many lines as needed; returns parts and the next free y."""
    parts: list[str] = []
    x, y = 0.0, top
    for label, color in entries:
        text = _clip(label, 32)
        item_width = 22 + len(text) * 6.8 + 14
        if x > 0 and x + item_width > width:
            x, y = 0.0, y + 18
        parts.append(
            f'<rect x="{_f(x)}" y="{_f(y - 9)}" width="12" height="12" rx="2" fill="{color}"/>'
            f'<text x="{_f(x + 17)}" y="{_f(y + 1)}" fill="{_INK}">{_t(text)}</text>'
        )
        x += item_width
    return parts, y + 16


def _label_margin(labels: Sequence[str], width: float) -> tuple[float, int]:
    """Left margin fitting the longest row label, capped at 40% of the chart."""
    longest = max((len(label) for label in labels), default=1)
    chars = max(4, min(longest, int(width * 0.4 / _CHAR_W)))
    return 14 + chars * _CHAR_W, chars


def _row_label(label: str, chars: int, left: float, mid: float) -> str:
    return (
        f'<text x="{_f(left - 8)}" y="{_f(mid + 4)}" text-anchor="end" fill="{_INK}">'
        f"{_t(_clip(label, chars))}</text>"
    )


def _axis_title(text: str, x0: float, x1: float, y: float) -> str:
    return (
        f'<text x="{_f((x0 + x1) / 2)}" y="{_f(y)}" text-anchor="middle" fill="{_MUTED}">'
        f"{_t(text)}</text>"
    )


def interval_bars(bars: Sequence[Bar], *, title: str, unit: str, width: float = WIDTH) -> str:
    """Horizontal bars with 95%-interval whiskers, one row per label."""
    if not any(b.value is not None for b in bars):
        return empty_chart(title, "no data")
    left, chars = _label_margin([b.label for b in bars], width)
    right, top, row = 64.0, 34.0, 30.0
    x1 = width - right
    y_end = top + row * len(bars)
    height = y_end + 42
    highest = max((v for b in bars for v in (b.value, b.high) if v is not None), default=0.0)
    ticks = nice_ticks(0.0, highest or 1.0)
    scale = (x1 - left) / (ticks[-1] - ticks[0])
    parts = [*_x_axis(ticks, left, x1, top, y_end), _axis_title(unit, left, x1, y_end + 34)]
    for i, bar in enumerate(bars):
        parts.append(_interval_row(bar, (left, top + i * row, row), chars, scale))
    return _svg(width, height, title, parts)


def _interval_row(bar: Bar, box: tuple[float, float, float], chars: int, scale: float) -> str:
    """One bar; ``box`` is the row's left edge of the plot, top and height."""
    left, y, row = box
    mid = y + row / 2
    tip = f"{bar.label}: {format_number(bar.value)}"
    if bar.low is not None and bar.high is not None:
        tip += f" (95% CI {format_number(bar.low)}–{format_number(bar.high)})"
    parts = [
        f"<g><title>{_t(tip)}</title>",
        _row_label(bar.label, chars, left, mid),
    ]
    if bar.value is None:
        parts.append(f'<text x="{_f(left + 4)}" y="{_f(mid + 4)}" fill="{_MUTED}">—</text></g>')
        return "".join(parts)
    end = left + bar.value * scale
    parts.append(
        f'<rect x="{_f(left)}" y="{_f(y + 7)}" width="{_f(max(end - left, 1.0))}" '
        f'height="{_f(row - 14)}" rx="3" fill="{bar.color}"/>'
    )
    if bar.low is not None and bar.high is not None:
        lo, hi = left + bar.low * scale, left + bar.high * scale
        parts.append(
            f'<path d="M{_f(lo)} {_f(mid)}H{_f(hi)}M{_f(lo)} {_f(mid - 6)}V{_f(mid + 6)}'
            f'M{_f(hi)} {_f(mid - 6)}V{_f(mid + 6)}" stroke="{_INK}" stroke-width="1.5" '
            'fill="none"/>'
        )
        end = max(end, hi)
    parts.append(
        f'<text x="{_f(end + 6)}" y="{_f(mid + 4)}" fill="{_INK}">'
        f"{format_number(bar.value)}</text></g>"
    )
    return "".join(parts)


def grouped_bars(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    y_max: float = 1.0,
    width: float = WIDTH,
) -> str:
    """Vertical bars per category, one bar per series (e.g. quality per capability)."""
    if not categories or not any(v is not None for s in series for v in s.values):
        return empty_chart(title, "no data")
    legend, top = _legend([(s.label, s.color) for s in series], width, 38.0)
    left, plot_h = 40.0, 180.0
    # Groups share the width; the chart only grows (and scrolls) past ~6px per bar.
    group_w = max((width - left - 10) / len(categories), (len(series) + 1) * 6.0)
    bar_w = min(36.0, group_w * 0.75 / len(series))
    width = max(width, left + group_w * len(categories) + 10)
    y1 = top + 8 + plot_h
    ticks = nice_ticks(0.0, y_max)
    parts = [*legend, *_y_axis(ticks, left, width - 4, top + 8, y1)]
    chars = max(4, int(group_w / _CHAR_W))
    for ci, category in enumerate(categories):
        center = left + (ci + 0.5) * group_w
        x = center - bar_w * len(series) / 2
        for si, s in enumerate(series):
            value = s.values[ci] if ci < len(s.values) else None
            parts.append(_column(s, value, x + si * bar_w, bar_w, y1, plot_h / ticks[-1]))
        parts.append(
            f'<text x="{_f(center)}" y="{_f(y1 + 16)}" '
            f'text-anchor="middle" fill="{_INK}">{_t(_clip(category, chars))}</text>'
        )
    return _svg(width, y1 + 26, title, parts)


def _column(s: Series, value: float | None, x: float, w: float, base: float, k: float) -> str:
    tip = f"<title>{_t(s.label)}: {format_number(value)}</title>"
    if value is None:
        at = f'x="{_f(x + w / 2)}" y="{_f(base - 4)}"'
        return f'<text {at} text-anchor="middle" fill="{_MUTED}">—{tip}</text>'
    h = max(value * k, 1.0)
    bar = (
        f'<rect x="{_f(x + 1)}" y="{_f(base - h)}" width="{_f(w - 2)}" height="{_f(h)}" '
        f'rx="2" fill="{s.color}">{tip}</rect>'
    )
    if w < 26:  # too narrow for a readable value label; the tooltip has it
        return bar
    label = (
        f'<text x="{_f(x + w / 2)}" y="{_f(base - h - 4)}" text-anchor="middle" '
        f'font-size="11" fill="{_MUTED}">{format_number(value, 2)}</text>'
    )
    return bar + label


def strip_plot(
    rows: Sequence[StripRow],
    *,
    title: str,
    unit: str,
    scale: float = 1.0,
    width: float = WIDTH,
) -> str:
    """Per-row distribution: every sample as a dot over an interquartile box."""
    rows = [r for r in rows if r.values]
    if not rows:
        return empty_chart(title, "no per-request samples")
    left, chars = _label_margin([r.label for r in rows], width)
    right, top, row = 24.0, 34.0, 28.0
    x1 = width - right
    y_end = top + row * len(rows)
    scaled = [sorted(v * scale for v in r.values) for r in rows]
    ticks = nice_ticks(0.0, max(values[-1] for values in scaled))
    k = (x1 - left) / (ticks[-1] - ticks[0])
    parts = [*_x_axis(ticks, left, x1, top, y_end), _axis_title(unit, left, x1, y_end + 34)]
    for i, (strip, values) in enumerate(zip(rows, scaled, strict=True)):
        label = _row_label(strip.label, chars, left, top + i * row + row / 2)
        parts.append(_strip_row(label, strip, values, (left, top + i * row, row), k))
    return _svg(width, y_end + 42, title, parts)


def _strip_row(
    label: str, strip: StripRow, values: Sequence[float], box: tuple[float, float, float], k: float
) -> str:
    """One row; ``values`` are sorted and already in display units, ``box`` is x, y, height."""
    left, y, row = box
    color = strip.color
    q1, med, q3 = (percentile(values, q) or 0.0 for q in (25, 50, 75))
    mid = y + row / 2
    tip = (
        f"{strip.label}: n={len(values)}, median {format_number(med)}, "
        f"p25 {format_number(q1)}, p75 {format_number(q3)}, max {format_number(values[-1])}"
    )
    parts = [
        f"<g><title>{_t(tip)}</title>",
        label,
        f'<line x1="{_f(left + values[0] * k)}" y1="{_f(mid)}" x2="{_f(left + values[-1] * k)}" '
        f'y2="{_f(mid)}" stroke="{_AXIS}"/>',
        f'<rect x="{_f(left + q1 * k)}" y="{_f(y + 6)}" width="{_f(max((q3 - q1) * k, 1.0))}" '
        f'height="{_f(row - 12)}" fill="{color}" fill-opacity="0.25" stroke="{color}"/>',
        f'<line x1="{_f(left + med * k)}" y1="{_f(y + 5)}" x2="{_f(left + med * k)}" '
        f'y2="{_f(y + row - 5)}" stroke="{_INK}" stroke-width="2"/>',
    ]
    for j, value in enumerate(_thin(values, _MAX_POINTS)):
        jitter = ((j * 0.618034) % 1.0 - 0.5) * (row - 14)
        parts.append(
            f'<circle cx="{_f(left + value * k)}" cy="{_f(mid + jitter)}" r="2.2" '
            f'fill="{color}" fill-opacity="0.8"/>'
        )
    parts.append("</g>")
    return "".join(parts)


def _thin(sorted_values: Sequence[float], limit: int) -> Sequence[float]:
    """Evenly spaced ranks, min and max included: the shape of a big sample in few dots."""
    n = len(sorted_values)
    if n <= limit:
        return sorted_values
    return [sorted_values[round(i * (n - 1) / (limit - 1))] for i in range(limit)]


def trend_lines(
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    unit: str,
    width: float = WIDTH,
    x_fractions: Sequence[float] | None = None,
    band: Series | None = None,
    marks: Sequence[tuple[int, str]] = (),
) -> str:
    """One line per series over shared x positions (runs); gaps break the line.

    ``x_fractions`` (0 to 1, one per label) places the runs on a time axis; without
    it they are evenly spaced. ``band`` (``values`` as (low, high) pairs flattened:
    low at even, high at odd positions) shades an interval around the first series;
    ``marks`` are (run index, tooltip) pairs drawn as dashed verticals (a change).
    """
    points = sum(1 for s in series for v in s.values if v is not None)
    if len(x_labels) < 2 or points < 2:
        return empty_chart(title, "no history yet")
    legend, top = _legend([(s.label, s.color) for s in series], width, 38.0)
    left, right, plot_h = 52.0, 44.0, 170.0
    x1, y0 = width - right, top + 8
    y1 = y0 + plot_h
    band_values = [v for v in (band.values if band else ()) if v is not None]
    highest = max([v for s in series for v in s.values if v is not None] + band_values)
    ticks = nice_ticks(0.0, highest or 1.0)
    fractions = x_fractions or [i / max(len(x_labels) - 1, 1) for i in range(len(x_labels))]
    xs = [left + f * (x1 - left) for f in fractions]
    parts = [*legend, *_y_axis(ticks, left, x1, y0, y1)]
    every = max(1, math.ceil(len(x_labels) / 8))
    for i, label in enumerate(x_labels):
        if i % every == 0 or i == len(x_labels) - 1:
            parts.append(
                f'<text x="{_f(xs[i])}" y="{_f(y1 + 16)}" text-anchor="middle" '
                f'fill="{_MUTED}">{_t(_clip(label, 14))}</text>'
            )
    k = plot_h / ticks[-1]
    if band is not None:
        parts.append(_band(band, xs, y1, k))
    for i, tooltip in marks:
        parts.append(
            f'<line x1="{_f(xs[i])}" y1="{_f(y0)}" x2="{_f(xs[i])}" y2="{_f(y1)}" '
            f'stroke="{_MUTED}" stroke-dasharray="4 3"><title>{_t(tooltip)}</title></line>'
        )
    for s in series:
        parts.append(_trend_series(s, x_labels, xs, y1, k))
    axis = "one point per run, placed by its start time" if x_fractions else "one point per run"
    parts.append(_axis_title(f"{unit}, {axis}", left, x1, y1 + 34))
    return _svg(width, y1 + 42, title, parts)


def _trend_series(
    s: Series, x_labels: Sequence[str], xs: Sequence[float], base: float, k: float
) -> str:
    path: list[str] = []
    dots: list[str] = []
    pen_up = True
    for i, value in enumerate(s.values):
        if value is None:
            pen_up = True
            continue
        x, y = xs[i], base - value * k
        path.append(f"{'M' if pen_up else 'L'}{_f(x)} {_f(y)}")
        pen_up = False
        label = x_labels[i] if i < len(x_labels) else ""
        dots.append(
            f'<circle cx="{_f(x)}" cy="{_f(y)}" r="3.5" fill="{s.color}">'
            f"<title>{_t(s.label)} · {_t(label)}: {format_number(value)}</title></circle>"
        )
    line = f'<path d="{"".join(path)}" fill="none" stroke="{s.color}" stroke-width="2"/>'
    return "<g>" + (line if path else "") + "".join(dots) + "</g>"


@dataclass(frozen=True)
class CurvePoint:
    label: str  # the load level, e.g. "c=16"
    ttft_p95_s: float
    aggregate_tps: float
    knee: bool = False


def sweep_curve(points: Sequence[CurvePoint], *, title: str, color: str) -> str:
    """A saturation sweep: aggregate tok/s against TTFT p95, one point per level in
    the order measured, the knee ringed and named."""
    if not points:
        return empty_chart(title, "no level measured", width=HALF_WIDTH)
    left, right, top, plot_h = 56.0, 24.0, 34.0, 170.0
    x1, y1 = HALF_WIDTH - right, top + plot_h
    x_ticks = nice_ticks(0.0, max(p.ttft_p95_s for p in points) * 1000.0)
    y_ticks = nice_ticks(0.0, max(p.aggregate_tps for p in points))
    parts = [*_x_axis(x_ticks, left, x1, top, y1), *_y_axis(y_ticks, left, x1, top, y1)]
    xy = [
        (
            left + p.ttft_p95_s * 1000.0 / x_ticks[-1] * (x1 - left),
            y1 - p.aggregate_tps / y_ticks[-1] * plot_h,
        )
        for p in points
    ]
    path = "".join(f"{'M' if i == 0 else 'L'}{_f(x)} {_f(y)}" for i, (x, y) in enumerate(xy))
    parts.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
    for p, (x, y) in zip(points, xy, strict=True):
        tip = f"{p.label}: {format_number(p.aggregate_tps)} tok/s, TTFT p95 "
        tip += f"{format_number(p.ttft_p95_s * 1000.0)} ms" + (" (knee)" if p.knee else "")
        parts.append(
            f'<circle cx="{_f(x)}" cy="{_f(y)}" r="3.5" fill="{color}"><title>{_t(tip)}</title>'
            "</circle>"
        )
        if p.knee:
            parts.append(
                f'<circle class="knee" cx="{_f(x)}" cy="{_f(y)}" r="8" fill="none" '
                f'stroke="{_INK}" stroke-width="1.5"/><text x="{_f(x)}" y="{_f(y - 12)}" '
                f'text-anchor="middle" fill="{_INK}">knee {_t(p.label)}</text>'
            )
    parts.append(_axis_title("TTFT p95 (ms), one point per load level", left, x1, y1 + 34))
    parts.append(
        f'<text x="12" y="{_f((top + y1) / 2)}" fill="{_MUTED}" text-anchor="middle" '
        f'transform="rotate(-90 12 {_f((top + y1) / 2)})">aggregate tok/s</text>'
    )
    return _svg(HALF_WIDTH, y1 + 42, title, parts)


def _band(band: Series, xs: Sequence[float], base: float, k: float) -> str:
    """A shaded interval: one quadrilateral between each two runs that both have one."""
    pairs = [(band.values[2 * i], band.values[2 * i + 1]) for i in range(len(xs))]
    shapes = []
    for i in range(len(xs) - 1):
        (lo0, hi0), (lo1, hi1) = pairs[i], pairs[i + 1]
        if None in (lo0, hi0, lo1, hi1):
            continue
        corners = [(xs[i], hi0), (xs[i + 1], hi1), (xs[i + 1], lo1), (xs[i], lo0)]
        path = " ".join(f"{_f(x)},{_f(base - (v or 0.0) * k)}" for x, v in corners)
        shapes.append(f'<polygon points="{path}" fill="{band.color}" fill-opacity="0.18"/>')
    return f"<g><title>{_t(band.label)}</title>{''.join(shapes)}</g>"
