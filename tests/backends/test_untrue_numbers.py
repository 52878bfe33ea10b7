"""Numbers a server sends that cannot be true are unknown or flagged, never a traceback."""

from __future__ import annotations

import json
import math

import pytest

from pytest_lmbench.backends.base import StreamTimeline
from pytest_lmbench.backends.stream import StreamAccumulator, as_float, as_int


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400", "-1", "true", '"7"'])
def test_a_count_that_is_not_a_finite_non_negative_number_is_unknown(text: str) -> None:
    value = json.loads(text)  # Python's json reads NaN and Infinity as a server may send them
    assert as_int(value) is None


@pytest.mark.parametrize("text", ["NaN", "Infinity", "1e400", "true"])
def test_a_figure_that_is_not_finite_is_unknown(text: str) -> None:
    assert as_float(json.loads(text)) is None


def test_plain_numbers_still_read() -> None:
    assert as_int(12) == 12
    assert as_int(12.0) == 12
    assert as_float(-0.5) == -0.5
    assert math.isclose(as_float(3) or 0, 3.0)


def _stream(chunks: int, reported: int | None) -> StreamAccumulator:
    acc = StreamAccumulator("/v1/chat/completions", StreamTimeline(start_ns=0))
    for i in range(chunks):
        acc.add_content("tok ", arrived_ns=1_000 * (i + 1))
    acc.output_tokens = reported
    return acc


def test_a_server_count_far_beyond_what_was_streamed_is_replaced_and_flagged() -> None:
    result = _stream(10, 1_000_000).result(end_ns=20_000)
    assert result.output_tokens == 10
    assert result.token_count_suspect
    assert result.token_count_estimated


@pytest.mark.parametrize(("reported", "expected"), [(10, 10), (25, 25), (None, 10)])
def test_a_plausible_server_count_is_kept(reported: int | None, expected: int) -> None:
    result = _stream(10, reported).result(end_ns=20_000)
    assert result.output_tokens == expected
    assert not result.token_count_suspect
    assert result.token_count_estimated is (reported is None)
