"""Pydantic models of the suite files in ``capability_suites/`` and user suite dirs.

A capability suite file is JSON::

    {"capability": "general_text", "task": "qa", "template": "general_text_qa.md",
     "cases": [{"id": "qa_001", "input": {"question": "..."}, "references": ["Paris"]}]}

The template is a markdown file in the same folder, rendered with the case's
``input`` as Jinja2 variables (undefined variables are an error).
A throughput suite file lists a grid of prompt x generation x concurrency.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pytest_lmbench.records import JSON
from pytest_lmbench.vocabulary import MAX_CONCURRENCY, TASKS

CapabilityName = Literal["general_text", "reasoning", "vision", "tooling", "agentic"]

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExpectedCall(_Strict):
    """A BFCL-style possible answer: each argument lists its acceptable values.

    An empty string ``""`` among the values marks the argument as optional.
    """

    name: str
    arguments: dict[str, list[Any]] = Field(default_factory=dict)


class ScriptedResult(_Strict):
    """What the harness answers to a call of ``name``: scripted, the tool is never run.

    ``when`` picks among several results of one tool: every listed argument must
    be in the call (strings compared after BFCL standardisation).
    """

    name: str
    when: dict[str, Any] = Field(default_factory=dict)
    content: JSON | str


class Step(_Strict):
    """One answer of the model in an agentic case: the calls it should make together."""

    expected_calls: list[ExpectedCall] = Field(min_length=1)
    results: list[ScriptedResult] = Field(default_factory=list)


class Case(_Strict):
    id: str = Field(pattern=_ID_PATTERN)
    input: JSON = Field(default_factory=dict)
    references: list[str] = Field(default_factory=list)
    # Tooling: the calls expected; [] means "no tool should be called".
    expected_calls: list[ExpectedCall] | None = None
    tools: list[JSON] | None = None  # overrides the file's tools
    image: str | None = None  # path relative to the suite file's folder
    min_quality: float | None = Field(default=None, ge=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, gt=0)
    # Tooling: function_call_accuracy also needs arguments valid in the tool's JSON
    # schema (None: the suite file's, else --lm-require-schema).
    require_schema: bool | None = None
    # Agentic: the tool-calling turns expected before the final answer ([]: answer
    # without calling a tool); "strict" keeps their order, "any" lets them come in any.
    steps: list[Step] | None = None
    order: Literal["strict", "any"] = "strict"
    tags: list[str] = Field(default_factory=list)


class CapabilitySuite(_Strict):
    capability: CapabilityName
    task: str
    template: str
    system_prompt: str | None = None
    min_quality: float | None = Field(default=None, ge=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, gt=0)
    require_schema: bool | None = None
    tools: list[JSON] | None = None
    cases: list[JSON]  # validated one by one so errors name the case

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str, info: Any) -> str:
        capability = info.data.get("capability")
        allowed = TASKS.get(capability or "", ())
        if capability and value not in allowed:
            raise ValueError(f"task {value!r} is not one of {', '.join(allowed)}")
        return value


MAX_TOKENS = 1_048_576  # no local model has a longer context today


class ThroughputCase(_Strict):
    """``pp{prompt_tokens}-tg{gen_tokens}-c{concurrency}``, with optional thresholds.

    A ``rate`` (requests per second, open loop) makes it ``...-r{rate}``; a
    ``sweep`` raises concurrency or rate until throughput stops growing
    (``...-csweep``, ``...-rsweep``).
    """

    # Bounds a real model can honour: a typo (an extra zero or three) is a collection
    # error naming the case, not an hour of requests or a thousand stuck streams.
    prompt_tokens: int = Field(gt=0, le=MAX_TOKENS)
    gen_tokens: int = Field(gt=0, le=MAX_TOKENS)
    concurrency: int = Field(default=1, gt=0, le=MAX_CONCURRENCY)
    rate: float | None = Field(default=None, gt=0)
    sweep: Literal["concurrency", "rate"] | None = None
    min_decode_tps: float | None = None
    max_ttft_p95_s: float | None = None
    min_aggregate_tps: float | None = None
    min_prefill_tps: float | None = None
    min_goodput: float | None = None

    @property
    def id(self) -> str:
        size = f"pp{self.prompt_tokens}-tg{self.gen_tokens}"
        if self.sweep is not None:
            return f"{size}-{self.sweep[0]}sweep"
        if self.rate is not None:
            return f"{size}-r{self.rate:g}"
        return f"{size}-c{self.concurrency}"


class EmbeddingCase(_Strict):
    """``embed-pp{prompt_tokens}-b{batch}``: ``batch`` inputs of about ``prompt_tokens`` each."""

    prompt_tokens: int = Field(gt=0, le=MAX_TOKENS)
    batch: int = Field(default=1, gt=0, le=MAX_CONCURRENCY)

    @property
    def id(self) -> str:
        return f"embed-pp{self.prompt_tokens}-b{self.batch}"


class ThroughputSuite(_Strict):
    capability: Literal["throughput"]
    # "embedding": the cases are EmbeddingCase, run only on embedding models.
    kind: Literal["generation", "embedding"] = "generation"
    cases: list[JSON]
