"""Issue 13, point 8: a streamed answer is bounded in size, and a proxy that
compresses it does not break it. The proxy is a real HTTP server on loopback in
front of the bundled test servers (``hostile_proxy.py``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from pytest_lmbench.backends import make_backend, transport
from pytest_lmbench.backends.base import (
    Backend,
    BackendOptions,
    ChatRequest,
    ChatResult,
    LoadConfig,
)
from pytest_lmbench.errors import StreamError
from pytest_lmbench.testing.doubles import DOUBLES

from .hostile_proxy import HostileProxy, Mode

REQUEST = ChatRequest(prompt="Say something", max_tokens=8, temperature=0.0, seed=1)
# 1 MiB + 16 KiB per max_tokens (backends/body.py, stream_byte_cap)
CAP_MESSAGE = "streamed more than 1,152 KiB for this request; stopped reading"
# The throughput item first calibrates its prompt with a 1-token probe (1 MiB + 16 KiB).
ITEM_CAP_MESSAGE = "*streamed more than 1,040 KiB for this request; stopped reading*"


@pytest.fixture(params=["fast", "httpx"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both streaming readers: the httptools transport and httpx's own."""
    if request.param == "httpx":
        monkeypatch.setattr(transport, "available", lambda: False)
    return str(request.param)


def chat(backend: Backend, key: str) -> ChatResult:
    model = key
    if backend.supports_load:
        loaded = backend.load(key, LoadConfig())
        model = loaded.chat_model or loaded.instance_id

    async def once() -> ChatResult:
        async with backend.async_client() as client:
            return await backend.chat(client, model, REQUEST)

    return asyncio.run(once())


def chat_via(base_url: str, name: str, key: str) -> ChatResult:
    backend = make_backend(name, BackendOptions(base_url=base_url, timeout_s=10))
    try:
        return chat(backend, key)
    finally:
        backend.close()


@pytest.mark.parametrize("name", sorted(DOUBLES))
def test_a_compressing_proxy_in_front_of_the_server_is_read_correctly(
    name: str, reader: str
) -> None:
    # Before: the reader took the raw (gzipped) bytes: "stream ended without a finish reason".
    double = DOUBLES[name]()
    with double.server:
        direct = chat_via(double.server.base_url, name, double.text_model)
        with HostileProxy(double.server.base_url, "gzip") as proxy:
            proxied = chat_via(proxy.base_url, name, double.text_model)
    assert proxied.content == direct.content != ""
    assert proxied.finish_reason == direct.finish_reason
    assert proxied.output_tokens == direct.output_tokens
    # The stream was asked for uncompressed (Ollama loads through its chat route first,
    # as a REST call); this proxy compresses anyway.
    assert proxy.accept_encodings[-1] == "identity"


@pytest.mark.parametrize("mode", ["flood", "bomb"])
def test_a_stream_far_beyond_max_tokens_stops_at_the_cap(mode: Mode, reader: str) -> None:
    double = DOUBLES["openai"]()
    with (
        double.server,
        HostileProxy(double.server.base_url, mode) as proxy,
        pytest.raises(StreamError, match=CAP_MESSAGE) as caught,
    ):
        chat_via(proxy.base_url, "openai", double.text_model)
    assert caught.value.kind == "stream"


def test_an_endless_stream_errors_its_item_and_the_run_goes_on(pytester: pytest.Pytester) -> None:
    folder = pytester.path / "suite" / "throughput"
    folder.mkdir(parents=True)
    case = {"prompt_tokens": 16, "gen_tokens": 8, "concurrency": 1}
    (folder / "grid.json").write_text(json.dumps({"capability": "throughput", "cases": [case]}))
    double = DOUBLES["openai"]()
    with double.server, HostileProxy(double.server.base_url, "flood") as proxy:
        outcome = pytester.runpytest(
            f"--lm-suite-dir={folder.parent}",
            f"--lm-model={double.text_model}",
            "--lm-backend=openai",
            f"--lm-base-url={proxy.base_url}",
            f"--lm-output-dir={pytester.path / 'out'}",
            "--lm-no-db",
            "--lm-formats=json",
            "--lm-runs=1",
            "--lm-warmup=0",
            "-p",
            "no:cacheprovider",
        )
    outcome.assert_outcomes(errors=1)
    outcome.stdout.fnmatch_lines([ITEM_CAP_MESSAGE])
    [item] = json.loads(Path(pytester.path / "out" / "latest.json").read_text())["results"]
    assert item["outcome"] == "error"
    assert item["error_kind"] == "stream"
