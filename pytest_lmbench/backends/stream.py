"""Folding a chat stream into a :class:`ChatResult` while stamping its timeline."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pytest_lmbench.backends.base import JSON, ChatResult, StreamTimeline, ToolCall


def as_dict(value: Any) -> JSON:
    """``value`` if it is an object, else ``{}``: a field of the wrong type is ignored
    like a missing one, instead of failing the item with an AttributeError."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_float(value: Any) -> float | None:
    """A finite JSON number as a float; anything else (booleans, NaN, 1e400) is unknown."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def as_int(value: Any) -> int | None:
    """A count or size: a finite, non-negative JSON number as an int, else unknown."""
    number = as_float(value)
    return int(number) if number is not None and number >= 0 else None


# A server count this many times the token chunks we saw cannot be true (a chunk
# rarely carries more than one or two tokens).
SUSPECT_TOKENS_PER_CHUNK = 4


@dataclass
class _PendingCall:
    id: str | None = None
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class StreamAccumulator:
    """Collects deltas; every non-empty text or tool-argument delta is a token chunk."""

    route: str
    timeline: StreamTimeline
    model: str | None = None
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: dict[int, _PendingCall] = field(default_factory=dict)
    finish_reason: str | None = None
    finish_reason_inferred: bool = False
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    server_stats: JSON = field(default_factory=dict)

    def token_chunk(self, arrived_ns: int) -> None:
        # Role-only and empty chunks never get here, so TTFT is the first real token.
        if self.timeline.first_token_ns is None:
            self.timeline.first_token_ns = arrived_ns
        self.timeline.last_token_ns = arrived_ns
        self.timeline.token_chunk_ns.append(arrived_ns)

    def add_content(self, text: str, arrived_ns: int) -> None:
        if text:
            self.content.append(text)
            self.token_chunk(arrived_ns)

    def add_reasoning(self, text: str, arrived_ns: int) -> None:
        if text:
            self.reasoning.append(text)
            self.token_chunk(arrived_ns)

    def add_tool_delta(self, delta: JSON, arrived_ns: int) -> None:
        index = delta.get("index")
        slot = self.calls.setdefault(
            index if isinstance(index, int) else len(self.calls), _PendingCall()
        )
        if delta.get("id"):
            slot.id = str(delta["id"])
        function = as_dict(delta.get("function"))
        if function.get("name"):
            # Some servers repeat the name on later deltas; keep the first non-empty one.
            slot.name = slot.name or str(function["name"])
        fragment = function.get("arguments")
        if isinstance(fragment, str) and fragment:
            slot.arguments.append(fragment)
            self.token_chunk(arrived_ns)

    def add_whole_call(self, name: str, arguments_json: str, call_id: str | None) -> None:
        self.calls[len(self.calls)] = _PendingCall(call_id, name, [arguments_json])

    def result(self, end_ns: int) -> ChatResult:
        self.timeline.end_ns = end_ns
        chunks = len(self.timeline.token_chunk_ns)
        reported = self.output_tokens
        suspect = (
            reported is not None and chunks > 0 and reported > SUSPECT_TOKENS_PER_CHUNK * chunks
        )
        estimated = reported is None or suspect
        # A count that cannot be true is replaced by the one we made, and flagged.
        output_tokens = chunks if estimated else reported
        calls = [
            ToolCall(name=c.name, arguments_json="".join(c.arguments), id=c.id)
            for _, c in sorted(self.calls.items())
        ]
        return ChatResult(
            route=self.route,
            model=self.model,
            content="".join(self.content),
            reasoning="".join(self.reasoning),
            tool_calls=calls,
            finish_reason=self.finish_reason,
            prompt_tokens=self.prompt_tokens,
            output_tokens=output_tokens,
            token_count_estimated=estimated,
            server_stats=self.server_stats,
            timeline=self.timeline,
            finish_reason_inferred=self.finish_reason_inferred,
            token_count_suspect=suspect,
        )
