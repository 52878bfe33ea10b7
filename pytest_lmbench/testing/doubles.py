"""Each backend's test double, as the shared backend test matrix runs it.

The matrix (``backend_double`` in the project's ``tests/conftest.py``) runs the
same integration tests on every backend of the registry against the double
named here, so a new backend adds its entry to :data:`DOUBLES`: how to start
its double, which models to ask for, which routes carry inference and what its
load and unload requests look like. A third-party backend describes its own
double with a :class:`BackendDouble` as well, for its contract tests
(:mod:`pytest_lmbench.testing.contract`) and its pytester runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pytest_lmbench.testing.engine import RecordedRequest
from pytest_lmbench.testing.fixtures import default_lmstudio_models, default_ollama_models
from pytest_lmbench.testing.httpserver import EngineServer
from pytest_lmbench.testing.lmstudio import LMStudioTestServer
from pytest_lmbench.testing.ollama import OllamaTestServer

LoadEvent = Callable[[RecordedRequest], "str | None"]


@dataclass
class BackendDouble:
    """A backend's test double with what a pytester run needs to reach it."""

    name: str  # the --lm-backend value
    # Any server on the shared FakeEngine: a plugin's double is one too.
    server: EngineServer
    text_model: str
    vision_model: str
    chat_routes: tuple[str, ...]  # where inference goes
    supports_load: bool
    load_event: LoadEvent  # "load", "unload" or None for a request the server saw

    @property
    def args(self) -> list[str]:
        return [f"--lm-backend={self.name}", f"--lm-base-url={self.server.base_url}"]

    def _event(self, request: RecordedRequest) -> str | None:
        event = self.load_event(request)
        if event is not None:
            return event
        return "chat" if request.path in self.chat_routes else None

    def events(self) -> list[str]:
        """ "load", "chat" and "unload" in the order the server saw them."""
        found = [self._event(r) for r in self.server.engine.requests]
        return [e for e in found if e is not None]

    def chats(self) -> list[RecordedRequest]:
        """Inference requests, with their JSON bodies."""
        return [r for r in self.server.engine.requests if self._event(r) == "chat"]


def _lmstudio_load_event(request: RecordedRequest) -> str | None:
    if request.path in ("/api/v1/models/load", "/api/v1/models/unload"):
        return request.path.rsplit("/", 1)[-1]
    return None


def _ollama_load_event(request: RecordedRequest) -> str | None:
    body = request.json if isinstance(request.json, dict) else {}
    if request.path == "/api/chat" and not body.get("messages"):
        # Ollama loads and unloads with an empty chat (keep_alive 0 unloads).
        return "unload" if body.get("keep_alive") in (0, "0", "0s") else "load"
    return None


def _nothing_to_load(request: RecordedRequest) -> str | None:
    return None


def lmstudio_double() -> BackendDouble:
    routes = ("/api/v1/chat", "/v1/chat/completions")
    server = LMStudioTestServer(default_lmstudio_models())
    return BackendDouble(
        "lmstudio", server, "qwen/qwen3-4b", "google/gemma-3-4b", routes, True, _lmstudio_load_event
    )


def ollama_double() -> BackendDouble:
    server = OllamaTestServer(default_ollama_models())
    return BackendDouble(
        "ollama", server, "qwen3:4b", "gemma3:4b", ("/api/chat",), True, _ollama_load_event
    )


def openai_double() -> BackendDouble:
    """The LM Studio double's ``/v1`` routes: an OpenAI-compatible server with nothing to load."""
    server = LMStudioTestServer(default_lmstudio_models())
    routes = ("/v1/chat/completions",)
    return BackendDouble(
        "openai", server, "qwen/qwen3-4b", "google/gemma-3-4b", routes, False, _nothing_to_load
    )


# backend name (pytest_lmbench.backends.REGISTRY) -> its double
DOUBLES: dict[str, Callable[[], BackendDouble]] = {
    "lmstudio": lmstudio_double,
    "ollama": ollama_double,
    "openai": openai_double,
}
