"""Self-calibration: the harness measures its own floor against a scripted server.

The bundled LM Studio test server sends the first token after a known delay and
then one token per known interval. Our client measures that stream; a bare
reader (plain httpx, substring search, no SSE parser) measures it too. The
differences are the harness's TTFT error, decode-speed error and overhead per
token, reported with every run that asks for ``--lm-calibrate``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any

import httpx

from pytest_lmbench.backends.base import ChatRequest
from pytest_lmbench.backends.lmstudio import LMStudioBackend, native_body
from pytest_lmbench.metrics.timing import request_metrics
from pytest_lmbench.records import JSON, Sample

MODEL = "lmbench/calibration"


@dataclass(frozen=True)
class Truth:
    ttft_s: float = 0.100
    token_interval_s: float = 0.010
    tokens: int = 64

    @property
    def decode_tps(self) -> float:
        return 1.0 / self.token_interval_s


def bare_reader(base_url: str, body: JSON) -> dict[str, float]:
    """The simplest honest measurement: wall clock around raw bytes, no parser."""
    first = last = None
    chunks = 0
    sent: list[int] = []

    def trace(event: str, info: dict[str, Any]) -> None:
        # The clock starts when the request headers are written, as ours does.
        if event.endswith("send_request_headers.started"):
            sent.append(time.perf_counter_ns())

    with httpx.Client(timeout=30) as client:
        start = time.perf_counter_ns()
        extensions = {"trace": trace}
        with client.stream(
            "POST", base_url + "/api/v1/chat", json=body, extensions=extensions
        ) as response:
            start = sent[0] if sent else start
            for raw in response.iter_raw():
                now = time.perf_counter_ns()
                hits = raw.count(b"event: message.delta")
                if hits:
                    first = first if first is not None else now
                    last = now
                    chunks += hits
    end = time.perf_counter_ns()
    if first is None or last is None or chunks < 2:
        raise RuntimeError("calibration server sent no tokens")
    return {
        "ttft_s": (first - start) / 1e9,
        "decode_tps": (chunks - 1) / ((last - first) / 1e9),
        "e2e_s": (end - start) / 1e9,
    }


def calibrate_harness(requests: int = 5, truth: Truth | None = None) -> JSON:
    """Run ``requests`` streams through our client and the bare reader; compare with the truth."""
    from pytest_lmbench.testing import FakeModel, LMStudioTestServer

    truth = truth or Truth()
    with LMStudioTestServer([FakeModel(key=MODEL, tool_use=False)]) as server:
        script = server.engine.script
        script.ttft_s, script.token_interval_s = truth.ttft_s, truth.token_interval_s
        backend = LMStudioBackend(server.base_url, timeout_s=30)
        request = ChatRequest(prompt="calibrate", max_tokens=truth.tokens, temperature=0.0)
        ours = [_ours(backend, request) for _ in range(requests)]
        bare = [bare_reader(server.base_url, native_body(MODEL, request)) for _ in range(requests)]
        backend.close()
    return summarize_calibration(ours, bare, truth)


def _ours(backend: LMStudioBackend, request: ChatRequest) -> Sample:
    async def once() -> Sample:
        async with backend.async_client() as client:
            return request_metrics(await backend.chat(client, MODEL, request))

    return asyncio.run(once())


def summarize_calibration(ours: list[Sample], bare: list[dict[str, float]], truth: Truth) -> JSON:
    def med(rows: list[Any], key: str) -> float:
        return float(statistics.median(r[key] for r in rows))

    ttft, decode, e2e = med(ours, "ttft_s"), med(ours, "decode_tps"), med(ours, "e2e_s")
    bare_ttft, bare_e2e = med(bare, "ttft_s"), med(bare, "e2e_s")
    return {
        "n": len(ours),
        "truth_ttft_s": truth.ttft_s,
        "truth_decode_tps": truth.decode_tps,
        "ttft_s": ttft,
        "decode_tps": decode,
        "ttft_error_ms": (ttft - truth.ttft_s) * 1000.0,
        "decode_tps_error_pct": (decode - truth.decode_tps) / truth.decode_tps * 100.0,
        "bare_ttft_s": bare_ttft,
        "bare_decode_tps": med(bare, "decode_tps"),
        "ttft_vs_bare_ms": (ttft - bare_ttft) * 1000.0,
        "overhead_per_token_us": (e2e - bare_e2e) / truth.tokens * 1e6,
        "e2e_ratio_to_bare": e2e / bare_e2e if bare_e2e else None,
    }
