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
    report: dict = json.loads((pytester.path / "out" / "latest.json").read_text())  # type: ignore[type-arg]
    return report["results"]  # type: ignore[no-any-return]


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


def test_four_concurrent_streams_aggregate_output_tps(
    pytester: pytest.Pytester, server: LMStudioTestServer
) -> None:
    # Issue 3's rate: first token 300 ms after the request, then one every 20 ms.
    # aggregate_output_tps is all output tokens / wall time of the batch, TTFT included:
    # 2800 / (0.3 + 699 * 0.02) = 196.1 tok/s, within 3 % of the 200 the streams decode at
    # with ~150 ms to spare for the harness (tg600 would leave 90 ms).
    server.engine.script.ttft_s = 0.300
    server.engine.script.token_interval_s = 0.020
    suite = grid(pytester.path, prompt_tokens=32, gen_tokens=700, concurrency=4)
    run(pytester, server, suite, "--lm-runs=1", "--lm-warmup=0").assert_outcomes(passed=1)
    [item] = results(pytester)
    timing = item["timing"]
    assert timing["concurrency"] == 4
    assert timing["output_tokens_total"] == 2800
    assert timing["aggregate_output_tps"] == pytest.approx(200.0, rel=0.03)
    wall_s = 4 / timing["requests_per_s"]
    assert timing["aggregate_output_tps"] == pytest.approx(2800 / wall_s)
    assert timing["decode_tps"]["n"] == 4


def test_aggregate_decode_tps_leaves_ttft_out(
    pytester: pytest.Pytester, server: LMStudioTestServer
) -> None:
    # (4 * 128 - 4) tokens / (last token - first token across the batch) = 508 / 2.54 s.
    server.engine.script.ttft_s = 0.300
    server.engine.script.token_interval_s = 0.020
    suite = grid(pytester.path, prompt_tokens=32, gen_tokens=128, concurrency=4)
    run(pytester, server, suite, "--lm-runs=2", "--lm-warmup=0").assert_outcomes(passed=1)
    [item] = results(pytester)
    timing = item["timing"]
    assert len(timing["aggregate_decode_tps_values"]) == 2
    assert timing["aggregate_decode_tps"] == pytest.approx(200.0, rel=0.02)
    # The wall-time figure carries the 300 ms TTFT: 512 / 2.84 s = 180 tok/s.
    assert timing["aggregate_output_tps"] == pytest.approx(180.3, rel=0.03)


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


@pytest.mark.parametrize("concurrency", [1, 3])
def test_pytest_benchmark_gets_one_round_per_measured_request(
    pytester: pytest.Pytester,
    server: LMStudioTestServer,
    monkeypatch: pytest.MonkeyPatch,
    concurrency: int,
) -> None:
    # pytest-benchmark switches itself off inside an xdist worker (our own -n 2 runs).
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    suite = grid(pytester.path, prompt_tokens=16, gen_tokens=8, concurrency=concurrency)
    bench = pytester.path / "bench.json"
    run(
        pytester, server, suite, "--lm-runs=4", "--lm-warmup=1", f"--benchmark-json={bench}"
    ).assert_outcomes(passed=1)
    [entry] = json.loads(bench.read_text())["benchmarks"]
    # runs x c rounds; the warmup batch's requests are not rounds.
    assert entry["stats"]["rounds"] == 4 * concurrency
    assert entry["extra_info"]["decode_tps_median"] > 0
    assert entry["extra_info"]["output_tokens_total"] == 32 * concurrency
    assert entry["extra_info"]["concurrency"] == concurrency
    # Each round is one request's end-to-end time, as in timing.e2e_s.
    [item] = results(pytester)
    e2e = item["timing"]["e2e_s"]
    assert entry["stats"]["median"] == pytest.approx(e2e["median"])
    assert (entry["stats"]["min"], entry["stats"]["max"]) == pytest.approx((e2e["min"], e2e["max"]))


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
