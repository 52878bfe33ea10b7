"""``LMClient``: the ``lm`` fixture, a chat client bound to the model under test."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pytest_lmbench.backends.base import Backend, ChatRequest, ChatResult, ImageInput, LoadedModel
from pytest_lmbench.config.options import Settings
from pytest_lmbench.records import JSON
from pytest_lmbench.runners.common import chat_once, check_model, sampling_of


class LMClient:
    """Synchronous chat for users' own tests: ``lm.chat("2+2?").content``."""

    def __init__(self, backend: Backend, model: LoadedModel, settings: Settings) -> None:
        self.backend = backend
        self.model = model
        self._settings = settings

    def chat(
        self,
        prompt: str,
        *,
        system_prompt: str | None = None,
        tools: Sequence[JSON] = (),
        images: Sequence[bytes] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> ChatResult:
        request = ChatRequest(
            prompt=prompt,
            system_prompt=system_prompt,
            tools=tuple(tools),
            images=tuple(ImageInput(data=image) for image in images),
            max_tokens=max_tokens or self._settings.lm_max_tokens,
            temperature=self._settings.lm_temperature if temperature is None else temperature,
            seed=self._settings.lm_seed if seed is None else seed,
            sampling=sampling_of(self._settings),
        )
        result = asyncio.run(chat_once(self.backend, self.model.chat_model, request))
        check_model(self.model, result, self.backend.label)
        return result
