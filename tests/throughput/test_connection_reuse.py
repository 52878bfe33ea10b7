"""Issue 16: measured requests go out on connections the warmup opened.

The test servers number every client connection, so each recorded chat request
says which connection carried it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.testing.doubles import DOUBLES, BackendDouble


def run_grid(
    pytester: pytest.Pytester, double: BackendDouble, case: dict[str, int], *args: str
) -> dict[str, Any]:
    folder = pytester.path / "suite" / "throughput"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "grid.json").write_text(json.dumps({"capability": "throughput", "cases": [case]}))
    outcome = pytester.runpytest(
        f"--lm-suite-dir={folder.parent}",
        f"--lm-model={double.text_model}",
        *double.args,
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "--lm-formats=json",
        "-p",
        "no:cacheprovider",
        *args,
    )
    outcome.assert_outcomes(passed=1)
    [item] = json.loads(Path(pytester.path / "out" / "latest.json").read_text())["results"]
    return item  # type: ignore[no-any-return]


# (double, extra options, the chat route the measured requests must take)
ROUTES = [
    pytest.param("lmstudio", (), "/api/v1/chat", id="lmstudio-native"),
    pytest.param("lmstudio", ("--lm-api=openai",), "/v1/chat/completions", id="lmstudio-v1"),
    pytest.param("ollama", (), "/api/chat", id="ollama"),
    pytest.param("openai", (), "/v1/chat/completions", id="openai"),
]


@pytest.mark.parametrize(("name", "extra", "route"), ROUTES)
def test_ten_sequential_requests_reuse_the_warmup_connection(
    pytester: pytest.Pytester, name: str, extra: tuple[str, ...], route: str
) -> None:
    double = DOUBLES[name]()
    double.server.engine.script.ttft_s = 0.001
    double.server.engine.script.token_interval_s = 0.0005
    with double.server:
        case = {"prompt_tokens": 16, "gen_tokens": 4, "concurrency": 1}
        item = run_grid(pytester, double, case, "--lm-runs=10", "--lm-warmup=1", *extra)
    chats = [r for r in double.chats() if r.path == route]
    warmup, measured = chats[-11], chats[-10:]
    assert {r.connection for r in measured} == {warmup.connection}
    samples = item["timing"]["samples"]
    assert [s["connection_reused"] for s in samples] == [True] * 10
    assert all(s["connect_s"] is None for s in samples)
    assert item["timing"]["connections_opened_measured"] == 0


@pytest.mark.parametrize("name", ["openai", "ollama"])
def test_two_hundred_streams_open_two_hundred_connections(
    pytester: pytest.Pytester, name: str
) -> None:
    # httpx's default pool kept 20 of 100 alive: every wide batch reconnected.
    double = DOUBLES[name]()
    double.server.engine.script.ttft_s = 0.05
    double.server.engine.script.token_interval_s = 0.005
    with double.server:
        case = {"prompt_tokens": 16, "gen_tokens": 4, "concurrency": 200}
        item = run_grid(pytester, double, case, "--lm-runs=2", "--lm-warmup=1")
        opened = double.server.connections_opened
    chats = [r for r in double.chats() if r.path in double.chat_routes]
    warmup, measured = chats[-600:-400], chats[-400:]
    assert len({r.connection for r in warmup}) == 200
    assert {r.connection for r in measured} == {r.connection for r in warmup}
    assert item["timing"]["connections_opened_measured"] == 0
    # Calibration and model listing use their own clients: a handful more, not 200 more.
    assert opened < 200 + 10
