"""Terminal summary lines and the calibration line."""

from __future__ import annotations

from pathlib import Path

from pytest_lmbench.records import Report, RunInfo
from pytest_lmbench.reporting.summary import build_summary, format_number
from pytest_lmbench.reporting.terminal import format_calibration, format_summary


def test_table_rows_quality_and_paths(report: Report, tmp_path: Path) -> None:
    paths = [tmp_path / "a.json", tmp_path / "a.html"]
    lines = format_summary(report, paths)
    qwen = build_summary(report)["models"]["qwen3-4b-instruct"]
    assert lines[0] == "lmbench run 3f9c2a71 (completed, lmstudio)"
    assert lines[1].split() == [
        "model", "decode", "tok/s", "[95%", "CI]", "TTFT", "p50", "/", "p95",
        "passed", "failed", "errors", "skipped",
    ]  # fmt: skip
    row = next(line for line in lines if line.startswith("qwen3-4b-instruct"))
    low, high = qwen["decode_tps_ci95_low"], qwen["decode_tps_ci95_high"]
    decode = (
        f"{format_number(qwen['decode_tps_median'])} [{format_number(low)}–{format_number(high)}]"
    )
    assert decode in row
    assert "165 ms / 168 ms" in row
    assert row.split()[-4:] == ["4", "1", "1", "1"]
    quality = lines[lines.index(row) + 1]
    assert quality == "  quality: general_text 0.550 · reasoning — · tooling 1.00"
    assert lines[-2:] == [f"lmbench report: {paths[0]}", f"lmbench report: {paths[1]}"]


def test_capability_lines_show_counts_and_metric_means(report: Report) -> None:
    lines = format_summary(report, [])
    qwen = build_summary(report)["models"]["qwen3-4b-instruct"]["capabilities"]
    text = lines.index(next(line for line in lines if line.startswith("    general_text:")))
    assert lines[text].startswith("    general_text: 1/2 passed (50%), 1 failed, avg latency ")
    means = lines[text + 1]
    assert means.startswith("      means: exact_match ")
    shown = dict(part.rsplit(" ", 1) for part in means.removeprefix("      means: ").split(" · "))
    expected = {
        key.removeprefix("mean_"): f"{value:.3f}"
        for key, value in qwen["general_text"].items()
        if key.startswith("mean_") and key != "mean_quality_score"
    }
    assert shown == expected
    # scoring metrics in the order of the scoring tables, health last
    assert list(shown) == ["exact_match", "f1", "rouge1", "rouge2", "rougeL", "repetition_ratio"]
    assert "    reasoning: 0/0 passed (—), 0 failed, 1 error, avg latency 30.0 s, avg — tok/s" in (
        lines
    )
    assert "      means: accuracy —" in lines
    assert "      means: function_call_accuracy 1.000" in lines
    # throughput items carry no quality metrics: no means line after them
    after = lines[lines.index(next(x for x in lines if x.startswith("    throughput:"))) + 1]
    assert not after.startswith("      means:")


def test_columns_line_up(report: Report) -> None:
    lines = format_summary(report, [])
    board = next(i for i, line in enumerate(lines) if line.startswith("lmbench leaderboard"))
    rows = [
        line for line in lines[2:board] if not line.startswith(("  ", "skipped:", "contended:"))
    ]
    header = lines[1]
    column = header.index("TTFT")
    for row in rows:
        assert row[column - 2 : column] == "  "  # every decode cell ends before TTFT


def test_failed_model_shows_dashes_and_its_error(report: Report) -> None:
    lines = format_summary(report, [])
    row = next(line for line in lines if line.startswith("mistral-7b-broken"))
    assert row.split()[1:3] == ["—", "—"]
    assert "  load error: LoadFailed: out of VRAM" in lines


def test_empty_run() -> None:
    run = RunInfo(
        id="r",
        started_at="2025-01-01T00:00:00Z",
        backend="lmstudio",
        base_url="",
        plugin_version="0",
    )
    assert format_summary(Report(run=run), []) == [
        "lmbench run r (running, lmstudio)",
        "no models were benchmarked",
    ]


def test_calibration_lines() -> None:
    assert format_calibration(None) == []
    assert format_calibration({}) == []
    calibration = {"ttft_error_ms": 1.8, "decode_tps_error_pct": 0.7, "overhead_per_token_us": 42.0}
    assert format_calibration(calibration) == [
        "lmbench calibration: TTFT error 1.80 ms · decode tok/s error 0.700% · "
        "overhead 42.0 µs/token"
    ]
    noisy = format_calibration({"decode_tps_error_pct": -7.5})
    assert len(noisy) == 2
    assert "TTFT error — ms" in noisy[0]
    assert "more than 5%" in noisy[1]
