"""Real timing: TTFT, token gaps, parallel streams and server-reported stats."""

from __future__ import annotations

import itertools
import json
import statistics
import threading
import time
from typing import Any

import httpx
import pytest

from pytest_lmbench.testing import LMStudioTestServer

# Scripted timings: run alone (tox's serial stage), not beside another busy worker.
pytestmark = pytest.mark.timing

QWEN = "qwen/qwen3-4b"


Lines = list[tuple[float, str]]


def timed_lines(url: str, body: dict[str, Any]) -> Lines:
    """Every non-empty line of a stream, with the seconds since the request was sent."""
    lines: Lines = []
    with httpx.Client() as client:  # built first: it loads CA certificates for ~20 ms
        start = time.perf_counter()
        with client.stream("POST", url, json=body) as response:
            for line in response.iter_lines():
                if line:
                    lines.append((time.perf_counter() - start, line))
    return lines


def stamps(lines: Lines, marker: str) -> list[float]:
    return [t for t, line in lines if marker in line]


def best_of(url: str, body: dict[str, Any], marker: str, ttft: float, runs: int = 3) -> Lines:
    """The run whose first ``marker`` line came soonest.

    On a loaded machine, scheduling only ever delays a line; the best of a few runs
    shows the fake's own precision. No run may be early.
    """
    results = [timed_lines(url, body) for _ in range(runs)]
    firsts = [stamps(lines, marker)[0] for lines in results]
    assert min(firsts) >= ttft - 0.002
    return results[firsts.index(min(firsts))]


@pytest.fixture
def server(lmstudio_server: LMStudioTestServer) -> LMStudioTestServer:
    lmstudio_server.engine.preload(QWEN)  # no JIT load inside the measured window
    return lmstudio_server


def test_first_content_delta_after_ttft(server: LMStudioTestServer) -> None:
    server.engine.script.ttft_s = 0.3
    server.engine.script.token_interval_s = 0.02
    body = {"model": QWEN, "input": "hi", "stream": True, "max_output_tokens": 10}
    lines = best_of(server.base_url + "/api/v1/chat", body, "event: message.delta", 0.3)
    deltas = stamps(lines, "event: message.delta")
    assert deltas[0] == pytest.approx(0.3, abs=0.015)
    gaps = [b - a for a, b in itertools.pairwise(deltas)]
    assert statistics.median(gaps) == pytest.approx(0.02, abs=0.005)
    stats = json.loads(lines[-1][1].removeprefix("data: "))["result"]["stats"]
    assert stats["time_to_first_token_seconds"] == pytest.approx(0.3, abs=0.015)
    assert stats["tokens_per_second"] == pytest.approx(50, rel=0.15)


def test_openai_ttft_ignores_the_role_chunk(server: LMStudioTestServer) -> None:
    server.engine.script.ttft_s = 0.3
    body = {
        "model": QWEN,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "max_tokens": 3,
    }
    content = '"delta":{"content":'  # not the role chunk's {"role":...,"content":""}
    lines = best_of(server.base_url + "/v1/chat/completions", body, content, 0.3)
    role, first = lines[0], stamps(lines, content)[0]
    assert '"role":"assistant"' in role[1]
    assert role[0] < 0.1  # the role-only chunk comes at once
    assert first == pytest.approx(0.3, abs=0.015)


def test_prefill_and_tokens_per_chunk(server: LMStudioTestServer) -> None:
    script = server.engine.script
    script.ttft_s, script.prefill_s_per_token = 0.05, 0.01
    script.token_interval_s, script.tokens_per_chunk = 0.01, 3
    body = {"model": QWEN, "input": "one two three four five six", "stream": True}
    # 6 words + 4 template tokens = 10 prompt tokens: 0.1 s of prefill.
    lines = timed_lines(server.base_url + "/api/v1/chat", body)
    deltas = stamps(lines, "event: message.delta")
    assert deltas[0] == pytest.approx(0.15, abs=0.02)
    assert len(deltas) == 4  # 12 words, 3 per chunk
    gaps = [b - a for a, b in itertools.pairwise(deltas)]
    assert statistics.median(gaps) == pytest.approx(0.03, abs=0.008)
    stats = json.loads(lines[-1][1].removeprefix("data: "))["result"]["stats"]
    assert stats["input_tokens"] == 10
    assert stats["tokens_per_second"] == pytest.approx(100, rel=0.15)


def test_server_stats_distortion(server: LMStudioTestServer) -> None:
    script = server.engine.script
    script.ttft_s, script.token_interval_s = 0.05, 0.01
    script.server_ttft_bias_s, script.server_tps_factor = 0.2, 2.0
    body = {"model": QWEN, "input": "hi", "max_output_tokens": 10}
    stats = httpx.post(server.base_url + "/api/v1/chat", json=body).json()["stats"]
    assert stats["time_to_first_token_seconds"] == pytest.approx(0.25, abs=0.025)
    assert stats["tokens_per_second"] == pytest.approx(200, rel=0.15)


def test_non_streaming_takes_real_time(server: LMStudioTestServer) -> None:
    server.engine.script.ttft_s, server.engine.script.token_interval_s = 0.1, 0.01
    with httpx.Client() as client:
        start = time.perf_counter()
        client.post(server.base_url + "/api/v1/chat", json={"model": QWEN, "input": "hi"})
        elapsed = time.perf_counter() - start
    assert elapsed == pytest.approx(0.1 + 11 * 0.01, abs=0.04)


def _streams_wall_time(url: str, body: dict[str, Any], n: int) -> tuple[float, list[str]]:
    """Wall time of ``n`` simultaneous streams, and the last line of each."""
    clients = [httpx.Client() for _ in range(n)]  # built up front: construction is slow
    barrier = threading.Barrier(n + 1)
    last_lines: list[str] = []

    def one(client: httpx.Client) -> None:
        barrier.wait()
        with client.stream("POST", url, json=body) as response:
            last_lines.append([line for line in response.iter_lines() if line][-1])

    threads = [threading.Thread(target=one, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    for client in clients:
        client.close()
    return wall, last_lines


def test_parallel_streams_run_concurrently(server: LMStudioTestServer) -> None:
    server.engine.script.ttft_s, server.engine.script.token_interval_s = 0.02, 0.02
    url = server.base_url + "/v1/chat/completions"
    body = {
        "model": QWEN,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "max_tokens": 15,
    }
    single, _ = _streams_wall_time(url, body, 1)
    wall, last_lines = _streams_wall_time(url, body, 4)
    assert last_lines == ["data: [DONE]"] * 4
    assert single == pytest.approx(0.02 + 14 * 0.02, abs=0.05)
    assert wall < single + 0.1  # one after another would take four times as long
