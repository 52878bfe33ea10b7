"""LM Studio's OpenAI-compatible routes and the legacy v0 REST routes, for the fake server.

``/v1/chat/completions`` and ``/api/v0/chat/completions`` share one implementation;
v0 adds ``stats``, ``model_info`` and ``runtime`` and, by default, sends neither
stats nor usage when streaming (fact sheet §2.2). Error bodies follow §0.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any

from pytest_lmbench.testing.answers import (
    JSON,
    Plan,
    Turn,
    assistant_turns,
    text_of,
    user_text_of,
)
from pytest_lmbench.testing.engine import EngineError, FakeEngine, FakeModel, Fault, Quirks
from pytest_lmbench.testing.httpserver import Exchange, SSEWriter, send_json_with_faults
from pytest_lmbench.testing.pacing import Chunk, Pacer, ServerTiming, plan_chunks

NO_MODELS_LOADED = (
    "No models loaded. Please load a model in the developer page or use the 'lms load' command."
)
RUNTIME: JSON = {
    "name": "llama.cpp-linux-x86_64-avx2",
    "version": "1.52.1",
    "supported_formats": ["gguf"],
}
_STOP_REASONS = {
    "stop": "eosFound",
    "length": "maxPredictedTokensReached",
    "tool_calls": "toolCalls",
}


class RequestError(Exception):
    """A request the server rejects before doing any work; carries the exact reply."""

    def __init__(self, status: int, body: JSON) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def openai_error(
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> JSON:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def openai_engine_error(err: EngineError, engine: FakeEngine, requested: str) -> RequestError:
    if err.kind in ("model_not_found", "not_loaded"):
        keys = "\n".join(engine.models)
        message = f'Model "{requested}" not found. Please specify a valid model.'
        message += f"\n\nYour models:\n\n{keys}"
        return RequestError(404, openai_error(message, param="model", code="model_not_found"))
    if err.kind == "no_models_loaded":
        return RequestError(400, openai_error(NO_MODELS_LOADED, param="model"))
    if err.kind == "load_failed":
        return RequestError(err.status, openai_error(err.message, type_="server_error"))
    return RequestError(err.status, openai_error(err.message, param="messages"))


def planned_answer(
    engine: FakeEngine, turn: Turn, faults: list[Fault], quirks: Quirks, *, chat: bool = True
) -> Plan:
    """Find the model, plan its answer and JIT-load it; failures raise RequestError.

    ``chat=False`` (text completion) also refuses an embedding model.
    """
    try:
        lookup = engine.lookup(turn.model, jit=quirks.jit_load)
        if not chat and lookup.model.kind == "embedding":
            message = f"Model '{lookup.instance_id}' is an embedding model"
            raise RequestError(400, openai_error(message, param="model"))
        plan = engine.plan(turn, lookup, faults)
        _, plan.load_s = engine.ensure_loaded(lookup)
    except EngineError as err:
        raise openai_engine_error(err, engine, turn.model) from None
    return plan


def decode_data_url(url: Any, bad: RequestError) -> bytes:
    """The bytes of a ``data:...;base64,`` URL; anything else raises ``bad``."""
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        raise bad
    try:
        return base64.b64decode(url.split(";base64,", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise bad from None


def _images_of(content: Any) -> list[bytes]:
    if not isinstance(content, list):
        return []
    bad_url = RequestError(400, {"error": "'url' field must be a base64 encoded image."})
    images = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "image_url":
            url = part.get("image_url")
            images.append(
                decode_data_url(url.get("url") if isinstance(url, dict) else url, bad_url)
            )
        elif kind != "text":
            raise RequestError(
                400, {"error": "'content' parts must have type 'text' or 'image_url'"}
            )
    return images


@dataclass(frozen=True)
class ChatOptions:
    stream: bool
    include_usage: bool


def parse_chat(body: Any) -> tuple[Turn, ChatOptions]:
    """An OpenAI chat body as a Turn; raises RequestError with LM Studio's string errors."""
    if not isinstance(body, dict):
        raise RequestError(400, {"error": "Request body must be a JSON object"})
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, {"error": "'messages' field is required"})
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") not in ("json_schema", "text"):
        raise RequestError(400, {"error": "'response_format.type' must be 'json_schema' or 'text'"})
    texts, images = [], []
    for message in messages:
        if isinstance(message, dict):
            _check_tool_message(message)
            texts.append(text_of(message.get("content")))
            images += _images_of(message.get("content"))
    limit = body.get("max_tokens", body.get("max_completion_tokens"))
    tools = body.get("tools")
    options = body.get("stream_options")
    turn = Turn(
        model=str(body.get("model") or ""),
        texts=texts,
        user_text=user_text_of(body),
        images=images,
        max_tokens=limit if isinstance(limit, int) and limit >= 0 else None,
        has_tools=bool(tools) and body.get("tool_choice") != "none",
        reasoning_allowed=body.get("reasoning_effort") != "none",
        step=assistant_turns(messages),
    )
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    return turn, ChatOptions(body.get("stream") is True, include_usage)


