"""A faithful fake LM Studio server: native v1 REST, legacy v0 REST and OpenAI-compatible routes.

Follows shared/reference/lmstudio-api.md: strict v1 request schemas, v1 SSE event
order, unknown routes answering HTTP 200 with a string error, optional bearer
auth, JIT loading with ``model_load.*`` events, and the quirks in :class:`Quirks`.

    with LMStudioTestServer([FakeModel("qwen/qwen3-4b")]) as server:
        httpx.post(server.base_url + "/api/v1/chat", json={"model": "qwen/qwen3-4b", "input": "Hi"})
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any

from pytest_lmbench.testing.answers import JSON, Plan, Turn, text_of, tokenize
from pytest_lmbench.testing.completions import completions
from pytest_lmbench.testing.engine import EngineError, FakeEngine, FakeModel, Fault, Lookup, Quirks
from pytest_lmbench.testing.httpserver import (
    EngineServer,
    Exchange,
    Route,
    SSEWriter,
    send_json_with_faults,
)
from pytest_lmbench.testing.openai_compat import (
    NO_MODELS_LOADED,
    RequestError,
    chat_completions,
    decode_data_url,
    embeddings,
    openai_error,
    openai_models,
    reported_tokens,
    v0_model,
)
from pytest_lmbench.testing.pacing import Pacer, ServerTiming, plan_chunks

# Verbatim from the fact sheet (§0), trailing "..." included.
AUTH_REQUIRED_MESSAGE = (
    "An LM Studio API token is required to make requests to this server, but none was "
    "provided using the Authorization header using the 'Bearer' scheme ..."
)
AUTH_INVALID_MESSAGE = "The provided LM Studio API token is invalid."  # [U] not in the fact sheet
INVALID_UNION: JSON = {
    "error": {
        "message": "Invalid discriminator value. Expected 'text' | 'image'",
        "type": "invalid_request",
        "code": "invalid_union",
        "param": "input",
    }
}
LOAD_KEYS = (
    "model",
    "context_length",
    "eval_batch_size",
    "flash_attention",
    "num_experts",
    "offload_kv_cache_to_gpu",
    "echo_load_config",
)
CHAT_KEYS = (
    "model",
    "input",
    "system_prompt",
    "integrations",
    "stream",
    "temperature",
    "top_p",
    "min_p",
    "top_k",
    "repeat_penalty",
    "max_output_tokens",
    "reasoning",
    "context_length",
    "store",
    "previous_response_id",
)
_REASONING_OPTIONS = ("off", "low", "medium", "high", "on")
_INT_KEYS = ("context_length", "eval_batch_size", "num_experts", "max_output_tokens", "top_k")
_BOOL_KEYS = ("flash_attention", "offload_kv_cache_to_gpu", "echo_load_config", "stream", "store")
_UNIT_KEYS = ("temperature", "top_p", "min_p")  # numbers in [0, 1] (fact sheet §1.4)


def v1_error(
    message: str,
    type_: str = "invalid_request",
    *,
    code: str | None = None,
    param: str | None = None,
) -> JSON:
    error: JSON = {"type": type_, "message": message}
    if code is not None:
        error["code"] = code
    if param is not None:
        error["param"] = param
    return {"error": error}


def _v1_engine_error(err: EngineError, requested: str) -> RequestError:
    if err.kind == "model_not_found":
        message = f"Model {requested} not found in downloaded models"
        return RequestError(404, v1_error(message, "model_not_found"))
    if err.kind == "no_models_loaded":
        return RequestError(400, v1_error(NO_MODELS_LOADED, param="model"))
    if err.kind == "load_failed":
        return RequestError(500, v1_error(err.message, "internal_error"))
    return RequestError(err.status, v1_error(err.message, param="input"))


def _check_schema(body: Any, allowed: tuple[str, ...], required: tuple[str, ...]) -> JSON:
    """Zod-like strict validation of a v1 body; returns it or raises RequestError."""
    if not isinstance(body, dict):
        raise RequestError(400, v1_error("Expected object, received " + type(body).__name__))
    unknown = [k for k in body if k not in allowed]
    if unknown:
        keys = ", ".join(f"'{k}'" for k in unknown)
        message = f"Unrecognized key(s) in object: {keys}"
        raise RequestError(400, v1_error(message, code="unrecognized_keys"))
    for key in required:
        if key not in body:
            message = f'"{key}" is required'
            raise RequestError(400, v1_error(message, code="missing_required_parameter", param=key))
    for key, value in body.items():
        if key in _INT_KEYS and (not isinstance(value, int) or isinstance(value, bool)):
            raise RequestError(400, v1_error("Expected number", code="invalid_type", param=key))
        if key in _BOOL_KEYS and not isinstance(value, bool):
            raise RequestError(400, v1_error("Expected boolean", code="invalid_type", param=key))
        if key in _UNIT_KEYS:
            _check_unit(key, value)
    if not isinstance(body.get("model", ""), str):
        raise RequestError(400, v1_error("Expected string", code="invalid_type", param="model"))
    return body


def _check_unit(key: str, value: Any) -> None:
    # Zod's messages and codes for a bounded number; the exact code is [U] in the fact sheet.
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise RequestError(400, v1_error("Expected number", code="invalid_type", param=key))
    if value > 1:
        message = "Number must be less than or equal to 1"
        raise RequestError(400, v1_error(message, code="too_big", param=key))
    if value < 0:
        message = "Number must be greater than or equal to 0"
        raise RequestError(400, v1_error(message, code="too_small", param=key))


def v1_model(model: FakeModel, engine: FakeEngine) -> JSON:
    """One entry of ``GET /api/v1/models`` (fact sheet §1.1)."""
    embedding = model.kind == "embedding"
    row: JSON = {
        "type": "embedding" if embedding else "llm",
        "publisher": model.publisher,
        "key": model.key,
        "display_name": model.display_name,
    }
    if not embedding:
        row["architecture"] = model.architecture
    row["quantization"] = {"name": model.quantization, "bits_per_weight": model.bits_per_weight}
    row["size_bytes"] = model.size_bytes
    row["params_string"] = model.params_string
    row["loaded_instances"] = [
        {"id": i.id, "config": dict(i.config)} for i in engine.loaded.values() if i.key == model.key
    ]
    row["max_context_length"] = model.max_context_length
    row["format"] = model.format
    if not embedding:
        capabilities: JSON = {"vision": model.vision, "trained_for_tool_use": model.tool_use}
        if model.reasoning:
            capabilities["reasoning"] = {"allowed_options": ["off", "on"], "default": "on"}
        row["capabilities"] = capabilities
    row["description"] = None
    if model.variants:
        row["variants"] = list(model.variants)
        row["selected_variant"] = model.variants[0]
    return row


def _v1_turn(body: JSON, model_reasoning: bool) -> Turn:
    raw = body.get("input")
    bad_image = RequestError(400, v1_error("Invalid image data URL", param="input"))
    texts, images = [], []
    if isinstance(raw, str):
        texts.append(raw)
    elif isinstance(raw, list):
        for item in raw:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "text" and isinstance(item.get("content"), str):
                texts.append(item["content"])
            elif kind == "image" and isinstance(item.get("data_url"), str):
                images.append(decode_data_url(item["data_url"], bad_image))
            else:
                raise RequestError(400, INVALID_UNION)
    else:
        error = v1_error("Expected string or array", code="invalid_type", param="input")
        raise RequestError(400, error)
    reasoning = body.get("reasoning")
    if reasoning is not None and reasoning not in _REASONING_OPTIONS:
        error = v1_error("Invalid enum value", code="invalid_enum_value", param="reasoning")
        raise RequestError(400, error)
    if reasoning not in (None, "off") and not model_reasoning:
        message = f"Model does not support reasoning option '{reasoning}'"
        raise RequestError(400, v1_error(message, param="reasoning"))
    previous = body.get("previous_response_id")
    if previous is not None and not (isinstance(previous, str) and previous.startswith("resp_")):
        message = "previous_response_id must start with 'resp_'"
        raise RequestError(400, v1_error(message, param="previous_response_id"))
    system = body.get("system_prompt")
    limit = body.get("max_output_tokens")
    return Turn(
        model=body["model"],
        texts=[system, *texts] if isinstance(system, str) else texts,
        user_text=text_of(raw),
        images=images,
        max_tokens=limit if isinstance(limit, int) and limit >= 0 else None,
        reasoning_allowed=reasoning != "off",
    )


def v1_result(plan: Plan, timing: ServerTiming, quirks: Quirks, *, store: bool) -> JSON:
    """The non-streaming ``/api/v1/chat`` body, also the ``result`` of ``chat.end``."""
    output: list[JSON] = []
    if plan.reasoning:
        output.append({"type": "reasoning", "content": plan.reasoning_text})
    if plan.content or not output:
        output.append({"type": "message", "content": plan.content_text})
    total, reasoning = reported_tokens(plan, quirks)
    stats: JSON = {
        "input_tokens": plan.prompt_tokens,
        "total_output_tokens": total,
        "reasoning_output_tokens": reasoning,
        "tokens_per_second": timing.tokens_per_second,
        "time_to_first_token_seconds": round(timing.ttft_s, 3),
    }
    if plan.load_s is not None:
        stats["model_load_time_seconds"] = round(plan.load_s, 3)
    body: JSON = {"model_instance_id": plan.instance_id, "output": output, "stats": stats}
    if store:
        body["response_id"] = "resp_" + secrets.token_hex(24)
    return body


class LMStudioTestServer(EngineServer):
    """Fake LM Studio on ``http://127.0.0.1:<free port>``; see the module docstring."""

    default_headers = {"X-Powered-By": "Express"}  # noqa: RUF012 - read-only

    def __init__(self, models: Iterable[FakeModel] = (), engine: FakeEngine | None = None) -> None:
        super().__init__(models, engine)
        self._routes: dict[tuple[str, str], tuple[Route, bool]] = {
            ("GET", "/api/v1/models"): (self._v1_models, False),
            ("POST", "/api/v1/models/load"): (self._v1_load, False),
            ("POST", "/api/v1/models/unload"): (self._v1_unload, False),
            ("POST", "/api/v1/chat"): (self._v1_chat, True),
            ("GET", "/api/v0/models"): (self._v0_models, False),
            ("POST", "/api/v0/chat/completions"): (self._v0_chat, True),
            ("POST", "/api/v0/completions"): (self._v0_completions, True),
            ("POST", "/api/v0/embeddings"): (self._embeddings, True),
            ("GET", "/v1/models"): (self._openai_models, False),
            ("POST", "/v1/chat/completions"): (self._openai_chat, True),
            ("POST", "/v1/embeddings"): (self._embeddings, True),
        }

    def __enter__(self) -> LMStudioTestServer:
        self.start()
        return self

    # -- request flow hooks ---------------------------------------------------------------

    def route(self, exchange: Exchange) -> tuple[Route, bool] | None:
        path = exchange.path.rstrip("/") or "/"
        if path.startswith("/api/v1/") and not self.engine.quirks.has_v1:
            return None  # a 0.3.x server
        found = self._routes.get((exchange.method, path))
        if found is None and exchange.method == "GET" and path.startswith("/api/v0/models/"):
            return self._v0_model, False
        return found

    def auth_error(self, exchange: Exchange, token_sent: bool) -> None:
        message = AUTH_INVALID_MESSAGE if token_sent else AUTH_REQUIRED_MESSAGE
        exchange.send_json(401, v1_error(message, code="invalid_api_key"))

    def fault_error(self, exchange: Exchange, fault: Fault) -> None:
        status = fault.status if fault.kind == "http_error" else 200
        if isinstance(fault.body, str):
            exchange.send_bytes(
                status, fault.body.encode(), "text/plain; charset=utf-8", fault.headers
            )
            return
        body = fault.body
        if body is None and exchange.path.startswith("/api/v1/"):
            body = v1_error("Injected fault", "internal_error")
        elif body is None:
            body = openai_error("Injected fault", type_="server_error")
        exchange.send_json(status, body, fault.headers)

    def unknown_route(self, exchange: Exchange) -> None:
        body = {"error": f"Unexpected endpoint or method. ({exchange.method} {exchange.path})"}
        exchange.send_json(200 if self.engine.quirks.unknown_route_200 else 404, body)

    # -- native v1 ------------------------------------------------------------------------

    def _v1_models(self, ex: Exchange, faults: list[Fault]) -> None:
        models = [v1_model(m, self.engine) for m in list(self.engine.models.values())]
        send_json_with_faults(ex, 200, {"models": models}, faults)

    def _v1_load(self, ex: Exchange, faults: list[Fault]) -> None:
        try:
            body = _check_schema(ex.json, LOAD_KEYS, ("model",))
            model = self.engine.find_model(body["model"])
            if model is None:
                message = f"Model {body['model']} not found in downloaded models"
                raise RequestError(404, v1_error(message, "model_not_found"))
            started = time.perf_counter()
            try:
                instance = self.engine.load(model.key, body)
            except EngineError as err:
                raise _v1_engine_error(err, body["model"]) from None
        except RequestError as err:
            ex.send_json(err.status, err.body)
            return
        reply: JSON = {
            "type": "embedding" if model.kind == "embedding" else "llm",
            "instance_id": instance.id,
            "load_time_seconds": round(time.perf_counter() - started, 3),
            "status": "loaded",
        }
        if body.get("echo_load_config"):
            reply["load_config"] = {k: v for k, v in instance.config.items() if k != "parallel"}
        send_json_with_faults(ex, 200, reply, faults)

    def _v1_unload(self, ex: Exchange, faults: list[Fault]) -> None:
        try:
            body = _check_schema(ex.json, ("instance_id",), ("instance_id",))
        except RequestError as err:
            ex.send_json(err.status, err.body)
            return
        instance_id = str(body["instance_id"])
        if not self.engine.unload(instance_id):
            message = f"No loaded model instance with id '{instance_id}'"
            ex.send_json(404, v1_error(message, "model_not_found"))
            return
        send_json_with_faults(ex, 200, {"instance_id": instance_id}, faults)

    def _v1_chat(self, ex: Exchange, faults: list[Fault]) -> None:
        script, quirks = self.engine.snapshot()
        try:
            body = _check_schema(ex.json, CHAT_KEYS, ("model", "input"))
            try:
                lookup = self.engine.lookup(body["model"], jit=quirks.jit_load)
                if lookup.model.kind == "embedding":
                    message = f"Model {lookup.model.key} is an embedding model and cannot chat"
                    raise RequestError(400, v1_error(message, param="model"))
                turn = _v1_turn(body, lookup.model.reasoning)
                plan = self.engine.plan(turn, lookup, faults)
                if lookup.needs_load and lookup.model.load_error is not None:
                    self.engine.ensure_loaded(lookup)  # raises: a failed load is an HTTP error
            except EngineError as err:
                raise _v1_engine_error(err, str(body["model"])) from None
        except RequestError as err:
            ex.send_json(err.status, err.body)
            return
        pacer = Pacer(script, ex.received_ns, turn.prompt_tokens, faults)
        store = body.get("store", True) is not False
        load_config = {"context_length": body.get("context_length")}  # applies to a JIT load
        if body.get("stream") is True:
            stream = _V1ChatStream(self.engine, ex, plan, pacer)
            stream.run(lookup, quirks, load_config, store=store)
            return
        lookup, plan.load_s = self.engine.ensure_loaded(lookup, load_config)
        if plan.load_s is not None:
            pacer.mark_ready()
        chunks = plan_chunks(plan, script.tokens_per_chunk)
        deferred = [c.fault for c in pacer.run(chunks) if c.fault is not None]
        result = v1_result(plan, pacer.timing(plan.output_tokens), quirks, store=store)
        send_json_with_faults(ex, 200, result, deferred)

    # -- v0 and OpenAI-compatible ---------------------------------------------------------

    def _v0_models(self, ex: Exchange, faults: list[Fault]) -> None:
        rows = [v0_model(m, self.engine) for m in list(self.engine.models.values())]
        send_json_with_faults(ex, 200, {"object": "list", "data": rows}, faults)

    def _v0_model(self, ex: Exchange, faults: list[Fault]) -> None:
        key = ex.path.rstrip("/").removeprefix("/api/v0/models/")
        model = self.engine.find_model(key)
        if model is None:
            message = f'Model "{key}" not found.'
            ex.send_json(404, openai_error(message, code="model_not_found"))
            return
        send_json_with_faults(ex, 200, v0_model(model, self.engine), faults)

    def _v0_chat(self, ex: Exchange, faults: list[Fault]) -> None:
        chat_completions(self.engine, ex, faults, v0=True)

    def _v0_completions(self, ex: Exchange, faults: list[Fault]) -> None:
        completions(self.engine, ex, faults)

    def _openai_chat(self, ex: Exchange, faults: list[Fault]) -> None:
        chat_completions(self.engine, ex, faults, v0=False)

    def _openai_models(self, ex: Exchange, faults: list[Fault]) -> None:
        send_json_with_faults(ex, 200, openai_models(self.engine), faults)

    def _embeddings(self, ex: Exchange, faults: list[Fault]) -> None:
        embeddings(self.engine, ex, faults)


