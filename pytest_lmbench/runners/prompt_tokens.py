"""Prompt token counts for servers whose stream carries none (llama-cpp-python).

Without them ``prefill_tps`` is null, and a ``min_prefill_tps`` gate can only fail
with "not measured". A server with a tokenizer route is asked after the measured
rounds (never between them: a single-slot server would queue the question behind
a generation), once per prompt; every request's prompt is unique.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal, Protocol, runtime_checkable

from pytest_lmbench.backends.base import ChatResult

PromptTokenSource = Literal["server", "tokenizer"]


@runtime_checkable
class CountsTokens(Protocol):
    """A backend that can count tokens (``OpenAIBackend.count_prompt_tokens``)."""

    def count_prompt_tokens(self, text: str) -> int | None: ...


def fill_prompt_tokens(
    backend: object, results: Sequence[ChatResult], prompts: Sequence[str]
) -> tuple[list[ChatResult], PromptTokenSource | None]:
    """``results`` with prompt token counts the server's tokenizer gives where usage had none.

    Returns the results and where their counts come from (None: nowhere).
    """
    missing = [i for i, r in enumerate(results) if r.prompt_tokens is None]
    if not missing:
        return list(results), "server" if results else None
    if not isinstance(backend, CountsTokens):
        return list(results), None
    filled = list(results)
    for index in missing:
        count = backend.count_prompt_tokens(prompts[index])
        if count is None:
            return list(results), None  # partly counted would mix two kinds of figures
        filled[index] = replace(filled[index], prompt_tokens=count)
    return filled, "tokenizer"