def _check_tool_message(message: JSON) -> None:
    # As OpenAI's API: a tool result must name the call it answers.
    if message.get("role") == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise RequestError(400, {"error": "'tool_call_id' is required in a 'tool' message"})


def reported_tokens(plan: Plan, quirks: Quirks) -> tuple[int, int]:
    """(output, reasoning) tokens as the server reports them, off-by-one quirk included."""
    output, reasoning = plan.output_tokens, len(plan.reasoning)
    if quirks.completion_tokens_off_by_one and plan.finish_reason == "length":
        output = max(0, output - 1)
        if not plan.content:
            reasoning = max(0, reasoning - 1)
    return output, reasoning


def usage_of(plan: Plan, quirks: Quirks) -> JSON:
    output, reasoning = reported_tokens(plan, quirks)
    usage: JSON = {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": output,
        "total_tokens": plan.prompt_tokens + output,
    }
    if plan.reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def v0_extras(engine: FakeEngine, plan: Plan, timing: ServerTiming) -> JSON:
    instance = engine.loaded.get(plan.instance_id)
    context = instance.config["context_length"] if instance else 4096
    model = plan.model
    return {
        "stats": {
            "tokens_per_second": timing.tokens_per_second,
            "time_to_first_token": round(timing.ttft_s, 3),
            "generation_time": timing.generation_s,
            "stop_reason": _STOP_REASONS[plan.finish_reason],
        },
        "model_info": {
            "arch": model.architecture,
            "quant": model.quantization,
            "format": model.format,
            "context_length": context,
        },
        "runtime": RUNTIME,
    }


def _message(plan: Plan, quirks: Quirks) -> JSON:
    content: str | None = plan.content_text
    message: JSON = {"role": "assistant"}
    if plan.reasoning and quirks.reasoning_field == "inline":
        content = f"<think>{plan.reasoning_text}</think>\n\n{content}"
    elif plan.reasoning:
        message[quirks.reasoning_field] = plan.reasoning_text
    if plan.tool_calls:
        calls = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in plan.tool_calls
        ]
        message["tool_calls"] = calls
        content = content or None  # LM Studio sends null content beside tool calls
    message["content"] = content
    return message


def random_id(prefix: str) -> str:
    """``chatcmpl-`` / ``cmpl-`` plus 20 lowercase letters and digits, as LM Studio's ids."""
    alphabet = string.ascii_lowercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(20))


class _ChatStream:
    """Renders plan chunks as ``chat.completion.chunk`` SSE events."""

    def __init__(self, ex: Exchange, plan: Plan, quirks: Quirks) -> None:
        self.ex, self.quirks = ex, quirks
        self.sse = SSEWriter(ex)
        self.base: JSON = {
            "id": random_id("chatcmpl-"),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": plan.instance_id,
            "system_fingerprint": plan.instance_id,
        }
        self.plan = plan
        self.think_open = False

    def send(self, delta: JSON, finish: str | None = None, **extra: Any) -> None:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        self.sse.data({**self.base, "choices": [choice], **extra})

    def chunk(self, chunk: Chunk) -> bool:
        """Send one chunk; False when the stream must end here (error event)."""
        if chunk.kind == "reasoning" and self.quirks.reasoning_field == "inline":
            self.send({"content": chunk.text if self.think_open else "<think>" + chunk.text})
            self.think_open = True
        elif chunk.kind == "reasoning":
            self.send({self.quirks.reasoning_field: chunk.text})
        elif chunk.kind == "content":
            prefix = "</think>\n\n" if self.think_open else ""
            self.think_open = False
            self.send({"content": prefix + chunk.text})
        elif chunk.kind == "tool_start":
            call = self.plan.tool_calls[chunk.index]
            function = {"name": call.name, "arguments": ""}
            head = {"index": chunk.index, "id": call.id, "type": "function", "function": function}
            self.send({"tool_calls": [head]})
        elif chunk.kind == "tool_args":
            self.send(
                {"tool_calls": [{"index": chunk.index, "function": {"arguments": chunk.text}}]}
            )
        elif chunk.kind == "malformed":
            self.sse.malformed()
        elif chunk.kind == "error":
            body = chunk.fault.body if chunk.fault and isinstance(chunk.fault.body, dict) else None
            self.sse.data(body or openai_error("Injected stream error", type_="server_error"))
            return False
        elif chunk.kind == "cut":
            self.ex.abort()
        elif chunk.kind == "die":
            self.ex.die()
        return True


