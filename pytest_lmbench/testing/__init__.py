"""Real HTTP test servers that fake LM Studio and Ollama, for this project's tests and users' CI.

    from pytest_lmbench.testing import AnswerRule, FakeModel, Fault, LMStudioTestServer

    with LMStudioTestServer([FakeModel("qwen/qwen3-4b")]) as server:
        server.engine.answers.append(AnswerRule(match="capital", content="Paris"))
        server.engine.faults.append(Fault("cut", match="boom", after_tokens=3))
        ...  # point the client at server.base_url

Timing is real (``engine.script``), quirks are configurable (``engine.quirks``),
and every request is recorded (``engine.requests``). Images prove themselves:
a PNG whose ``lmbench:answer`` text chunk is set (see :func:`png_with_text`) is
answered with that text.
"""

from __future__ import annotations

from pytest_lmbench.testing.answers import ANSWER_KEY, NO_IMAGE_ANSWER, AnswerRule
from pytest_lmbench.testing.engine import (
    FakeEngine,
    FakeModel,
    Fault,
    LoadedInstance,
    Quirks,
    RecordedRequest,
    Script,
)
from pytest_lmbench.testing.fixtures import default_lmstudio_models, default_ollama_models
from pytest_lmbench.testing.httpserver import Exchange, FakeHTTPServer, NDJSONWriter, SSEWriter
from pytest_lmbench.testing.lmstudio import AUTH_REQUIRED_MESSAGE, LMStudioTestServer
from pytest_lmbench.testing.ollama import OllamaTestServer
from pytest_lmbench.testing.png import png_with_text, read_png_text

__all__ = [
    "ANSWER_KEY",
    "AUTH_REQUIRED_MESSAGE",
    "NO_IMAGE_ANSWER",
    "AnswerRule",
    "Exchange",
    "FakeEngine",
    "FakeHTTPServer",
    "FakeModel",
    "Fault",
    "LMStudioTestServer",
    "LoadedInstance",
    "NDJSONWriter",
    "OllamaTestServer",
    "Quirks",
    "RecordedRequest",
    "SSEWriter",
    "Script",
    "default_lmstudio_models",
    "default_ollama_models",
    "png_with_text",
    "read_png_text",
]
