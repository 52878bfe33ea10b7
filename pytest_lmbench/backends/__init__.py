"""Backend registry: option value -> factory. Importing a backend is lazy."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from pytest_lmbench.backends.base import Backend

# name -> (module, class); a new server type is one module and one line here.
REGISTRY: dict[str, tuple[str, str]] = {
    "lmstudio": ("pytest_lmbench.backends.lmstudio", "LMStudioBackend"),
    "openai": ("pytest_lmbench.backends.openai", "OpenAIBackend"),
    "ollama": ("pytest_lmbench.backends.ollama", "OllamaBackend"),
}


def make_backend(
    name: str, base_url: str, *, token: str | None, timeout_s: float, api: str = "auto"
) -> Backend:
    module_name, class_name = REGISTRY[name]
    factory: Callable[..., Backend] = getattr(importlib.import_module(module_name), class_name)
    if name == "lmstudio":
        return factory(base_url, token=token, timeout_s=timeout_s, api=api)
    return factory(base_url, token=token, timeout_s=timeout_s)
