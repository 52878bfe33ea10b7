"""Charts are well-formed SVG, escape their labels, and degrade to a message."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest

from pytest_lmbench.reporting import charts

EVIL = "<script>alert('x')</script> & \"quotes\""


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "svg"
    assert "http" not in svg  # not even an xmlns: the report holds no URL
    return root


def _count(root: ET.Element, *tags: str) -> int:
    return sum(1 for el in root.iter() if el.tag in tags)


def _texts(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter() if el.tag in ("text", "title")]


def test_interval_bars() -> None:
    svg = charts.interval_bars(
        [
            charts.Bar("qwen3-4b", 51.5, 49.9, 53.1),
            charts.Bar(EVIL, 188.0, 182.0, 194.0, charts.color_for(1)),
            charts.Bar("broken", None),
        ],
        title="Decode",
        unit="tokens/s",
    )
    root = _parse(svg)
    assert _count(root, "rect") == 2
    assert _count(root, "path") == 2  # one whisker per bar with an interval
    texts = _texts(root)
    assert any("<script>" in t for t in texts)  # survives as text after a parse
    assert "<script>" not in svg
    assert "—" in texts
    assert "tokens/s" in texts


def test_grouped_bars() -> None:
    svg = charts.grouped_bars(
        ["general_text", "reasoning", EVIL],
        [charts.Series("a", [0.6, None, 1.0]), charts.Series("b", [0.2, 0.9, None])],
        title="Quality",
    )
    root = _parse(svg)
    assert _count(root, "rect") == 4 + 2  # bars + legend swatches
    assert _count(root, "line") == 6  # y grid 0, 0.2, ... 1
    assert "—" in _texts(root)


def test_strip_plot_downsamples_dots_but_not_the_box() -> None:
    values = [0.1 + (i % 97) / 1000 for i in range(10_000)]
    svg = charts.strip_plot(
        [charts.StripRow("big", values), charts.StripRow(EVIL, [0.2, 0.25, 0.3])],
        title="TTFT",
        unit="ms",
        scale=1000.0,
    )
    root = _parse(svg)
    circles = _count(root, "circle")
    assert 3 < circles <= 120 + 3
    assert len(svg) < 40_000


def test_trend_lines_and_gaps() -> None:
    svg = charts.trend_lines(
        ["05-01", "05-02", "05-03"],
        [charts.Series("a", [40.0, None, 42.0]), charts.Series(EVIL, [10.0, 11.0, 12.0])],
        title="History",
        unit="tokens/s",
    )
    root = _parse(svg)
    paths = [el.get("d") or "" for el in root.iter("path")]
    assert paths[0].count("M") == 2  # the gap breaks the line
    assert _count(root, "circle") == 5


@pytest.mark.parametrize(
    "svg",
    [
        charts.trend_lines(["05-01"], [charts.Series("a", [40.0])], title="H", unit="t"),
        charts.trend_lines(["1", "2"], [charts.Series("a", [40.0, None])], title="H", unit="t"),
        charts.trend_lines([], [], title="H", unit="t"),
    ],
)
def test_trend_with_fewer_than_two_points(svg: str) -> None:
    assert "no history yet" in _texts(_parse(svg))


def test_empty_inputs_explain_themselves() -> None:
    assert "no data" in _texts(_parse(charts.interval_bars([], title="D", unit="u")))
    assert "no data" in _texts(_parse(charts.grouped_bars([], [], title="Q")))
    empty = charts.strip_plot([charts.StripRow("a", [])], title="T", unit="ms")
    assert "no per-request samples" in _texts(_parse(empty))


@pytest.mark.parametrize(
    ("low", "high"), [(0.0, 1.0), (0.0, 188.0), (0.0, 0.0037), (0.0, 12345.0), (0.0, 0.0)]
)
def test_nice_ticks_cover_the_range(low: float, high: float) -> None:
    ticks = charts.nice_ticks(low, high)
    assert ticks[0] <= low
    assert ticks[-1] >= high
    assert 2 <= len(ticks) <= 12
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
