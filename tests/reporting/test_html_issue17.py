"""HTML details a newcomer tripped over: skips, empty stats, thresholds of 0, the history."""

from __future__ import annotations

import re

from pytest_lmbench.records import HistoryPoint, ModelEntry, Report, ResultEntry, RunInfo
from pytest_lmbench.reporting.html_items import item_view, unjudged
from pytest_lmbench.reporting.html_report import render_html

MODEL = "m"


def _report(*results: ResultEntry) -> Report:
    run = RunInfo(
        id="run-17",
        started_at="2026-05-10T00:00:00+00:00",
        status="completed",
        backend="openai",
        base_url="http://127.0.0.1:4242",
        plugin_version="0",
    )
    return Report(run=run, models=[ModelEntry(key=MODEL, status="ok")], results=list(results))


def _capability(outcome: str = "passed", min_quality: float = 0.0, **kw: object) -> ResultEntry:
    return ResultEntry(
        nodeid=f"reasoning/math.json::{kw.get('case', 'math_001')}[{MODEL}]",
        model=MODEL,
        kind="capability",
        capability=str(kw.get("capability", "reasoning")),
        case_id=str(kw.get("case", "math_001")),
        outcome=outcome,  # type: ignore[arg-type]
        error=kw.get("error"),  # type: ignore[arg-type]
        metrics={"quality_score": 0.0},
        flags={"min_quality": min_quality},
        server_stats={"server_ttft_s": None, "server_decode_tps": None},
        hardware={"gpu_temp_c": {"min": None, "max": None, "avg": None}},
    )


def test_a_skip_is_neutral_and_shows_its_reason() -> None:
    skipped = _capability("skipped", error="m lacks the vision capability")
    view = item_view(skipped)
    assert [t["title"] for t in view["texts"]] == ["Skipped"]
    assert "m lacks the vision capability" in view["brief"]
    html = render_html(_report(skipped))
    assert '<pre class="skip">m lacks the vision capability</pre>' in html
    assert 'class="err"' not in html


def test_empty_server_stats_and_hardware_rows_are_left_out() -> None:
    titles = [title for title, _ in item_view(_capability())["tables"]]
    assert "Server stats" not in titles
    assert "Hardware" not in titles


def test_a_pass_against_a_threshold_of_0_says_no_threshold() -> None:
    free, judged = _capability(), _capability(min_quality=0.5, case="math_002")
    assert item_view(free)["badge"] == "no threshold"
    assert item_view(judged)["badge"] == "passed"
    assert (
        "quality 0.00 (min 0.50)" in item_view(judged)["brief"]
        or "(min 0.5" in (item_view(judged)["brief"])
    )
    assert unjudged([free]) == {(MODEL, "reasoning"), (MODEL, None)}
    assert unjudged([free, judged]) == set()
    html = render_html(_report(free))
    assert "<dt>success</dt><dd>no threshold</dd>" in html
    assert '<td class="num">no threshold</td>' in html  # the capability row too


def test_the_history_chart_is_time_scaled_and_leaves_interrupted_runs_out() -> None:
    history: dict[str, list[HistoryPoint]] = {
        MODEL: [
            {
                "run_id": "a",
                "started_at": "2026-05-01T00:00:00+00:00",
                "decode_tps_median": 40.0,
                "quality_score_mean": None,
                "status": "completed",
            },
            {
                "run_id": "b",
                "started_at": "2026-05-02T00:00:00+00:00",
                "decode_tps_median": 5.0,
                "quality_score_mean": None,
                "status": "interrupted",
            },
            {
                "run_id": "c",
                "started_at": "2026-05-09T00:00:00+00:00",
                "decode_tps_median": 42.0,
                "quality_score_mean": None,
                "status": "completed",
            },
        ]
    }
    html = render_html(_report(_capability()), history)
    chart = html[html.index("Decode speed history") :]
    chart = chart[: chart.index("</svg>")]
    assert "05-02 00:00" not in chart  # the interrupted run
    xs = [float(x) for x in re.findall(r'<circle cx="([\d.]+)"', chart)]
    assert len(xs) == 2
    assert "placed by its start time" in chart