class _V1ChatStream:
    """``/api/v1/chat`` SSE: chat.start, model_load.*, prompt_processing.*, blocks, chat.end."""

    def __init__(self, engine: FakeEngine, ex: Exchange, plan: Plan, pacer: Pacer) -> None:
        self.engine, self.ex, self.plan, self.pacer = engine, ex, plan, pacer
        self.sse = SSEWriter(ex)
        self.block: str | None = None
        self.sent: dict[str, list[str]] = {"reasoning": [], "content": []}

    def event(self, name: str, **fields: Any) -> None:
        self.sse.event(name, {"type": name, **fields})

    def switch(self, block: str | None) -> None:
        """Close the open reasoning/message block and open another."""
        if block == self.block:
            return
        if self.block is not None:
            self.event(f"{self.block}.end")
        if block is not None:
            self.event(f"{block}.start")
        self.block = block

    def run(self, lookup: Lookup, quirks: Quirks, load_config: JSON, *, store: bool) -> None:
        instance_id = self.plan.instance_id
        self.event("chat.start", model_instance_id=instance_id)
        if lookup.needs_load:
            self.event("model_load.start", model_instance_id=instance_id)
            _, self.plan.load_s = self.engine.ensure_loaded(lookup, load_config)
            self.event("model_load.progress", model_instance_id=instance_id, progress=1.0)
            load_time = round(self.plan.load_s or 0.0, 3)
            self.event("model_load.end", model_instance_id=instance_id, load_time_seconds=load_time)
            self.pacer.mark_ready()
        self.event("prompt_processing.start")
        self.pacer.wait_prompt_done()
        self.event("prompt_processing.progress", progress=1.0)
        self.event("prompt_processing.end")
        for chunk in self.pacer.run(plan_chunks(self.plan, self.pacer.script.tokens_per_chunk)):
            if chunk.kind in ("reasoning", "content"):
                self.switch("reasoning" if chunk.kind == "reasoning" else "message")
                self.event(f"{self.block}.delta", content=chunk.text)
                self.sent[chunk.kind] += tokenize(chunk.text)
            elif chunk.kind == "malformed":
                self.sse.malformed("message.delta")
            elif chunk.kind == "error":
                self.switch(None)
                fault_body = chunk.fault.body if chunk.fault else None
                error = fault_body if isinstance(fault_body, dict) else None
                self.event("error", **(error or v1_error("Injected stream error", "unknown")))
                # chat.end still follows, with what was generated so far.
                self.plan.reasoning, self.plan.content = (
                    self.sent["reasoning"],
                    self.sent["content"],
                )
                break
            elif chunk.kind == "cut":
                self.ex.abort()
            elif chunk.kind == "die":
                self.ex.die()
        self.switch(None)
        timing = self.pacer.timing(self.plan.output_tokens)
        self.event("chat.end", result=v1_result(self.plan, timing, quirks, store=store))
        self.sse.close()
