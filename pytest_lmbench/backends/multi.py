"""Several servers in one session (``--lm-server NAME=BACKEND@URL``): models are ``NAME:KEY``.

One backend per server, each behind the :class:`Backend` protocol as usual; this
one routes every call to the server a model key names and puts the name back on
what comes out (model keys, instance ids, chat names), so the session, the
items and the reports see one backend whose model keys say which server holds
them. The session loads one model at a time, so the server of the model loaded
last gives the clients and labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import httpx

from pytest_lmbench.backends.base import (
    JSON,
    Backend,
    ChatRequest,
    ChatResult,
    LoadConfig,
    LoadResult,
    ModelInfo,
)
from pytest_lmbench.errors import ModelNotFound

SEPARATOR = ":"


class MultiBackend:
    name = "multi"

    def __init__(self, backends: Mapping[str, Backend]) -> None:
        if not backends:
            raise ValueError("MultiBackend needs one server or more")
        self.backends = dict(backends)
        self.base_url = ", ".join(f"{n}={b.base_url}" for n, b in self.backends.items())
        self.supports_load = any(b.supports_load for b in self.backends.values())
        self._current = next(iter(self.backends))
        self.label = self._label()

    def _label(self) -> str:
        return f"{self.backends[self._current].label} ({self._current})"

    def _switch(self, name: str) -> None:
        self._current = name
        self.label = self._label()

    def split(self, key: str) -> tuple[str, Backend, str]:
        """(server name, its backend, the key on that server)."""
        name, separator, rest = key.partition(SEPARATOR)
        if not separator or name not in self.backends:
            known = ", ".join(self.backends)
            message = f"model {key!r} names no server: with --lm-server, use NAME:KEY"
            raise ModelNotFound(f"{message}, NAME one of {known}")
        return name, self.backends[name], rest

    def server_facts(self, key: str) -> JSON:
        """Which server holds ``key``: recorded with the model and in its fingerprint."""
        name, backend, _ = self.split(key)
        return {"server": name, "server_backend": backend.name, "server_url": backend.base_url}

    def server_info(self) -> JSON:
        return {
            "servers": {
                name: {"backend": b.name, "base_url": b.base_url, **b.server_info()}
                for name, b in self.backends.items()
            }
        }

    def list_models(self) -> list[ModelInfo]:
        return [
            _prefixed(name, info)
            for name, backend in self.backends.items()
            for info in backend.list_models()
        ]

    def find_model(self, infos: Mapping[str, ModelInfo], key: str) -> ModelInfo | None:
        try:
            name, backend, rest = self.split(key)
        except ModelNotFound:
            return None
        prefix = name + SEPARATOR
        own = {
            k[len(prefix) :]: _unprefixed(v, prefix)
            for k, v in infos.items()
            if k.startswith(prefix)
        }
        found = backend.find_model(own, rest)
        return None if found is None else _prefixed(name, found)

    def load(self, key: str, config: LoadConfig) -> LoadResult:
        name, backend, rest = self.split(key)
        self._switch(name)
        result = backend.load(rest, config)
        chat_model = result.chat_model
        return replace(
            result,
            instance_id=name + SEPARATOR + result.instance_id,
            chat_model=None if chat_model is None else name + SEPARATOR + chat_model,
        )

    def unload(self, instance_id: str) -> None:
        _, backend, rest = self.split(instance_id)
        backend.unload(rest)

    def async_client(self) -> httpx.AsyncClient:
        return self.backends[self._current].async_client()

    async def chat(self, client: httpx.AsyncClient, model: str, request: ChatRequest) -> ChatResult:
        name, backend, rest = self.split(model)
        result = await backend.chat(client, rest, request)
        # The answering model's name, as the session knows it (check_model compares).
        return replace(result, model=name + SEPARATOR + result.model) if result.model else result

    def count_prompt_tokens(self, text: str) -> int | None:
        counter = getattr(self.backends[self._current], "count_prompt_tokens", None)
        return counter(text) if callable(counter) else None

    def close(self) -> None:
        for backend in self.backends.values():
            backend.close()


def _prefixed(name: str, info: ModelInfo) -> ModelInfo:
    prefix = name + SEPARATOR
    return replace(
        info,
        key=prefix + info.key,
        loaded_instances=tuple(prefix + i for i in info.loaded_instances),
    )


def _unprefixed(info: ModelInfo, prefix: str) -> ModelInfo:
    return replace(
        info,
        key=info.key.removeprefix(prefix),
        loaded_instances=tuple(i.removeprefix(prefix) for i in info.loaded_instances),
    )
