"""Real-time pacing of one answer, and the server-side timing it then reports.

Deadlines are absolute (arrival + TTFT + n * chunk interval), so sleeping never
drifts. The model is taken to finish the prompt one chunk interval before the
first token leaves; hence reported decode speed is ``tokens / (last - prompt end)``,
which equals ``1 / token_interval_s`` and agrees with what a client measures.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from pytest_lmbench.testing.answers import Plan
from pytest_lmbench.testing.engine import Fault, Script

ChunkKind = Literal[
    "reasoning", "content", "tool_start", "tool_args", "malformed", "error", "cut", "die"
]
# Faults the pacer acts on at their ``after_tokens`` position (stall) or turns into chunks.
_FAULT_CHUNKS: dict[str, ChunkKind] = {
    "malformed": "malformed",
    "error_event": "error",
    "cut": "cut",
    "die": "die",
}


@dataclass(frozen=True)
class Chunk:
    """One piece of output, or a fault action at its place in the stream."""

    kind: ChunkKind
    text: str = ""
    tokens: int = 0
    index: int = 0  # tool-call index
    fault: Fault | None = None


def plan_chunks(plan: Plan, per_chunk: int, *, whole_tool_calls: bool = False) -> list[Chunk]:
    """Group tokens ``per_chunk`` at a time: reasoning, then content, then tool calls.

    OpenAI-style streams open each tool call with a ``tool_start`` chunk and then
    send argument fragments; Ollama sends each call whole (``whole_tool_calls``).
    """
    per = max(1, per_chunk)
    chunks: list[Chunk] = []
    texts: tuple[tuple[ChunkKind, list[str]], ...] = (
        ("reasoning", plan.reasoning),
        ("content", plan.content),
    )
    for kind, tokens in texts:
        for i in range(0, len(tokens), per):
            group = tokens[i : i + per]
            chunks.append(Chunk(kind, "".join(group), len(group)))
    for index, call in enumerate(plan.tool_calls):
        fragments = call.fragments
        if whole_tool_calls:
            chunks.append(Chunk("tool_args", call.arguments, len(fragments), index))
            continue
        chunks.append(Chunk("tool_start", index=index))
        for i in range(0, len(fragments), per):
            group = fragments[i : i + per]
            chunks.append(Chunk("tool_args", "".join(group), len(group), index))
    return chunks


@dataclass(frozen=True)
class ServerTiming:
    """What the fake server reports, distorted by the bias and factor knobs."""

    ttft_s: float  # first token minus ready (ready = arrival, or end of a JIT load)
    prompt_eval_s: float
    generation_s: float
    tokens_per_second: float
    total_s: float


def _sleep_until(deadline_ns: int) -> None:
    remaining = deadline_ns - time.perf_counter_ns()
    if remaining > 0:
        time.sleep(remaining / 1e9)


class Pacer:
    """Sends chunks on schedule and notes when the first and last token went out."""

    def __init__(
        self, script: Script, arrived_ns: int, prompt_tokens: int, faults: Iterable[Fault] = ()
    ) -> None:
        self.script = script
        self.arrived_ns = arrived_ns
        self.ready_ns = arrived_ns
        self._prompt_tokens = prompt_tokens
        self._pending = [f for f in faults if f.kind == "stall" or f.kind in _FAULT_CHUNKS]
        self._shift_ns = 0
        self.tokens_sent = 0
        self.first_ns: int | None = None
        self.last_ns: int | None = None

    @property
    def chunk_interval_ns(self) -> int:
        return int(self.script.token_interval_s * max(1, self.script.tokens_per_chunk) * 1e9)

    @property
    def first_due_ns(self) -> int:
        prefill = self.script.prefill_s_per_token * self._prompt_tokens
        return self.ready_ns + int((self.script.ttft_s + prefill) * 1e9) + self._shift_ns

    @property
    def prompt_done_ns(self) -> int:
        return max(self.ready_ns, self.first_due_ns - self.chunk_interval_ns)

    def mark_ready(self) -> None:
        """Start the TTFT clock now (after a JIT load)."""
        self.ready_ns = time.perf_counter_ns()

    def wait_prompt_done(self) -> None:
        _sleep_until(self.prompt_done_ns)

    def run(self, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        """Yield each chunk at its due time, with fault actions spliced in."""
        sent = 0
        for chunk in chunks:
            yield from self._due_faults(final=False)
            if chunk.tokens:
                _sleep_until(self.first_due_ns + sent * self.chunk_interval_ns)
                sent += 1
                now = time.perf_counter_ns()
                self.first_ns = self.first_ns or now
                self.last_ns = now
            yield chunk
            self.tokens_sent += chunk.tokens
        yield from self._due_faults(final=True)

    def _due_faults(self, *, final: bool) -> Iterator[Chunk]:
        for fault in list(self._pending):
            if not final and self.tokens_sent < fault.after_tokens:
                continue
            self._pending.remove(fault)
            if fault.kind == "stall":
                self._shift_ns += int(fault.seconds * 1e9)
                if final:
                    time.sleep(fault.seconds)
            else:
                yield Chunk(_FAULT_CHUNKS[fault.kind], fault=fault)

    def timing(self, output_tokens: int) -> ServerTiming:
        now = time.perf_counter_ns()
        first = self.first_ns if self.first_ns is not None else now
        last = self.last_ns if self.last_ns is not None else first
        decode_start = max(self.ready_ns, first - self.chunk_interval_ns)
        bias = self.script.server_ttft_bias_s
        factor = self.script.server_tps_factor or 1.0
        # A faster-reporting server claims a shorter generation time for the same tokens.
        generation = (last - decode_start) / 1e9 / factor
        return ServerTiming(
            ttft_s=max(0.0, (first - self.ready_ns) / 1e9 + bias),
            prompt_eval_s=max(0.0, (decode_start - self.ready_ns) / 1e9 + bias),
            generation_s=generation,
            tokens_per_second=output_tokens / generation if generation > 0 else 0.0,
            total_s=(now - self.arrived_ns) / 1e9,
        )
