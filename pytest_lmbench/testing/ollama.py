"""A fake Ollama server: tags, ps, show, version, chat and generate with NDJSON streaming.

Durations on the final (``done: true``) line are integer nanoseconds computed from
the real timing of the answer (fact sheet §7). Models always load on demand, as
Ollama does; ``keep_alive: 0`` unloads, an empty request loads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from pytest_lmbench.testing.answers import (
    JSON,
    Plan,
    Turn,
    assistant_turns,
    text_of,
    tokenize,
    user_text_of,
)
from pytest_lmbench.testing.engine import EngineError, FakeEngine, FakeModel, Fault, Lookup
from pytest_lmbench.testing.httpserver import (
    EngineServer,
    Exchange,
    NDJSONWriter,
    Route,
    send_json_with_faults,
)
from pytest_lmbench.testing.openai_compat import embedding_vector
from pytest_lmbench.testing.pacing import Pacer, ServerTiming, plan_chunks

VERSION = "0.12.0"
KEEP_ALIVE_S = 300
_PARAMS = re.compile(r"^([\d.]+)\s*([KMBT])", re.IGNORECASE)
_SCALE = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


class _Reject(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def ollama_name(model: FakeModel) -> str:
    """Ollama always shows a tag."""
    return model.key if ":" in model.key else f"{model.key}:latest"


def _details(model: FakeModel) -> JSON:
    return {
        "parent_model": "",
        "format": model.format,
        "family": model.architecture,
        "families": [model.architecture],
        "parameter_size": model.params_string or "",
        "quantization_level": model.quantization,
    }


def _tag(model: FakeModel) -> JSON:
    name = ollama_name(model)
    return {
        "name": name,
        "model": name,
        "modified_at": _now(),
        "size": model.size_bytes,
        "digest": hashlib.sha256(name.encode()).hexdigest(),
        "details": _details(model),
    }


def _capabilities(model: FakeModel) -> list[str]:
    if model.kind == "embedding":
        return ["embedding"]
    caps = ["completion"]
    caps += ["vision"] if model.vision else []
    caps += ["tools"] if model.tool_use else []
    caps += ["thinking"] if model.reasoning else []
    return caps


def _parameter_count(params: str | None) -> int | None:
    found = _PARAMS.match(params or "")
    return int(float(found.group(1)) * _SCALE[found.group(2).upper()]) if found else None


def _images(raw: Any) -> list[bytes]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _Reject(400, "images must be an array of base64 strings")
    try:
        return [base64.b64decode(str(item), validate=True) for item in raw]
    except (binascii.Error, ValueError):
        raise _Reject(400, "illegal base64 data in image") from None


def _options(body: JSON) -> JSON:
    options = body.get("options")
    return options if isinstance(options, dict) else {}


def _turn(body: JSON, *, chat: bool) -> Turn:
    options = _options(body)
    limit = options.get("num_predict")
    texts, images = [], []
    if chat:
        for message in body.get("messages") or []:
            if isinstance(message, dict):
                texts.append(text_of(message.get("content")))
                images += _images(message.get("images"))
    else:
        texts = [t for t in (body.get("system"), body.get("prompt")) if isinstance(t, str)]
        images = _images(body.get("images"))
    return Turn(
        model=str(body.get("model") or ""),
        texts=texts,
        user_text=user_text_of(body),
        images=images,
        max_tokens=limit if isinstance(limit, int) and limit >= 0 else None,
        has_tools=bool(body.get("tools")),
        reasoning_allowed=body.get("think") is not False,
        step=assistant_turns(body.get("messages")) if chat else 0,
    )


def _unloads(body: JSON) -> bool:
    return body.get("keep_alive") in (0, "0", "0s")


def _final_fields(plan: Plan, timing: ServerTiming, load_s: float) -> JSON:
    def ns(seconds: float) -> int:
        return max(0, round(seconds * 1e9))

    return {
        "done": True,
        "done_reason": "length" if plan.finish_reason == "length" else "stop",
        "total_duration": ns(timing.total_s),
        "load_duration": ns(load_s),
        "prompt_eval_count": plan.prompt_tokens,
        "prompt_eval_duration": ns(timing.prompt_eval_s),
        "eval_count": plan.output_tokens,
        "eval_duration": ns(timing.generation_s),
    }


class OllamaTestServer(EngineServer):
    """Fake Ollama on ``http://127.0.0.1:<free port>``, sharing :class:`FakeEngine` knobs."""

    def __init__(self, models: Iterable[FakeModel] = (), engine: FakeEngine | None = None) -> None:
        super().__init__(models, engine)
        self._routes: dict[tuple[str, str], tuple[Route, bool]] = {
            ("GET", "/api/tags"): (self._tags, False),
            ("GET", "/api/ps"): (self._ps, False),
            ("POST", "/api/show"): (self._show, False),
            ("GET", "/api/version"): (self._version, False),
            ("POST", "/api/chat"): (self._chat, True),
            ("POST", "/api/generate"): (self._generate, True),
            ("POST", "/api/embed"): (self._embed, True),
        }

    def __enter__(self) -> OllamaTestServer:
        self.start()
        return self

    # -- request flow hooks ---------------------------------------------------------------

    def route(self, exchange: Exchange) -> tuple[Route, bool] | None:
        return self._routes.get((exchange.method, exchange.path.rstrip("/")))

    def auth_error(self, exchange: Exchange, token_sent: bool) -> None:
        exchange.send_json(401, {"error": "unauthorized"})

    def fault_error(self, exchange: Exchange, fault: Fault) -> None:
        status = fault.status if fault.kind == "http_error" else 200
        if isinstance(fault.body, str):
            exchange.send_bytes(
                status, fault.body.encode(), "text/plain; charset=utf-8", fault.headers
            )
        else:
            exchange.send_json(status, fault.body or {"error": "injected fault"}, fault.headers)

    def unknown_route(self, exchange: Exchange) -> None:
        exchange.send_bytes(404, b"404 page not found", "text/plain")

    # -- listing --------------------------------------------------------------------------

    def _tags(self, ex: Exchange, faults: list[Fault]) -> None:
        tags = [_tag(m) for m in list(self.engine.models.values())]
        send_json_with_faults(ex, 200, {"models": tags}, faults)

    def _ps(self, ex: Exchange, faults: list[Fault]) -> None:
        expires = datetime.now(timezone.utc) + timedelta(seconds=KEEP_ALIVE_S)
        rows = []
        for instance in self.engine.loaded.values():
            model = self.engine.models[instance.key]
            rows.append(
                {
                    **_tag(model),
                    "expires_at": expires.isoformat(),
                    "size_vram": round(model.size_bytes * model.vram_fraction),
                    "context_length": instance.config["context_length"],
                }
            )
        send_json_with_faults(ex, 200, {"models": rows}, faults)

    def _show(self, ex: Exchange, faults: list[Fault]) -> None:
        body = ex.json if isinstance(ex.json, dict) else {}
        name = str(body.get("model") or body.get("name") or "")
        model = self.engine.find_model(name)
        if model is None:
            ex.send_json(404, {"error": f"model '{name}' not found"})
            return
        arch = model.architecture
        info: JSON = {
            "general.architecture": arch,
            f"{arch}.context_length": model.max_context_length,
            f"{arch}.block_count": model.layers,
        }
        if (count := _parameter_count(model.params_string)) is not None:
            info["general.parameter_count"] = count
        reply = {
            "modelfile": f"FROM {ollama_name(model)}\n",
            "parameters": "",
            "template": "{{ .Prompt }}",
            "details": _details(model),
            "model_info": info,
            "capabilities": _capabilities(model),
            "modified_at": _now(),
        }
        send_json_with_faults(ex, 200, reply, faults)

    def _version(self, ex: Exchange, faults: list[Fault]) -> None:
        send_json_with_faults(ex, 200, {"version": VERSION}, faults)

    # -- inference ------------------------------------------------------------------------

    def _chat(self, ex: Exchange, faults: list[Fault]) -> None:
        self._answer(ex, faults, chat=True)

    def _generate(self, ex: Exchange, faults: list[Fault]) -> None:
        self._answer(ex, faults, chat=False)

    def _embed(self, ex: Exchange, faults: list[Fault]) -> None:
        """``POST /api/embed``: one vector per input, counts and nanosecond durations."""
        body = ex.json if isinstance(ex.json, dict) else {}
        raw, name = body.get("input"), str(body.get("model") or "")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            ex.send_json(400, {"error": "invalid input type"})
            return
        try:
            lookup = self.engine.lookup(name, jit=True)
            started = time.perf_counter()
            self.engine.ensure_loaded(lookup, self._load_config(body), evict=False)
            load_ns = round((time.perf_counter() - started) * 1e9)
        except EngineError as err:
            message = f"model '{name}' not found" if err.kind == "model_not_found" else err.message
            ex.send_json(err.status, {"error": message})
            return
        if lookup.model.kind != "embedding":
            ex.send_json(400, {"error": f'"{name}" does not support embeddings'})
            return
        tokens = sum(len(tokenize(t)) for t in texts)
        reply = {
            "model": name,
            "embeddings": [embedding_vector(t) for t in texts],
            "total_duration": load_ns + 1000 * tokens,
            "load_duration": load_ns,
            "prompt_eval_count": tokens,
        }
        send_json_with_faults(ex, 200, reply, faults)

    def _load_or_unload(self, ex: Exchange, body: JSON, lookup: Lookup, chat: bool) -> None:
        """An empty request only loads (or, with ``keep_alive: 0``, unloads) the model."""
        unload = _unloads(body)
        if unload:
            self._unload(lookup.model.key)
        elif lookup.needs_load:
            self.engine.load(lookup.model.key, self._load_config(body))
        reply: JSON = {"model": body.get("model"), "created_at": _now()}
        reply.update(
            {"message": {"role": "assistant", "content": ""}} if chat else {"response": ""}
        )
        reply.update(done_reason="unload" if unload else "load", done=True)
        ex.send_json(200, reply)

    def _unload(self, key: str) -> None:
        for instance in [i for i in self.engine.loaded.values() if i.key == key]:
            self.engine.unload(instance.id)

    def _load_config(self, body: JSON) -> JSON:
        options = _options(body)
        config: JSON = {"context_length": options.get("num_ctx")}
        model = self.engine.find_model(str(body.get("model") or ""))
        layers = options.get("num_gpu")
        if model is not None and isinstance(layers, int) and model.layers:
            config["gpu_offload"] = layers / model.layers  # the share of layers on the GPU
        return config

    def _answer(self, ex: Exchange, faults: list[Fault], *, chat: bool) -> None:
        script, _ = self.engine.snapshot()
        body = ex.json if isinstance(ex.json, dict) else {}
        name = str(body.get("model") or "")
        try:
            turn = _turn(body, chat=chat)
            lookup = self.engine.lookup(name, jit=True)
            if not (body.get("messages") if chat else body.get("prompt")):
                self._load_or_unload(ex, body, lookup, chat)
                return
            plan = self.engine.plan(turn, lookup, faults)
            started = time.perf_counter()
            self.engine.ensure_loaded(lookup, self._load_config(body), evict=False)
            load_s = time.perf_counter() - started
        except _Reject as err:
            ex.send_json(err.status, {"error": err.message})
            return
        except EngineError as err:
            message = f"model '{name}' not found" if err.kind == "model_not_found" else err.message
            ex.send_json(err.status, {"error": message})
            return
        pacer = Pacer(script, ex.received_ns, turn.prompt_tokens, faults)
        if lookup.needs_load:
            pacer.mark_ready()
        answer = _OllamaAnswer(ex, plan, pacer, chat=chat)
        if _unloads(body):
            # Unload before the final line, so a client that saw "done" sees the model gone.
            answer.before_final = lambda: self._unload(plan.model.key)
        answer.send(
            stream=body.get("stream") is not False, load_s=load_s, per_chunk=script.tokens_per_chunk
        )


