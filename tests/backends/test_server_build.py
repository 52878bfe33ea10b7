"""Each backend's server_info names the server build the fingerprint hashes (None if unknown)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pytest_lmbench.backends.lmstudio import LMStudioBackend
from pytest_lmbench.backends.ollama import OllamaBackend
from pytest_lmbench.backends.openai import OpenAIBackend
from pytest_lmbench.testing import LMStudioTestServer, OllamaTestServer
from pytest_lmbench.testing.ollama import VERSION

MODELS: dict[str, Any] = {"object": "list", "data": [{"id": "m", "object": "model"}]}


def test_ollama_build_is_its_version(ollama_server: OllamaTestServer) -> None:
    backend = OllamaBackend(ollama_server.base_url, timeout_s=5.0)
    info = backend.server_info()
    backend.close()
    assert (info["server_version"], info["build"]) == (VERSION, f"ollama {VERSION}")


def test_lmstudio_has_no_server_wide_build(lmstudio_server: LMStudioTestServer) -> None:
    backend = LMStudioBackend(lmstudio_server.base_url, timeout_s=5.0, lms_path="")
    info = backend.server_info()
    backend.close()
    assert "build" in info
    assert info["build"] is None


def test_openai_route_double_has_no_build(lmstudio_server: LMStudioTestServer) -> None:
    # LM Studio answers /props and /openapi.json with HTTP 200 and a string error.
    backend = OpenAIBackend(lmstudio_server.base_url, timeout_s=5.0)
    info = backend.server_info()
    backend.close()
    assert info["build"] is None
    assert "server_version" not in info


def _openai_info(routes: dict[str, tuple[int, Any]]) -> dict[str, Any]:
    def reply(request: httpx.Request) -> httpx.Response:
        status, body = routes.get(request.url.path, (404, {"detail": "Not Found"}))
        return httpx.Response(status, json=body)

    backend = OpenAIBackend("http://server.test", transport=httpx.MockTransport(reply))
    try:
        return backend.server_info()
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("routes", "version", "build"),
    [
        (
            {"/props": (200, {"build_info": "b5098-2b65ae30", "total_slots": 1})},
            "b5098-2b65ae30",
            "llama.cpp b5098-2b65ae30",
        ),
        (
            {
                "/openapi.json": (
                    200,
                    {"info": {"title": "🦙 llama.cpp Python API", "version": "0.3.9"}},
                )
            },
            "0.3.9",
            "llama-cpp-python 0.3.9",
        ),
        ({"/openapi.json": (200, {"info": {"title": "FastAPI", "version": "0.1.0"}})}, None, None),
        ({"/props": (500, {"error": "boom"})}, None, None),
        ({}, None, None),
    ],
)
def test_openai_build_from_the_server_itself(
    routes: dict[str, tuple[int, Any]], version: str | None, build: str | None
) -> None:
    info = _openai_info({"/v1/models": (200, MODELS), **routes})
    assert info.get("server_version") == version
    assert info["build"] == build
    assert info["models_listed"] == 1
