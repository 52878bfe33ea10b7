"""The leaderboard across models (issue 14): c1 figures only, --lm-rank-by, terminal and HTML."""

from __future__ import annotations

import html

import pytest

from pytest_lmbench.records import ModelEntry, Report
from pytest_lmbench.reporting import leaderboard
from pytest_lmbench.reporting.html_report import render_html
from pytest_lmbench.reporting.summary import build_summary
from pytest_lmbench.reporting.terminal import format_summary
from pytest_lmbench.vocabulary import RANK_KEYS

from .conftest import PAYLOAD, capability_item, make_report, throughput_item

QWEN, GEMMA = "qwen3-4b-instruct", "gemma-3-270m-it"


def ranked_keys(report: Report, rank_by: str) -> list[str]:
    return [key for key, _ in leaderboard.ranked(report, rank_by)]


def test_headline_figures_come_from_c1_items_only() -> None:
    report = make_report()
    queued = throughput_item(QWEN, "pp512-tg128-c16", 52.0, 16)  # TTFT ~0.8 s of queueing
    report.results.append(queued)
    qwen = build_summary(report)["models"][QWEN]
    c1 = next(r for r in report.results if r.case_id == "pp512-tg128-c1" and r.model == QWEN)
    assert qwen["ttft_s_p95"] == c1.timing["ttft_s"]["p95"]
    assert qwen["decode_tps_median"] == c1.timing["decode_tps"]["median"]


def test_a_model_with_only_concurrent_items_has_no_headline_speed() -> None:
    report = make_report()
    report.results = [
        r for r in report.results if not (r.model == GEMMA and r.kind == "throughput")
    ]
    report.results.append(throughput_item(GEMMA, "pp512-tg128-c4", 190.0, 4))
    gemma = build_summary(report)["models"][GEMMA]
    assert (gemma["decode_tps_median"], gemma["ttft_s_p50"], gemma["ttft_s_p95"]) == (
        None,
        None,
        None,
    )
    assert ranked_keys(report, "decode_tps")[0] == QWEN  # unknown: after every known, never 0
    assert leaderboard.rows(report)[GEMMA]["decode_tps"] is None


@pytest.mark.parametrize(
    ("rank_by", "order"),
    [
        ("decode_tps", [GEMMA, QWEN]),  # 190 vs 52 tok/s
        ("ttft_pp512", [QWEN, GEMMA]),  # both 0.165 s: kept in report order
        ("quality", [QWEN, GEMMA]),
        ("tps_per_b_params", [GEMMA, QWEN]),
        ("quality_reasoning", [GEMMA, QWEN]),  # qwen's only reasoning item errored
    ],
)
def test_rank_by_orders_best_first(rank_by: str, order: list[str]) -> None:
    report = make_report()
    assert ranked_keys(report, rank_by)[:2] == order


def test_lower_is_better_for_latency_energy_and_memory() -> None:
    report = make_report()
    for result in report.results:
        if result.model == GEMMA and result.kind == "throughput":
            result.hardware["vram_gb"] = {"min": 0.5, "max": 0.6, "avg": 0.55}
            result.hardware["joules_per_token"] = 0.05
    assert ranked_keys(report, "peak_vram_gb")[:2] == [GEMMA, QWEN]
    assert ranked_keys(report, "joules_per_token")[:2] == [GEMMA, QWEN]
    rows = leaderboard.rows(report)
    assert rows[QWEN]["peak_vram_gb"] == 3.4
    assert rows[QWEN]["ttft_pp512"] is not None


def test_every_rank_key_is_a_leaderboard_figure() -> None:
    report = make_report()
    row = leaderboard.rows(report)[QWEN]
    assert set(RANK_KEYS) >= set(row)
    assert {c.key for c in leaderboard.COLUMNS} <= set(RANK_KEYS)


def test_the_terminal_summary_ends_with_the_leaderboard() -> None:
    report = make_report()
    report.run.settings["lm_rank_by"] = "quality"
    lines = format_summary(report, [])
    start = lines.index("lmbench leaderboard (by quality; speed from c1 items only)")
    header, first, second = lines[start + 1 : start + 4]
    assert header.split()[:3] == ["#", "model", "decode"]
    assert first.startswith("1  " + QWEN)
    assert second.startswith("2  " + GEMMA)


def test_one_model_gets_no_leaderboard() -> None:
    report = make_report()
    report.models = [m for m in report.models if m.key == QWEN]
    report.results = [r for r in report.results if r.model == QWEN]
    assert leaderboard.terminal_lines(report, "decode_tps") == []
    assert "One model: nothing to rank." in render_html(report)


def test_the_html_report_shows_the_leaderboard_escaped() -> None:
    report = make_report()
    hostile = f"evil{PAYLOAD}"
    report.models.append(ModelEntry(key=hostile, status="ok"))
    report.results.append(capability_item(hostile, "general_text", "qa", "qa_009"))
    page = render_html(report)
    section = page[page.index('<section id="leaderboard">') :]
    assert "Ranked by decode_tps" in section
    assert PAYLOAD not in section
    assert html.escape(hostile, quote=False) in section or "evil&lt;script&gt;" in section
