"""--lm-reference: published figures beside the measured ones, in percent, or a dash."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_lmbench.config.references import figures_for, read_references
from pytest_lmbench.records import PublishedFigure, Report, timing_figure
from pytest_lmbench.reporting.html_report import render_html
from pytest_lmbench.reporting.published import compare, diff_pct, format_pct, versus
from pytest_lmbench.reporting.summary import build_summary
from pytest_lmbench.reporting.terminal import format_summary

from .conftest import make_report

EXAMPLE = (
    Path(__file__).resolve().parents[2] / "benchmarks" / "reference" / "published.example.yaml"
)


def test_the_difference_is_computed_from_the_numbers_given() -> None:
    figure = PublishedFigure(server="lm_studio", decode_tps=20.0, ttft_s=0.5, source="s")
    [row] = compare([figure], [], (22.4, 0.4), {})
    assert row["decode_diff_pct"] == pytest.approx(12.0)
    assert row["ttft_diff_pct"] == pytest.approx(-20.0)
    assert row["compared_with"] == "headline"
    assert row["other_hardware"] is None  # the file names no hardware
    assert versus(row) == "vs published LM Studio +12 % (s)"
    assert format_pct(diff_pct(None, 20.0)) == "—"


def with_references(figures: dict[str, list[PublishedFigure]]) -> Report:
    report = make_report()
    for entry in report.models:
        entry.published = figures_for(figures, entry.key)
    report.run.environment["gpus"] = [{"name": "NVIDIA GeForce RTX 4090"}]
    report.summary = build_summary(report)
    return report


def test_card_terminal_and_json_show_the_figure_or_a_dash() -> None:
    # The published figure is 12 % below what qwen3-4b-instruct measured at pp512-tg128-c1.
    [item] = [
        r for r in make_report().results if r.case_id == "pp512-tg128-c1" and "qwen" in r.model
    ]
    measured = timing_figure(item.timing, "decode_tps")
    assert measured is not None
    qwen = PublishedFigure(
        server="lm_studio",
        decode_tps=measured / 1.12,
        source="a forum post",
        hardware="M3 Ultra 512GB",
        prompt_tokens=512,
        gen_tokens=128,
        concurrency=1,
    )
    report = with_references({"QWEN3-4B-INSTRUCT": [qwen]})
    models = report.summary["models"]
    [row] = models["qwen3-4b-instruct"]["published"]
    assert row["compared_with"] == "pp512-tg128-c1"
    assert row["other_hardware"] is True
    assert format_pct(row["decode_diff_pct"]) == "+12 %"
    assert models["gemma-3-270m-it"]["published"] == []
    text = "vs published LM Studio +12 % (a forum post, M3 Ultra 512GB, other hardware)"
    lines = format_summary(report, [])
    assert f"  {text}" in lines
    assert "  vs published: —" in lines
    html = render_html(report)
    assert f"<li>{text}</li>" in html
    assert "<li>vs published: —</li>" in html


def test_same_hardware_is_not_labelled_other() -> None:
    figure = PublishedFigure(server="ollama", decode_tps=50.0, hardware="NVIDIA GeForce RTX 4090")
    report = with_references({"qwen3-4b-instruct": [figure]})
    [row] = report.summary["models"]["qwen3-4b-instruct"]["published"]
    assert row["other_hardware"] is False
    assert versus(row).startswith("vs published Ollama ")


def test_without_the_option_nothing_is_shown() -> None:
    report = make_report()
    report.summary = build_summary(report)
    assert all("published" not in m for m in report.summary["models"].values())
    assert not any("vs published" in line for line in format_summary(report, []))


def test_the_bundled_example_parses_and_says_its_values_are_illustrative() -> None:
    references = read_references(EXAMPLE)
    figures = [f for found in references.values() for f in found]
    assert len(figures) >= 3
    assert all("ILLUSTRATIVE" in (f.source or "") for f in figures)
    assert "NOT real figures" in EXAMPLE.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "m:\n  lm_studio:\n    toks_per_sec: fast\n",
            "m.lm_studio: toks_per_sec: Input should be",
        ),
        ("m:\n  lm_studio:\n    toks_per_sec: -3\n", "m.lm_studio: toks_per_sec: Input should be"),
        ("m:\n  lm_studio:\n    tps: 3\n", "m.lm_studio: tps: Extra inputs are not permitted"),
        ("- a\n", "expected a mapping of model -> server"),
        ("m: 3\n", "m: expected a mapping of servers"),
    ],
)
def test_a_bad_file_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "ref.yaml"
    path.write_text(text)
    with pytest.raises(pytest.UsageError) as raised:
        read_references(path)
    assert str(raised.value).startswith(f"--lm-reference: {path}: ")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
