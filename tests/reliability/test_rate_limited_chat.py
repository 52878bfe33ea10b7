"""Issue 13.13: HTTP 429 on a chat is waited out as Retry-After says, asked again a
bounded number of times, counted in the result, and never inside a measured timing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from pytest_lmbench.backends import make_backend
from pytest_lmbench.backends.base import BackendOptions, ChatRequest
from pytest_lmbench.errors import BackendHTTPError
from pytest_lmbench.runners.common import MAX_429_RETRIES, chat_once
from pytest_lmbench.testing import Fault, LMStudioTestServer
from pytest_lmbench.testing.doubles import DOUBLES, BackendDouble

from .conftest import inject, run_session, suite

QWEN = "qwen/qwen3-4b"
TOO_MANY = {"error": {"type": "rate_limited", "message": "slow down"}}


def too_many(retry_after: str, times: int | None = None, route: str | None = None) -> Fault:
    headers = {"Retry-After": retry_after}
    return Fault("http_error", status=429, body=TOO_MANY, headers=headers, times=times, route=route)


@pytest.fixture(params=sorted(DOUBLES))
def double(request: pytest.FixtureRequest) -> Iterator[BackendDouble]:
    made = DOUBLES[request.param]()
    with made.server:
        made.server.engine.script.ttft_s = 0.01
        made.server.engine.script.token_interval_s = 0.001
        yield made


def ask(double: BackendDouble, waits: list[float]) -> float:
    """One chat through the runners' path; its client-measured end-to-end seconds."""
    options = BackendOptions(base_url=double.server.base_url, timeout_s=5.0)
    backend = make_backend(double.name, options)
    try:
        request = ChatRequest(prompt="Say hi", max_tokens=4)
        result = asyncio.run(chat_once(backend, double.text_model, request, waits.append))
    finally:
        backend.close()
    timeline = result.timeline
    assert timeline.end_ns is not None
    return (timeline.end_ns - timeline.start_ns) / 1e9


def test_a_429_is_waited_out_and_the_wait_is_not_in_the_timing(double: BackendDouble) -> None:
    double.server.engine.faults.append(too_many("0.3", times=2, route=double.chat_routes[0]))
    waits: list[float] = []
    started = time.monotonic()
    e2e_s = ask(double, waits)
    assert waits == [0.3, 0.3]
    assert time.monotonic() - started >= 0.6
    # The measured request is the one that was answered: a 10 ms TTFT and four tokens.
    assert e2e_s < 0.25
    chats = [r for r in double.server.engine.requests if r.path in double.chat_routes]
    assert len(chats) == 3


def test_retries_are_bounded(double: BackendDouble) -> None:
    double.server.engine.faults.append(too_many("0", route=double.chat_routes[0]))
    waits: list[float] = []
    with pytest.raises(BackendHTTPError, match="HTTP 429"):
        ask(double, waits)
    assert len(waits) == MAX_429_RETRIES


def test_a_wait_longer_than_lmbench_waits_is_an_error_at_once(double: BackendDouble) -> None:
    double.server.engine.faults.append(too_many("3600", route=double.chat_routes[0]))
    waits: list[float] = []
    with pytest.raises(BackendHTTPError, match="HTTP 429"):
        ask(double, waits)
    assert waits == []


def test_the_result_counts_its_429_waits(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    root = suite(pytester, lms)
    fault = too_many("0.2", times=1)
    inject(lms, "q02", fault)
    session = run_session(pytester, lms, root, [QWEN])
    session.result.assert_outcomes(passed=3)
    flags = session.item("q02")["flags"]
    assert flags["http_429_retries"] == 1
    assert flags["http_429_wait_s"] == pytest.approx(0.2)
    assert "http_429_retries" not in session.item("q01")["flags"]
    # The item's latency is the answered request's, not the wait.
    assert session.item("q02")["timing"]["e2e_s"] < 0.2
