"""Prompts of a requested token length, calibrated from the server's own counts.

Each request starts with a unique prefix so a prompt (prefix) cache cannot make
prefill look faster than it is.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from pytest_lmbench.backends.base import Backend, ChatRequest
from pytest_lmbench.runners.common import chat_once

_WORDS = (
    "river mountain lantern harvest copper meadow signal orchard granite harbor "
    "compass thunder velvet archive beacon canyon ember falcon glacier horizon "
    "island jasmine kettle ladder marble nectar oyster pepper quartz ribbon "
    "saddle timber umbrella valley willow yonder zephyr anchor bramble candle"
).split()
INSTRUCTION = (
    "Read the notes below, then write a long, detailed essay that expands on every one of them."
)
PROBE_WORDS = (64, 320)
# Used only when the server reports no prompt tokens; flagged as an estimate.
FALLBACK_TOKENS_PER_WORD = 1.3


def filler(n_words: int) -> str:
    return " ".join(_WORDS[i % len(_WORDS)] for i in range(max(0, n_words)))


def unique_prompt(n_words: int) -> str:
    return f"[{secrets.token_hex(6)}] {INSTRUCTION}\nNotes: {filler(n_words)}"


@dataclass(frozen=True)
class PromptCalibration:
    overhead_tokens: float
    tokens_per_word: float
    estimated: bool

    def words_for(self, prompt_tokens: int) -> int:
        return max(1, round((prompt_tokens - self.overhead_tokens) / self.tokens_per_word))


async def calibrate(backend: Backend, model: str) -> PromptCalibration:
    """Two 1-token probes of different lengths give the slope and the fixed overhead."""
    counts = []
    for words in PROBE_WORDS:
        request = ChatRequest(prompt=unique_prompt(words), max_tokens=1, temperature=0.0)
        result = await chat_once(backend, model, request)
        counts.append(result.prompt_tokens)
    if counts[0] is None or counts[1] is None or counts[1] <= counts[0]:
        return PromptCalibration(0.0, FALLBACK_TOKENS_PER_WORD, estimated=True)
    slope = (counts[1] - counts[0]) / (PROBE_WORDS[1] - PROBE_WORDS[0])
    overhead = counts[0] - slope * PROBE_WORDS[0]
    return PromptCalibration(overhead, slope, estimated=False)