def _stream(
    engine: FakeEngine, ex: Exchange, plan: Plan, pacer: Pacer, quirks: Quirks, options: ChatOptions
) -> None:
    v0 = ex.path.startswith("/api/v0/")
    stream = _ChatStream(ex, plan, quirks)
    stream.send({"role": "assistant", "content": ""})
    for chunk in pacer.run(plan_chunks(plan, pacer.script.tokens_per_chunk)):
        if not stream.chunk(chunk):
            stream.sse.close()
            return
    timing = pacer.timing(plan.output_tokens)
    extra: JSON = {}
    if v0 and quirks.v0_stream_stats:
        extra = {"usage": usage_of(plan, quirks), **v0_extras(engine, plan, timing)}
    stream.send({}, plan.finish_reason, **extra)
    if options.include_usage and not v0:
        stream.sse.data({**stream.base, "choices": [], "usage": usage_of(plan, quirks)})
    stream.sse.done()
    stream.sse.close()


def chat_completions(engine: FakeEngine, ex: Exchange, faults: list[Fault], *, v0: bool) -> None:
    """``POST /v1/chat/completions`` and ``POST /api/v0/chat/completions``."""
    script, quirks = engine.snapshot()
    try:
        turn, options = parse_chat(ex.json)
        plan = planned_answer(engine, turn, faults, quirks)
    except RequestError as err:
        ex.send_json(err.status, err.body)
        return
    pacer = Pacer(script, ex.received_ns, turn.prompt_tokens, faults)
    if plan.load_s is not None:
        pacer.mark_ready()
    if options.stream:
        _stream(engine, ex, plan, pacer, quirks, options)
        return
    chunks = plan_chunks(plan, script.tokens_per_chunk)
    deferred = [c.fault for c in pacer.run(chunks) if c.fault is not None]
    timing = pacer.timing(plan.output_tokens)
    body: JSON = {
        "id": random_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": plan.instance_id,
        "choices": [
            {
                "index": 0,
                "logprobs": None,
                "finish_reason": plan.finish_reason,
                "message": _message(plan, quirks),
            }
        ],
        "usage": usage_of(plan, quirks),
        "system_fingerprint": plan.instance_id,
    }
    if v0:
        body.update(v0_extras(engine, plan, timing))
    send_json_with_faults(ex, 200, body, deferred)


def embedding_vector(text: str) -> list[float]:
    """A deterministic 16-d vector of ``text`` (what every fake server embeds)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return [round(b / 127.5 - 1.0, 6) for b in digest[:16]]


def embeddings(engine: FakeEngine, ex: Exchange, faults: list[Fault]) -> None:
    """``POST /v1/embeddings`` and ``/api/v0/embeddings``: deterministic 16-d vectors."""
    body = ex.json if isinstance(ex.json, dict) else {}
    inputs = body.get("input")
    texts = [inputs] if isinstance(inputs, str) else inputs
    name = str(body.get("model") or "")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        ex.send_json(400, {"error": "'input' must be a string or an array of strings"})
        return
    try:
        lookup, _ = engine.ensure_loaded(engine.lookup(name, jit=engine.quirks.jit_load))
    except EngineError as err:
        reply = openai_engine_error(err, engine, name)
        ex.send_json(reply.status, reply.body)
        return
    if lookup.model.kind != "embedding":
        message = f"Model '{lookup.instance_id}' is not an embedding model"
        ex.send_json(400, openai_error(message, param="model"))
        return
    data = [
        {"object": "embedding", "embedding": embedding_vector(t), "index": i}
        for i, t in enumerate(texts)
    ]
    usage = {"prompt_tokens": 0, "total_tokens": 0}
    payload = {"object": "list", "data": data, "model": lookup.instance_id, "usage": usage}
    send_json_with_faults(ex, 200, payload, faults)


def v0_model(model: FakeModel, engine: FakeEngine) -> JSON:
    instances = [i for i in engine.loaded.values() if i.key == model.key]
    kind = "embeddings" if model.kind == "embedding" else ("vlm" if model.vision else "llm")
    row: JSON = {
        "id": model.key,
        "object": "model",
        "type": kind,
        "publisher": model.publisher,
        "arch": model.architecture,
        "compatibility_type": model.format,
        "quantization": model.quantization,
        "state": "loaded" if instances else "not-loaded",
        "max_context_length": model.max_context_length,
    }
    if instances:
        row["loaded_context_length"] = instances[0].config["context_length"]
    if model.tool_use:
        row["capabilities"] = ["tool_use"]  # the key is absent otherwise, as on old servers
    return row


def openai_models(engine: FakeEngine) -> JSON:
    """``GET /v1/models``: every model with JIT on, only loaded instances with JIT off."""
    ids = list(engine.models) if engine.quirks.jit_load else list(engine.loaded)
    data = [{"id": i, "object": "model", "owned_by": "organization_owner"} for i in ids]
    return {"data": data, "object": "list"}
