"""Throughput items against scripted timing: the figures must match the script."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_lmbench.testing import FakeModel, LMStudioTestServer

# Scripted timings: run alone (tox's serial stage), not beside another busy worker.
pytestmark = pytest.mark.timing

MODEL = "qwen/qwen3-4b"


@pytest.fixture
def server() -> Iterator[LMStudioTestServer]:
    with LMStudioTestServer([FakeModel(key=MODEL)]) as srv:
        yield srv


def grid(root: Path, **case: object) -> Path:
    folder = root / "suite" / "throughput"
    folder.mkdir(parents=True)
    (folder / "grid.json").write_text(json.dumps({"capability": "throughput", "cases": [case]}))
    return root / "suite"


def run(
    pytester: pytest.Pytester, server: LMStudioTestServer, suite: Path, *args: str
) -> pytest.RunResult:
    return pytester.runpytest(
        f"--lm-suite-dir={suite}",
        f"--lm-model={MODEL}",
        f"--lm-base-url={server.base_url}",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "-p",
        "no:cacheprovider",
        *args,
    )


def results(pytester: pytest.Pytester) -> list[dict]:  # type: ignore[type-arg]
    return json.loads((pytester.path / "out" / "latest.json").read_text())["results"]


@pytest.mark.parametrize(
    ("route", "path"), [("native", "/api/v1/chat"), ("openai", "/v1/chat/completions")]
)
def test_scripted_ttft_and_decode_speed(
    pytester: pytest.Pytester, server: LMStudioTestServer, route: str, path: str
) -> None:
    server.engine.script.ttft_s = 0.300
    server.engine.script.token_interval_s = 0.020
    suite = grid(pytester.path, prompt_tokens=64, gen_tokens=40, concurrency=1)
    outcome = run(pytester, server, suite, f"--lm-api={route}", "--lm-runs=3", "--lm-warmup=1")
    outcome.assert_outcomes(passed=1)
    [item] = results(pytester)
    timing = item["timing"]
    assert item["flags"]["route"] == path
    assert abs(timing["ttft_s"]["median"] - 0.300) < 0.010
    assert timing["decode_tps"]["median"] == pytest.approx(50.0, rel=0.02)
    assert timing["ttft_s"]["n"] == 3  # warmup discarded
    assert timing["prompt_tokens_actual"] == 64  # calibrated from the server's own counts
    assert item["flags"]["short_generation"] is False
    assert {
        "n",
        "mean",
        "median",
        "p50",
        "p90",
        "p95",
        "p99",
        "std",
        "min",
        "max",
        "ci95_low",
        "ci95_high",
    } <= set(timing["decode_tps"])
    chats = [r for r in server.engine.requests if r.path == path]
    prefixes = [json.dumps(r.json)[:80] for r in chats]
    assert len(set(prefixes)) == len(prefixes)  # a unique prefix per request defeats prompt caches


def test_four_concurrent_streams_aggregate(
    pytester: pytest.Pytester, server: LMStudioTestServer
) -> None:
    server.engine.script.ttft_s = 0.020
    server.engine.script.token_interval_s = 0.020
    suite = grid(pytester.path, prompt_tokens=32, gen_tokens=150, concurrency=4)
    run(pytester, server, suite, "--lm-runs=1", "--lm-warmup=0").assert_outcomes(passed=1)
    [item] = results(pytester)
    assert item["timing"]["concurrency"] == 4
    assert item["timing"]["aggregate_output_tps"] == pytest.approx(200.0, rel=0.03)
    assert item["timing"]["decode_tps"]["n"] == 4


def test_concurrency_override(pytester: pytest.Pytester, server: LMStudioTestServer) -> None:
    suite = grid(pytester.path, prompt_tokens=16, gen_tokens=4, concurrency=1)
    outcome = run(pytester, server, suite, "--lm-concurrency=1,2", "--collect-only", "-q")
    outcome.stdout.fnmatch_lines(["*pp16-tg4-c1*", "*pp16-tg4-c2*"])


def test_threshold_failure_shows_value_interval_and_limit(
    pytester: pytest.Pytester, server: LMStudioTestServer
) -> None:
    server.engine.script.token_interval_s = 0.005
    suite = grid(
        pytester.path, prompt_tokens=16, gen_tokens=20, concurrency=1, min_decode_tps=100000
    )
    run(pytester, server, suite, "--lm-runs=3", "--lm-warmup=0").assert_outcomes(failed=1)
    [item] = results(pytester)
    assert "decode_tps median" in item["error"]
    assert "ci95" in item["error"]
    assert "below min_decode_tps 100000" in item["error"]


def test_client_server_disagreement_is_flagged(
    pytester: pytest.Pytester, server: LMStudioTestServer
) -> None:
    server.engine.script.token_interval_s = 0.005
    server.engine.script.server_tps_factor = 1.5
    suite = grid(pytester.path, prompt_tokens=16, gen_tokens=20, concurrency=1)
    run(pytester, server, suite, "--lm-runs=2", "--lm-warmup=0", "--lm-api=native").assert_outcomes(
        passed=1
    )
    [item] = results(pytester)
    assert item["flags"]["disagreement"] is True
    assert item["server_stats"]["comparisons"]["decode_tps"]["relative_diff"] < -0.1


def test_pytest_benchmark_gets_one_round_per_measured_request(
    pytester: pytest.Pytester, server: LMStudioTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest-benchmark switches itself off inside an xdist worker (our own -n 2 runs).
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    suite = grid(pytester.path, prompt_tokens=16, gen_tokens=8, concurrency=1)
    bench = pytester.path / "bench.json"
    run(
        pytester, server, suite, "--lm-runs=4", "--lm-warmup=1", f"--benchmark-json={bench}"
    ).assert_outcomes(passed=1)
    [entry] = json.loads(bench.read_text())["benchmarks"]
    assert entry["stats"]["rounds"] == 4
    assert entry["extra_info"]["decode_tps_median"] > 0
    assert entry["extra_info"]["output_tokens_total"] == 32


def test_calibration_reports_the_harness_floor(
    pytester: pytest.Pytester, server: LMStudioTestServer
) -> None:
    suite = grid(pytester.path, prompt_tokens=16, gen_tokens=4, concurrency=1)
    outcome = run(pytester, server, suite, "--lm-calibrate", "--lm-runs=1", "--lm-warmup=0")
    outcome.assert_outcomes(passed=1)
    outcome.stdout.fnmatch_lines(["*calibration*"])
    calibration = json.loads((pytester.path / "out" / "latest.json").read_text())["run"][
        "calibration"
    ]
    assert abs(calibration["ttft_error_ms"]) < 10
    assert abs(calibration["decode_tps_error_pct"]) < 2
