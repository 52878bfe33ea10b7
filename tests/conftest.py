"""Shared test setup.

pytester's in-process runs restore ``sys.modules`` afterwards; C extensions such
as numpy cannot be imported a second time, and httpx maps the exceptions of the
httpcore copy it saw first. So everything the plugin imports lazily is imported
here once, before any inner run, and one failed connection warms httpx up.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import pytest_lmbench.backends.lmstudio
import pytest_lmbench.backends.ollama
import pytest_lmbench.backends.openai
import pytest_lmbench.metrics.scoring
import pytest_lmbench.metrics.stats
import pytest_lmbench.metrics.tools
import pytest_lmbench.reporting.html_report
import pytest_lmbench.runners.capability
import pytest_lmbench.runners.throughput
import pytest_lmbench.sampling  # noqa: F401
from pytest_lmbench.storage.store import open_store
from pytest_lmbench.testing import (
    LMStudioTestServer,
    OllamaTestServer,
    RecordedRequest,
    default_lmstudio_models,
    default_ollama_models,
)


def _warm_httpx() -> None:
    with httpx.Client(timeout=1) as client, contextlib.suppress(httpx.TransportError):
        client.get("http://127.0.0.1:9/")


_warm_httpx()


def _warm_store() -> None:
    # Opening a store imports SQLAlchemy's dialect and Alembic's runtime lazily.
    with tempfile.TemporaryDirectory() as folder:
        open_store(f"sqlite:///{Path(folder) / 'warm.db'}").close()


_warm_store()


# -- one integration test, three backends --------------------------------------------------


@dataclass
class BackendDouble:
    """A backend's test double with what a pytester run needs to reach it.

    ``openai`` talks to the LM Studio double's ``/v1`` routes: an OpenAI-compatible
    server with nothing to load.
    """

    name: str  # the --lm-backend value
    server: LMStudioTestServer | OllamaTestServer
    text_model: str
    vision_model: str
    chat_routes: tuple[str, ...]  # where inference goes
    supports_load: bool

    @property
    def args(self) -> list[str]:
        return [f"--lm-backend={self.name}", f"--lm-base-url={self.server.base_url}"]

    def _event(self, request: RecordedRequest) -> str | None:
        body = request.json if isinstance(request.json, dict) else {}
        if self.name == "ollama" and request.path == "/api/chat" and not body.get("messages"):
            # Ollama loads and unloads with an empty chat (keep_alive 0 unloads).
            return "unload" if body.get("keep_alive") in (0, "0", "0s") else "load"
        if request.path in ("/api/v1/models/load", "/api/v1/models/unload"):
            return request.path.rsplit("/", 1)[-1]
        return "chat" if request.path in self.chat_routes else None

    def events(self) -> list[str]:
        """ "load", "chat" and "unload" in the order the server saw them."""
        found = [self._event(r) for r in self.server.engine.requests]
        return [e for e in found if e is not None]

    def chats(self) -> list[RecordedRequest]:
        """Inference requests, with their JSON bodies."""
        return [r for r in self.server.engine.requests if self._event(r) == "chat"]


BACKEND_NAMES = ("lmstudio", "ollama", "openai")


def make_double(name: str) -> BackendDouble:
    if name == "ollama":
        return BackendDouble(
            name,
            OllamaTestServer(default_ollama_models()),
            "qwen3:4b",
            "gemma3:4b",
            ("/api/chat",),
            supports_load=True,
        )
    server = LMStudioTestServer(default_lmstudio_models())
    if name == "lmstudio":
        routes = ("/api/v1/chat", "/v1/chat/completions")
        return BackendDouble(name, server, "qwen/qwen3-4b", "google/gemma-3-4b", routes, True)
    openai = ("/v1/chat/completions",)
    return BackendDouble(name, server, "qwen/qwen3-4b", "google/gemma-3-4b", openai, False)


@pytest.fixture(params=BACKEND_NAMES)
def backend_double(request: pytest.FixtureRequest) -> Iterator[BackendDouble]:
    """Each backend against its double; narrow it with ``indirect`` parametrization."""
    double = make_double(request.param)
    with double.server:
        yield double
    if double.server.errors:
        raise RuntimeError(f"the fake server raised inside a handler: {double.server.errors[0]!r}")


def run_throughput_case(
    pytester: pytest.Pytester, base_url: str, model: str, case: dict[str, int], *args: str
) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run one throughput case (a one-case grid) through the plugin; its JSON result."""
    folder = pytester.path / "suite" / "throughput"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "grid.json").write_text(json.dumps({"capability": "throughput", "cases": [case]}))
    result = pytester.runpytest(
        f"--lm-suite-dir={folder.parent}",
        f"--lm-model={model}",
        f"--lm-base-url={base_url}",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "-p",
        "no:cacheprovider",
        *args,
    )
    [item] = json.loads((pytester.path / "out" / "latest.json").read_text())["results"]
    return result, item
