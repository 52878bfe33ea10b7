"""Pytest fixtures that start fake LM Studio and Ollama servers on loopback.

Registered by the lmbench plugin; without it, add
``pytest_plugins = ["pytest_lmbench.testing.fixtures"]`` to a conftest.
Each fixture is function-scoped: a fresh server, engine and port per test. At
teardown, a bug inside the fake (an exception in a handler) fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import pytest

from pytest_lmbench.testing.engine import FakeModel
from pytest_lmbench.testing.httpserver import FakeHTTPServer
from pytest_lmbench.testing.lmstudio import LMStudioTestServer
from pytest_lmbench.testing.ollama import OllamaTestServer


def default_lmstudio_models() -> list[FakeModel]:
    """A tool-using LLM without vision and a vision model with tools (fresh objects)."""
    return [
        FakeModel(
            key="qwen/qwen3-4b",
            display_name="Qwen3 4B",
            architecture="qwen3",
            params_string="4B",
            max_context_length=40960,
            tool_use=True,
        ),
        FakeModel(
            key="google/gemma-3-4b",
            kind="vlm",
            display_name="Gemma 3 4B",
            architecture="gemma3",
            params_string="4B",
            max_context_length=131072,
            vision=True,
            tool_use=True,
        ),
    ]


def default_ollama_models() -> list[FakeModel]:
    """The same two models under Ollama names."""
    return [
        FakeModel(key="qwen3:4b", architecture="qwen3", params_string="4.0B", tool_use=True),
        FakeModel(
            key="gemma3:4b",
            kind="vlm",
            architecture="gemma3",
            params_string="4.3B",
            vision=True,
            tool_use=True,
        ),
    ]


S = TypeVar("S", bound=FakeHTTPServer)


def _check_clean(server: FakeHTTPServer) -> None:
    if server.errors:
        raise RuntimeError(f"the fake server raised inside a handler: {server.errors[0]!r}")


def _serving(server: S) -> Iterator[S]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
    _check_clean(server)


@pytest.fixture
def lmstudio_server() -> Iterator[LMStudioTestServer]:
    """A started fake LM Studio with ``qwen/qwen3-4b`` and ``google/gemma-3-4b``."""
    server = LMStudioTestServer(default_lmstudio_models())
    yield from _serving(server)


@pytest.fixture
def ollama_server() -> Iterator[OllamaTestServer]:
    """A started fake Ollama with ``qwen3:4b`` and ``gemma3:4b``."""
    server = OllamaTestServer(default_ollama_models())
    yield from _serving(server)