class _OllamaAnswer:
    """Renders a plan as Ollama chat or generate lines."""

    def __init__(self, ex: Exchange, plan: Plan, pacer: Pacer, *, chat: bool) -> None:
        self.ex, self.plan, self.pacer, self.chat = ex, plan, pacer, chat
        self.before_final: Callable[[], None] = lambda: None

    def _line(self, content: str = "", thinking: str = "", calls: list[JSON] | None = None) -> JSON:
        line: JSON = {"model": self.plan.instance_id, "created_at": _now()}
        if self.chat:
            message: JSON = {"role": "assistant", "content": content}
            if thinking:
                message["thinking"] = thinking
            if calls:
                message["tool_calls"] = calls
            line["message"] = message
        else:
            line["response"] = content
            if thinking:
                line["thinking"] = thinking
        return line

    def _call(self, index: int) -> JSON:
        call = self.plan.tool_calls[index]
        return {"function": {"name": call.name, "arguments": call.arguments_value()}}

    def _final(self, line: JSON, load_s: float) -> JSON:
        timing = self.pacer.timing(self.plan.output_tokens)
        self.before_final()
        return {**line, **_final_fields(self.plan, timing, load_s)}

    def send(self, *, stream: bool, load_s: float, per_chunk: int) -> None:
        chunks = plan_chunks(self.plan, per_chunk, whole_tool_calls=True)
        if not stream:
            deferred = [c.fault for c in self.pacer.run(chunks) if c.fault is not None]
            calls = [self._call(i) for i in range(len(self.plan.tool_calls))]
            line = self._line(self.plan.content_text, self.plan.reasoning_text, calls)
            send_json_with_faults(self.ex, 200, self._final(line, load_s), deferred)
            return
        out = NDJSONWriter(self.ex)
        for chunk in self.pacer.run(chunks):
            if chunk.kind == "content":
                out.line({**self._line(chunk.text), "done": False})
            elif chunk.kind == "reasoning":
                out.line({**self._line(thinking=chunk.text), "done": False})
            elif chunk.kind == "tool_args":
                out.line({**self._line(calls=[self._call(chunk.index)]), "done": False})
            elif chunk.kind == "malformed":
                out.malformed()
            elif chunk.kind == "error":
                fault_body = chunk.fault.body if chunk.fault else None
                out.line(
                    fault_body if isinstance(fault_body, dict) else {"error": "injected error"}
                )
                out.close()
                return
            elif chunk.kind == "cut":
                self.ex.abort()
            elif chunk.kind == "die":
                self.ex.die()
        out.line(self._final(self._line(), load_s))
        out.close()
