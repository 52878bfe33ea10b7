"""What the fake model says: tokenization, answer rules and the plan of one answer.

Tokens are whitespace-separated words (each keeps its leading whitespace, so the
streamed pieces join back to the exact text). The answer comes from, in order:
the ``lmbench:answer`` text of an attached PNG, the first matching
:class:`AnswerRule`, "I cannot see any image." for a question about an image
without one, exactly ``max_tokens`` filler words, or ``default_words`` filler words.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_lmbench.testing.models import FakeModel
from pytest_lmbench.testing.png import read_png_text

JSON = dict[str, Any]
ANSWER_KEY = "lmbench:answer"
NO_IMAGE_ANSWER = "I cannot see any image."
TEMPLATE_OVERHEAD_TOKENS = 4
DEFAULT_REASONING = "Let me think about this step by step before I answer."
_FILLER = "the quick brown fox jumps over the lazy dog".split()
_WORD = re.compile(r"\s*\S+")
_IMAGE_WORDS = re.compile(r"\b(image|picture|photo)", re.IGNORECASE)


def tokenize(text: str) -> list[str]:
    """Word tokens keeping their leading whitespace, so ``"".join`` gives the text back."""
    return _WORD.findall(text)


def count_tokens(text: str) -> int:
    return len(text.split())


def text_of(content: Any) -> str:
    """The text of a message content: a string, or text parts (``text`` or v1 ``content``)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text", p.get("content")) for p in content if isinstance(p, dict)]
        return " ".join(t for t in texts if isinstance(t, str))
    return ""


def user_text_of(body: Any) -> str:
    """The last user text of any supported request body; chooses answer rules and faults."""
    if not isinstance(body, dict):
        return ""
    messages = body.get("messages")
    if isinstance(messages, list):
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        return text_of(users[-1].get("content")) if users else ""
    for key in ("input", "prompt"):
        if key in body:
            return text_of(body[key])
    return ""


def filler_text(words: int) -> str:
    """Deterministic filler: the pangram's words, cycled."""
    return " ".join(itertools.islice(itertools.cycle(_FILLER), words))


@dataclass
class AnswerRule:
    """First rule whose ``match`` occurs in the last user text decides the answer.

    Tool calls are ``{"name": str, "arguments": dict | str}``; a str is sent verbatim,
    so it can be invalid JSON. ``step`` scripts a conversation (agentic cases): the
    rule answers only when the request already holds that many answers of the model
    (0: the first turn; None: any turn).
    """

    match: str
    content: str = ""
    reasoning: str = ""
    tool_calls: list[JSON] | None = None
    step: int | None = None

    def applies(self, text: str, step: int) -> bool:
        return self.match in text and (self.step is None or self.step == step)


@dataclass
class Turn:
    """One inference request, protocol-neutral."""

    model: str
    texts: list[str]
    user_text: str
    images: list[bytes] = field(default_factory=list)
    max_tokens: int | None = None
    has_tools: bool = False
    reasoning_allowed: bool = True
    step: int = 0  # answers of the model already in the conversation

    @property
    def prompt_tokens(self) -> int:
        return sum(count_tokens(t) for t in self.texts) + TEMPLATE_OVERHEAD_TOKENS


def assistant_turns(messages: Any) -> int:
    """How many answers of the model a chat request's messages hold."""
    if not isinstance(messages, list):
        return 0
    return sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant")


@dataclass(frozen=True)
class ToolCallPlan:
    id: str
    name: str
    arguments: str  # exactly as sent; may be invalid JSON

    def arguments_value(self) -> Any:
        """Parsed arguments, or the raw string when they are not JSON."""
        try:
            return json.loads(self.arguments)
        except json.JSONDecodeError:
            return self.arguments

    @property
    def fragments(self) -> list[str]:
        return tokenize(self.arguments) or [self.arguments]


@dataclass
class Plan:
    """What the model will say, in tokens, before any of it is sent."""

    model: FakeModel
    instance_id: str  # the name the response carries
    prompt_tokens: int
    reasoning: list[str]
    content: list[str]
    tool_calls: list[ToolCallPlan]
    finish_reason: Literal["stop", "length", "tool_calls"]
    load_s: float | None = None

    @property
    def reasoning_text(self) -> str:
        return "".join(self.reasoning)

    @property
    def content_text(self) -> str:
        return "".join(self.content)

    @property
    def output_tokens(self) -> int:
        calls = sum(len(c.fragments) for c in self.tool_calls)
        return len(self.reasoning) + len(self.content) + calls


def compose(
    turn: Turn,
    model: FakeModel,
    instance_id: str,
    rule: AnswerRule | None,
    *,
    default_words: int,
    corrupt_tool_args: bool = False,
) -> Plan:
    """The plan of one answer; ``instance_id`` is the name the response will carry."""
    image_answer = _image_answer(turn.images)
    reasoning = rule.reasoning if rule else ""
    if not reasoning and model.reasoning:
        reasoning = DEFAULT_REASONING
    if not turn.reasoning_allowed:
        reasoning = ""
    finish: Literal["stop", "length"] = "stop"
    if image_answer is not None:
        content = image_answer
    elif rule is not None:
        content = rule.content
    elif not turn.images and _IMAGE_WORDS.search(turn.user_text):
        content = NO_IMAGE_ANSWER
    elif turn.max_tokens is not None:
        # Throughput runs ask for exactly N tokens: fill the budget and stop on "length".
        content = filler_text(max(0, turn.max_tokens - count_tokens(reasoning)))
        finish = "length"
    else:
        content = filler_text(default_words)
    calls: list[ToolCallPlan] = []
    if rule is not None and rule.tool_calls and turn.has_tools and image_answer is None:
        calls = _tool_call_plans(rule.tool_calls, corrupt_tool_args)
    plan = Plan(
        model=model,
        instance_id=instance_id,
        prompt_tokens=turn.prompt_tokens,
        reasoning=tokenize(reasoning),
        content=tokenize(content),
        tool_calls=calls,
        finish_reason="tool_calls" if calls else finish,
    )
    return _budgeted(plan, turn.max_tokens)


def _tool_call_plans(calls: Iterable[JSON], corrupt: bool) -> list[ToolCallPlan]:
    plans = []
    for call in calls:
        raw = call.get("arguments", {})
        text = raw if isinstance(raw, str) else json.dumps(raw)
        if corrupt:
            text = text.rstrip("}") + ', "oops": '  # cut mid-object: never valid JSON
        call_id = str(random.randint(100_000_000, 999_999_999))
        plans.append(ToolCallPlan(call_id, str(call.get("name", "")), text))
    return plans


def _image_answer(images: list[bytes]) -> str | None:
    for image in images:
        try:
            texts = read_png_text(image)
        except ValueError:
            continue
        if ANSWER_KEY in texts:
            return texts[ANSWER_KEY]
    return None


def _budgeted(plan: Plan, max_tokens: int | None) -> Plan:
    """Cut reasoning, then content, to ``max_tokens``; a cut answer finishes with "length"."""
    if max_tokens is None or len(plan.reasoning) + len(plan.content) <= max_tokens:
        return plan
    plan.reasoning = plan.reasoning[:max_tokens]
    plan.content = plan.content[: max_tokens - len(plan.reasoning)]
    plan.tool_calls = []
    plan.finish_reason = "length"
    return plan
