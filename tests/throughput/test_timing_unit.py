"""Per-request timing definitions on hand-made timelines."""

from __future__ import annotations

import pytest

from pytest_lmbench.backends.base import ChatResult, StreamTimeline
from pytest_lmbench.metrics.timing import disagreement, inter_token_latencies, request_metrics

MS = 1_000_000


def result(
    chunks_ms: list[int], tokens: int | None, *, first_byte_ms: int = 5, end_ms: int | None = None
) -> ChatResult:
    timeline = StreamTimeline(
        start_ns=0,
        first_byte_ns=first_byte_ms * MS,
        first_token_ns=chunks_ms[0] * MS if chunks_ms else None,
        last_token_ns=chunks_ms[-1] * MS if chunks_ms else None,
        end_ns=(end_ms if end_ms is not None else (chunks_ms[-1] if chunks_ms else 0) + 1) * MS,
        token_chunk_ns=[c * MS for c in chunks_ms],
    )
    return ChatResult("/x", "m", "text", "", [], "stop", 100, tokens, tokens is None, {}, timeline)


def test_ttft_decode_prefill_e2e() -> None:
    sample = request_metrics(result([300, 320, 340, 360, 380], tokens=5, end_ms=381))
    assert sample["ttfr_s"] == pytest.approx(0.005)
    assert sample["ttft_s"] == pytest.approx(0.300)
    assert sample["decode_tps"] == pytest.approx(4 / 0.080)  # (tokens - 1) / (last - first)
    assert sample["prefill_tps"] == pytest.approx(100 / 0.300)
    assert sample["e2e_s"] == pytest.approx(0.381)


def test_itl_is_normalised_when_chunks_carry_several_tokens() -> None:
    # 4 chunks 60 ms apart carrying 10 tokens: 9 decode tokens over 3 gaps = 3 tokens per gap.
    gaps = inter_token_latencies([0, 60 * MS, 120 * MS, 180 * MS], output_tokens=10)
    assert gaps == pytest.approx([0.020, 0.020, 0.020])


def test_itl_one_token_per_chunk_is_the_raw_gap() -> None:
    assert inter_token_latencies([0, 20 * MS, 50 * MS], output_tokens=3) == pytest.approx(
        [0.020, 0.030]
    )
    assert inter_token_latencies([0], output_tokens=1) == []


def test_no_decode_speed_from_a_single_token() -> None:
    assert request_metrics(result([300], tokens=1))["decode_tps"] is None


def test_disagreement_flags_more_than_ten_percent() -> None:
    timing = {
        "ttft_s": {"median": 0.30},
        "server_ttft_s": {"median": 0.29},
        "decode_tps": {"median": 50.0},
        "server_decode_tps": {"median": 60.0},
    }
    check = disagreement(timing)
    assert check["disagreement"] is True
    assert check["comparisons"]["decode_tps"]["relative_diff"] == pytest.approx(-1 / 6)
    timing["server_decode_tps"] = {"median": 52.0}
    assert disagreement(timing)["disagreement"] is False
