"""--lm-reference through the plugin: read at session start, shown per model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_lmbench.reporting.published import diff_pct, format_pct
from pytest_lmbench.testing import LMStudioTestServer

QWEN, GEMMA = "qwen/qwen3-4b", "google/gemma-3-4b"


def grid(root: Path) -> Path:
    folder = root / "suite" / "throughput"
    folder.mkdir(parents=True)
    case = {"prompt_tokens": 32, "gen_tokens": 16, "concurrency": 1}
    (folder / "grid.json").write_text(json.dumps({"capability": "throughput", "cases": [case]}))
    return folder.parent


def run(pytester: pytest.Pytester, server: LMStudioTestServer, *extra: str) -> pytest.RunResult:
    server.engine.script.ttft_s = 0.001
    server.engine.script.token_interval_s = 0.002
    return pytester.runpytest(
        f"--lm-suite-dir={grid(pytester.path)}",
        f"--lm-model={QWEN}",
        f"--lm-model={GEMMA}",
        f"--lm-base-url={server.base_url}",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "--lm-formats=json,html",
        "--lm-runs=2",
        "-p",
        "no:cacheprovider",
        *extra,
    )


def test_each_model_shows_its_published_figure_or_a_dash(
    pytester: pytest.Pytester, lmstudio_server: LMStudioTestServer
) -> None:
    reference = pytester.path / "published.yaml"
    reference.write_text(
        f"{QWEN}:\n  lm_studio:\n    toks_per_sec: 400\n    source: a blog\n    hardware: X\n"
    )
    result = run(pytester, lmstudio_server, f"--lm-reference={reference}")
    assert result.ret == 0
    report = json.loads((pytester.path / "out" / "latest.json").read_text())
    models = {m["key"]: m for m in report["models"]}
    assert models[QWEN]["published"][0]["decode_tps"] == 400
    assert models[GEMMA]["published"] == []
    [row] = report["summary"]["models"][QWEN]["published"]
    measured = report["summary"]["models"][QWEN]["decode_tps_median"]
    assert row["decode_diff_pct"] == pytest.approx(diff_pct(measured, 400.0))
    shown = (
        f"vs published LM Studio {format_pct(row['decode_diff_pct'])} (a blog, X, other hardware)"
    )
    result.stdout.fnmatch_lines([f"  {shown}", "  vs published: —"])
    html = (pytester.path / "out" / "latest.html").read_text()
    assert f"<li>{shown}</li>" in html


def test_a_bad_reference_file_stops_the_run_before_any_model_loads(
    pytester: pytest.Pytester, lmstudio_server: LMStudioTestServer
) -> None:
    reference = pytester.path / "published.yaml"
    reference.write_text(f"{QWEN}:\n  lm_studio:\n    toks_per_sec: fast\n")
    result = run(pytester, lmstudio_server, f"--lm-reference={reference}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--lm-reference: {reference}: {QWEN}.lm_studio: toks_per_sec:*"])
    assert not [r for r in lmstudio_server.engine.requests if "load" in r.path]
