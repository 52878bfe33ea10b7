"""The bundled suites end to end on a real model. SmolLM2-135M fails many quality
thresholds, so these tests assert the pipeline, the stored rows and the reports."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from pytest_lmbench.backends.llamacpp import ManagedLlamaServer
from pytest_lmbench.backends.openai import OpenAIBackend
from pytest_lmbench.runners.prompts import calibrate, unique_prompt


def _run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:  # type: ignore[type-arg]
    result = pytester.runpytest(
        "--pyargs",
        "capability_suites",
        f"--lm-output-dir={pytester.path / 'out'}",
        f"--lm-db=sqlite:///{pytester.path / 'r.db'}",
        "--lm-formats=json,html,csv",
        "-p",
        "no:cacheprovider",
        *args,
    )
    report = json.loads((pytester.path / "out" / "latest.json").read_text())
    return result, report


def test_bundled_capability_suites_through_the_pipeline(
    pytester: pytest.Pytester, llama: ManagedLlamaServer
) -> None:
    result, report = _run(
        pytester,
        "--lm-backend=openai",
        f"--lm-base-url={llama.base_url}",
        f"--lm-model={llama.model_key}",
        "--lm-capabilities=general_text,reasoning,tooling,vision",
        "--lm-max-tests=2",
        "--lm-max-tokens=48",
    )
    outcomes = result.parseoutcomes()
    results = report["results"]
    assert (
        len(results)
        == 8
        == sum(outcomes.get(k, 0) for k in ("passed", "failed", "error", "errors"))
    )
    assert {r["capability"] for r in results} == {"general_text", "reasoning", "tooling", "vision"}
    for item in results:
        # Every item has a reason or a scored answer (a model without vision breaks the stream).
        scored = item["output"] is not None and "quality_score" in item["metrics"]
        assert item["error"] or (scored and item["timing"]["e2e_s"] is not None)
        assert item["hardware"]["ram_gb"]["max"] is not None  # cpu_pct needs a >10 ms window
    tooling = [r for r in results if r["capability"] == "tooling"]
    assert all(
        r["outcome"] in ("passed", "failed") for r in tooling
    )  # tools accepted by the server
    assert all(r["flags"]["route"] == "/v1/chat/completions" for r in tooling)
    with sqlite3.connect(pytester.path / "r.db") as db:
        assert db.execute("select count(*) from results").fetchone()[0] == 8
    for name in ("latest.json", "latest.html", "latest.csv"):
        assert (pytester.path / "out" / name).stat().st_size > 0


def plain_reader(base_url: str, model: str, prompt_words: int, max_tokens: int) -> Plain:
    """TTFT and decode tok/s measured the plainest way: raw SSE lines, wall clock, no
    plugin code."""
    body = {
        "model": model,
        "stream": True,
        "max_tokens": max_tokens,
        "temperature": 0,
        "messages": [{"role": "user", "content": unique_prompt(prompt_words)}],
    }
    stamps: list[float] = []
    with httpx.Client(timeout=120) as client:
        sent = time.perf_counter()
        with client.stream("POST", base_url + "/v1/chat/completions", json=body) as response:
            for line in response.iter_lines():
                if (
                    line.startswith("data: ")
                    and '"content":"' in line.replace(" ", "")
                    and '"content":""' not in line.replace(" ", "")
                ):
                    stamps.append(time.perf_counter())
    return Plain(stamps[0] - sent, (len(stamps) - 1) / (stamps[-1] - stamps[0]))


class Plain(NamedTuple):
    ttft_s: float
    decode_tps: float


def test_throughput_agrees_with_a_plain_reader(
    pytester: pytest.Pytester, llama: ManagedLlamaServer
) -> None:
    folder = pytester.path / "suite" / "throughput"
    folder.mkdir(parents=True)
    single_case = {"prompt_tokens": 64, "gen_tokens": 64, "concurrency": 1}
    # llama-cpp-python serves one request at a time; by default it would end the
    # running stream when the second arrives (interrupt_requests), which the managed
    # server turns off, so both streams must carry tokens. It runs after the plain
    # reader's second half, so that its queueing cannot colour the comparison.
    pair_case = {"prompt_tokens": 64, "gen_tokens": 32, "concurrency": 2}
    grid = folder / "grid.json"
    args = (
        f"--lm-suite-dir={folder.parent}",
        "--lm-backend=openai",
        f"--lm-base-url={llama.base_url}",
        f"--lm-model={llama.model_key}",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "--lm-runs=5",
        "--lm-warmup=1",
        "-p",
        "no:cacheprovider",
    )
    backend = OpenAIBackend(llama.base_url, label="llama.cpp server", timeout_s=120.0)
    # The same prompt length as the item (calibrated the plugin's way; the measuring is
    # the plain reader's own), read before and after the run so that a change in the
    # machine's load during the run biases neither side.
    try:
        words = asyncio.run(calibrate(backend, llama.model_key)).words_for(64)
    finally:
        backend.close()
    plain = [plain_reader(llama.base_url, llama.model_key, words, 64) for _ in range(4)]
    timing = _run_grid(pytester, grid, single_case, args)
    plain += [plain_reader(llama.base_url, llama.model_key, words, 64) for _ in range(4)]
    # A real model on a shared 2-core VM drifts by up to ~13 % between runs a few
    # seconds apart, whoever reads the stream; the errors this guards against (chunks
    # counted as tokens, the wrong clock, the first token in the decode window) are
    # 2x. The harness's own floor is measured precisely in benchmarks/bench_harness.py.
    assert timing["decode_tps"]["median"] == pytest.approx(
        statistics.median(p.decode_tps for p in plain), rel=0.20
    )
    # TTFT is one short span, so other jobs on a shared machine move single readings by
    # 2-5x and medians of a few by more than 10 %; that noise only ever adds delay, so
    # the fastest request of each side is the comparable figure. Even those drift by up
    # to ~15 % on a shared VM; the errors guarded against (a role-only chunk taken as
    # the first token, the clock started late) are far larger. 25 %, at least 15 ms.
    ours_ttft, theirs_ttft = timing["ttft_s"]["min"], min(p.ttft_s for p in plain)
    assert abs(ours_ttft - theirs_ttft) <= max(0.25 * theirs_ttft, 0.015)

    pair = _run_grid(pytester, grid, pair_case, args)
    samples = pair["samples"]
    assert len(samples) == 5 * 2
    for sample in samples:
        assert sample["error"] is None
        assert sample["ttft_s"] is not None
        assert sample["output_tokens"] is not None
        assert sample["output_tokens"] > 0
    assert pair["aggregate_decode_tps"] is not None


def _run_grid(
    pytester: pytest.Pytester, grid: Path, case: dict[str, int], args: tuple[str, ...]
) -> dict[str, Any]:
    grid.write_text(json.dumps({"capability": "throughput", "cases": [case]}))
    pytester.runpytest(*args).assert_outcomes(passed=1)
    [item] = json.loads((pytester.path / "out" / "latest.json").read_text())["results"]
    timing: dict[str, Any] = item["timing"]
    return timing


def test_serve_gguf_is_the_embedded_default(pytester: pytest.Pytester) -> None:
    from .conftest import _unavailable

    if _unavailable():
        pytest.skip(str(_unavailable()))
    _, report = _run(
        pytester,
        "--lm-serve-gguf=smollm2",
        "-k",
        "(general_text and qa_001) or math_001",
        "--lm-max-tokens=32",
    )
    assert report["run"]["backend"] == "openai"
    assert report["models"][0]["key"] == "SmolLM2-135M-Instruct.Q4_1"
    assert len(report["results"]) == 2
    assert Path(pytester.path / "out" / "latest.html").exists()


def test_rate_item_and_short_sweep(pytester: pytest.Pytester, llama: ManagedLlamaServer) -> None:
    # Issue 16 on a real server: llama-cpp-python decodes one request at a time, so
    # open-loop requests queue in the server and a concurrency sweep stops at once.
    folder = pytester.path / "suite" / "throughput"
    folder.mkdir(parents=True)
    grid = folder / "grid.json"
    args = (
        f"--lm-suite-dir={folder.parent}",
        "--lm-backend=openai",
        f"--lm-base-url={llama.base_url}",
        f"--lm-model={llama.model_key}",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "--lm-runs=1",
        "--lm-warmup=1",
        "--lm-slo=ttft_p95=30s,e2e_p95=60s",
        "-p",
        "no:cacheprovider",
    )
    case = {"prompt_tokens": 32, "gen_tokens": 8}
    rate = _run_grid(pytester, grid, case, (*args, "--lm-rate=2", "--lm-rate-requests=6"))
    assert rate["rate_per_s"] == 2
    assert rate["requests"] == 6
    assert rate["achieved_rate_per_s"] is not None
    assert rate["queue_delay_s"]["n"] == 6
    assert all(s["error"] is None for s in rate["samples"])
    assert rate["good_requests"] == 6
    sweep = _run_grid(pytester, grid, case, (*args, "--lm-concurrency=sweep"))
    assert 2 <= len(sweep["sweep"]) <= 11
    assert sweep["knee_concurrency"] >= 1
    assert sweep["sweep_stop"]
