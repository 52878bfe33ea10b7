"""Per-request timing from a stream timeline, and its aggregation over requests.

Definitions (all from ``time.perf_counter_ns`` stamps taken where bytes arrive):

- ``ttfr_s``: request sent -> first byte of the response body;
- ``ttft_s``: request sent -> first non-empty content or reasoning delta;
- ``decode_tps``: (output tokens - 1) / (last token time - first token time), so
  the first token's prefill wait is not counted as decoding;
- ``prefill_tps``: prompt tokens / ``ttft_s``;
- ``itl_s``: gaps between token-carrying chunks, divided by the tokens a chunk
  carries on average when the server packs several tokens into one chunk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any, cast

from pytest_lmbench.backends.base import ChatResult
from pytest_lmbench.metrics.stats import summarize
from pytest_lmbench.records import JSON, Sample, Timing, timing_figure

AGGREGATED = ("ttfr_s", "ttft_s", "decode_tps", "prefill_tps", "e2e_s", "itl_s")
SERVER_AGGREGATED = ("server_ttft_s", "server_decode_tps", "server_prefill_tps")
DISAGREEMENT_LIMIT = 0.10


def _seconds(start_ns: int, end_ns: int | None) -> float | None:
    return None if end_ns is None else (end_ns - start_ns) / 1e9


def request_metrics(result: ChatResult) -> Sample:
    t = result.timeline
    ttft_s = _seconds(t.start_ns, t.first_token_ns)
    tokens = result.output_tokens
    decode_tps = None
    if tokens is not None and tokens >= 2 and t.first_token_ns and t.last_token_ns:
        span_s = (t.last_token_ns - t.first_token_ns) / 1e9
        decode_tps = (tokens - 1) / span_s if span_s > 0 else None
    prefill_tps = None
    if result.prompt_tokens and ttft_s:
        prefill_tps = result.prompt_tokens / ttft_s
    sample: Sample = {
        "ttfr_s": _seconds(t.start_ns, t.first_byte_ns),
        "ttft_s": ttft_s,
        "decode_tps": decode_tps,
        "prefill_tps": prefill_tps,
        "e2e_s": _seconds(t.start_ns, t.end_ns),
        "itl_s": inter_token_latencies(t.token_chunk_ns, tokens),
        "output_tokens": tokens,
        "prompt_tokens": result.prompt_tokens,
        "token_count_estimated": result.token_count_estimated,
        "token_count_suspect": result.token_count_suspect,
        "chunks": len(t.token_chunk_ns),
    }
    stats = result.server_stats
    sample["server_ttft_s"] = _server_figure(stats, "server_ttft_s")
    sample["server_decode_tps"] = _server_figure(stats, "server_decode_tps")
    sample["server_prefill_tps"] = _server_figure(stats, "server_prefill_tps")
    return sample


def _server_figure(stats: JSON, key: str) -> float | None:
    value = stats.get(key)
    return float(value) if isinstance(value, (int, float)) else None


def inter_token_latencies(chunk_ns: Sequence[int], output_tokens: int | None) -> list[float]:
    """Chunk gaps in seconds, normalised to per-token gaps (llama-benchy #18, llmperf #99)."""
    if len(chunk_ns) < 2:
        return []
    gaps = [(b - a) / 1e9 for a, b in pairwise(chunk_ns)]
    per_chunk = 1.0
    if output_tokens is not None and output_tokens > len(chunk_ns):
        per_chunk = (output_tokens - 1) / (len(chunk_ns) - 1)
    return [gap / per_chunk for gap in gaps]


def aggregate(samples: Sequence[Sample], *, seed: int = 0) -> Timing:
    """Summaries of every timing metric (n, percentiles, sample std, bootstrap CI)."""
    out: dict[str, Any] = {}
    for key in AGGREGATED + SERVER_AGGREGATED:
        if key == "itl_s":
            values = [v for s in samples for v in s.get("itl_s") or []]
        else:
            found = (cast(Mapping[str, Any], s).get(key) for s in samples)
            values = [v for v in found if isinstance(v, (int, float))]
        out[key] = summarize(values, seed=seed)
    return cast(Timing, out)


def disagreement(timing: Timing) -> JSON:
    """Client vs server medians; ``disagreement`` is True when one differs by > 10 %."""
    checks: JSON = {}
    for ours, theirs in (("ttft_s", "server_ttft_s"), ("decode_tps", "server_decode_tps")):
        client = timing_figure(timing, ours)
        server = timing_figure(timing, theirs)
        if client is None or server is None or server == 0:
            continue
        relative = (client - server) / server
        checks[ours] = {"client": client, "server": server, "relative_diff": relative}
    flagged = any(abs(c["relative_diff"]) > DISAGREEMENT_LIMIT for c in checks.values())
    return {"disagreement": flagged, "comparisons": checks}
