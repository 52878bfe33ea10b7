"""Issue 16: no silent concurrency cap, and 200 streams measured like one.

httpx's default pool (100 connections) queued request 101 behind the others:
against a 0.3 s TTFT server, c=101 gave a TTFT max of 1.03 s. The server here is
the asyncio load server in its own process, so its pacing is not the client's
interpreter's.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import httpx
import pytest

from pytest_lmbench.testing.loadserver import MODEL, LoadScript, load_server_process

pytestmark = pytest.mark.timing

SCRIPT = LoadScript(ttft_s=0.300, token_interval_s=0.050)
# A pool cap at 100 would hold request 101 back by a whole request (at least 0.65 s).
# Issue 16: every request's TTFT within 50 ms of the script at c=101 and c=200. With
# the fast transport and no garbage collection inside a batch, measured alone (as CI
# runs timing tests) on a 2-core machine: max +5.1 to +9.4 ms at c=101 and +5.6 to
# +9.6 ms at c=200. Other jobs sharing the 2 cores (load 4 to 8) pushed c=200 to +32
# ms, once +57 ms. With garbage collection on, c=101 max +89 to +144 ms (a full
# collection of the session's heap took 210 ms).
TTFT_EXCESS_S = {101: [("max", 0.050)], 200: [("max", 0.050)]}


def run_one_grid(
    pytester: pytest.Pytester, script: LoadScript, case: dict[str, int], *args: str
) -> tuple[pytest.RunResult, list[dict[str, Any]]]:
    """One throughput case against the load server in its own process; its JSON results."""
    outcome, results, _ = run_with_server_stats(pytester, script, case, *args)
    return outcome, results


def run_with_server_stats(
    pytester: pytest.Pytester, script: LoadScript, case: dict[str, int], *args: str
) -> tuple[pytest.RunResult, list[dict[str, Any]], dict[str, Any]]:
    """As :func:`run_one_grid`, with the load server's own ``/stats`` after the run."""
    folder = pytester.path / "suite" / "throughput"
    folder.mkdir(parents=True)
    (folder / "grid.json").write_text(json.dumps({"capability": "throughput", "cases": [case]}))
    with load_server_process(script) as url:
        outcome = pytester.runpytest(
            f"--lm-suite-dir={folder.parent}",
            f"--lm-model={MODEL}",
            "--lm-backend=openai",
            f"--lm-base-url={url}",
            f"--lm-output-dir={pytester.path / 'out'}",
            "--lm-no-db",
            "--lm-formats=json",
            "--lm-warmup=1",
            "-p",
            "no:cacheprovider",
            *args,
        )
        stats = httpx.get(url + "/stats", timeout=10).json()
    results = json.loads((pytester.path / "out" / "latest.json").read_text())["results"]
    return outcome, results, stats


def test_wide_batches_keep_the_scripted_ttft(pytester: pytest.Pytester) -> None:
    outcome, results = run_one_grid(
        pytester,
        SCRIPT,
        {"prompt_tokens": 16, "gen_tokens": 8},
        "--lm-concurrency=101,200",
        "--lm-runs=2",
    )
    outcome.assert_outcomes(passed=2)
    for item in results:
        timing = item["timing"]
        concurrency = timing["concurrency"]
        for stat, limit_s in TTFT_EXCESS_S[concurrency]:
            excess_s = timing["ttft_s"][stat] - SCRIPT.ttft_s
            print(f"c={concurrency}: TTFT {stat} {timing['ttft_s'][stat]:.4f} s")
            assert 0 <= excess_s < limit_s, (concurrency, stat, excess_s)
        assert timing["connections_opened_measured"] == 0
        assert timing["ttft_s"]["n"] == 2 * concurrency


def test_a_thousand_streams_on_warm_connections(pytester: pytest.Pytester) -> None:
    # Bounded: 2 rounds of 1,000 six-token streams, loopback only.
    script = LoadScript(ttft_s=0.500, token_interval_s=0.100)
    case = {"prompt_tokens": 8, "gen_tokens": 6, "concurrency": 1000}
    started = time.perf_counter()
    outcome, [item], stats = run_with_server_stats(pytester, script, case, "--lm-runs=1")
    assert time.perf_counter() - started < 60
    outcome.assert_outcomes(passed=1)
    timing = item["timing"]
    assert timing["connections_opened_measured"] == 0
    assert all(s["error"] is None and s["output_tokens"] == 6 for s in timing["samples"])
    # What the server did in the measured round (the last 1,000 streams; the first
    # 1,000 were the warm-up): the server, in Python on the same 2 cores, takes tens
    # of milliseconds to read 1,000 requests, so its streams start spread out and the
    # scripted 10,000 tok/s is never what it sends across the round.
    served = stats["streams"][-1000:]
    span_ns = max(s[2] for s in served) - min(s[1] for s in served)
    server_tps = sum(s[3] - 1 for s in served) / (span_ns / 1e9)
    # From reading a request to writing its first token: the script's 0.5 s plus the
    # server's own lateness with 1,000 timers due at once.
    server_ttft_s = statistics.median(s[1] - s[0] for s in served) / 1e9
    measured_tps = timing["aggregate_decode_tps"]
    print(
        f"c=1000: TTFT median {timing['ttft_s']['median']:.4f} s (the server's "
        f"{server_ttft_s:.4f}), ITL median {timing['itl_s']['median']:.4f} s, aggregate "
        f"decode {measured_tps:.0f} tok/s (the server sent {server_tps:.0f})"
    )
    # Issue 16: TTFT and ITL medians within 1 ms of the script; aggregate decode within
    # 2 % of what the server sent. Measured alone on 2 cores: aggregate within 0.5 % of
    # the server's, ITL median +0.2 to +0.4 ms, TTFT median +0.7, +1.2 and +4.1 ms beyond
    # the server's own (which starts when it has read the request: 1,000 requests sent
    # at once wait for the server to read them, and that wait is in the client's TTFT).
    assert abs(timing["ttft_s"]["median"] - server_ttft_s) < 0.015
    assert abs(timing["itl_s"]["median"] - script.token_interval_s) < 0.001
    assert abs(measured_tps / server_tps - 1) < 0.02
