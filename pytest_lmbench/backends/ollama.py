"""Ollama: native ``/api`` routes for listing, loading, unloading and NDJSON chat with durations.

Ollama has no separate load call: a chat with no messages loads a model (and one
with ``keep_alive: 0`` unloads it). Every timing figure comes from the final
``done: true`` line, in nanoseconds; they are kept raw beside seconds and tok/s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import httpx

from pytest_lmbench.backends import body as body_bounds
from pytest_lmbench.backends import embeddings, http, rest, sampling
from pytest_lmbench.backends.base import (
    JSON,
    AssistantTurn,
    BackendOptions,
    ChatRequest,
    ChatResult,
    LoadConfig,
    LoadResult,
    ModelInfo,
    StreamTimeline,
    ToolResult,
)
from pytest_lmbench.backends.ollama_models import block_count, model_from_tag, tag_name
from pytest_lmbench.backends.stream import StreamAccumulator, as_dict, as_int, as_list
from pytest_lmbench.errors import BackendHTTPError, LoadFailed, ModelNotFound, StreamError

LABEL = "Ollama"
CHAT_ROUTE = "/api/chat"
# Raw fields of the final line, all nanoseconds except the counts.
DURATION_FIELDS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_cached_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)
NOT_PER_REQUEST = {
    "flash_attention": "Ollama sets flash attention server-wide (OLLAMA_FLASH_ATTENTION)",
    "kv_cache_quant": "Ollama sets the KV cache type server-wide (OLLAMA_KV_CACHE_TYPE)",
    "parallel": "Ollama sets parallel requests server-wide (OLLAMA_NUM_PARALLEL)",
    "unified_kv_cache": "Ollama has no unified KV cache setting",
    "mlock": "Ollama's request options have no use_mlock (removed from its runner options)",
    "rope_freq_base": "Ollama's request options have no RoPE frequency base (removed)",
    "rope_freq_scale": "Ollama's request options have no RoPE frequency scale (removed)",
}
# Load settings that are runner options of a request (api.Runner). Every request for
# the model carries them: Ollama reloads a model whose runner options differ.
RUNNER_OPTIONS = {
    "gpu_layers": "num_gpu",
    "batch_size": "num_batch",
    "threads": "num_thread",
    "mmap": "use_mmap",
}
NO_LAYER_COUNT = "/api/show gives no block_count to turn the offload ratio into num_gpu layers"
LAYERS_WIN = "--lm-gpu-layers sets num_gpu"
# Every sampling setting is an Ollama option of the same name.
SAMPLING_OPTIONS = sampling.SAME_NAMES


class OllamaBackend:
    """A local Ollama server (default ``http://localhost:11434``)."""

    name = "ollama"
    label = LABEL
    supports_load = True

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = 120.0,
        keep_alive: str = "30m",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._keep_alive = keep_alive
        self._rest = rest.RestClient(
            base_url, LABEL, token=token, timeout_s=timeout_s, transport=transport
        )
        # model -> the runner options it was loaded with, which its chats repeat.
        self._runner_options: dict[str, JSON] = {}

    # -- REST helpers -------------------------------------------------------------------

    def _request(self, method: str, path: str, body: JSON | None = None) -> tuple[int, Any]:
        return self._rest.request(method, path, body)

    def _checked(self, method: str, path: str, body: JSON | None = None, *, what: str) -> Any:
        status, payload = self._request(method, path, body)
        err = http.error_from_body(status, payload, label=LABEL, what=what)
        if err is not None:
            model = _model_of(body)
            # A 404 on a route that names a model means the model; elsewhere, the route.
            raise self._not_found(err, model) if status == 404 and model else err
        return payload

    def _optional(self, method: str, path: str, body: JSON | None = None) -> JSON | None:
        """A route older servers may lack: an error answer means "unknown", not failure."""
        status, payload = self._request(method, path, body)
        if status >= 400 or not isinstance(payload, dict) or "error" in payload:
            return None
        return payload

    def _not_found(self, err: BackendHTTPError, model: str | None) -> ModelNotFound:
        return ModelNotFound(
            not_found_message(str(err), model, self._model_names()),
            status=err.status,
            error_type=err.error_type,
            code=err.code,
        )

    def _model_names(self) -> list[str]:
        try:
            tags = self._optional("GET", "/api/tags")
        except Exception:  # the list only decorates an error message
            return []
        return tag_names(tags)

    def _ps_entry(self, key: str) -> JSON | None:
        ps = self._optional("GET", "/api/ps") or {}
        return next(
            (m for m in ps.get("models") or [] if isinstance(m, dict) and _matches(m, key)), None
        )

    # -- Backend protocol ---------------------------------------------------------------

    def server_info(self) -> JSON:
        payload = self._checked("GET", "/api/version", what="version")
        version = payload.get("version") if isinstance(payload, dict) else None
        # Ollama names no build beyond its release version, which fixes the binary.
        build = f"ollama {version}" if isinstance(version, str) and version else None
        return {"backend": self.name, "label": LABEL, "server_version": version, "build": build}

    def list_models(self) -> list[ModelInfo]:
        tags = self._checked("GET", "/api/tags", what="list models")
        ps = self._optional("GET", "/api/ps") or {}
        loaded = [m for m in ps.get("models") or [] if isinstance(m, dict)]
        models = []
        for raw in tags.get("models") or [] if isinstance(tags, dict) else []:
            if isinstance(raw, dict):
                show = self._optional("POST", "/api/show", {"model": tag_name(raw)})
                instances = tuple(tag_name(m) for m in loaded if _matches(m, tag_name(raw)))
                models.append(model_from_tag(raw, show, instances))
        return models

    def find_model(self, infos: Mapping[str, ModelInfo], key: str) -> ModelInfo | None:
        return infos.get(key)

    def load(self, key: str, config: LoadConfig) -> LoadResult:
        body: JSON = {"model": key, "messages": [], "keep_alive": self._keep_alive, "stream": False}
        options = runner_options(config)
        offload = self._offload_layers(key, config)
        if offload is not None:
            options["num_gpu"] = offload
        if options:
            body["options"] = options
        self._runner_options[key] = options
        started = time.perf_counter_ns()
        try:
            payload = self._checked("POST", CHAT_ROUTE, body, what=f"load of {key}")
        except BackendHTTPError as exc:
            if isinstance(exc, ModelNotFound) or exc.status in (401, 403):
                raise
            raise LoadFailed(str(exc)) from exc
        elapsed = (time.perf_counter_ns() - started) / 1e9
        ps = self._ps_entry(key)
        applied, not_applied = _confirm(ps, config)
        if config.gpu_offload is not None and "gpu_offload" not in not_applied:
            if offload is None:
                not_applied["gpu_offload"] = LAYERS_WIN if config.gpu_layers else NO_LAYER_COUNT
            else:
                applied["gpu_offload"] = config.gpu_offload
        load_ns = payload.get("load_duration") if isinstance(payload, dict) else None
        return LoadResult(
            instance_id=key,
            requested=config.requested(),
            applied=applied,
            not_applied=not_applied,
            load_time_s=_ns_to_s(load_ns),
            client_load_time_s=elapsed,
            facts={
                **({"source": "Ollama /api/ps", **ps_facts(ps)} if ps is not None else {}),
                **({"num_gpu": offload} if offload is not None else {}),
            },
        )

    def _offload_layers(self, key: str, config: LoadConfig) -> int | None:
        """num_gpu for an offload ratio: that share of the model's layers (None: unknown)."""
        level = config.gpu_offload
        if level is None or config.gpu_layers is not None:
            return None
        if level == "off":
            return 0
        layers = block_count(self._optional("POST", "/api/show", {"model": key}))
        if layers is None:
            return None
        return layers if level == "max" else round(float(level) * layers)

    def loaded_status(self, key: str) -> JSON:
        """Facts /api/ps gives about a loaded model; ``{}`` when it is not loaded."""
        entry = self._ps_entry(key)
        return ps_facts(entry) if entry is not None else {}

    def unload(self, instance_id: str) -> None:
        body: JSON = {"model": instance_id, "messages": [], "keep_alive": 0, "stream": False}
        self._checked("POST", CHAT_ROUTE, body, what=f"unload of {instance_id}")

    def async_client(self) -> httpx.AsyncClient:
        return self._rest.async_client()

    async def chat(self, client: httpx.AsyncClient, model: str, request: ChatRequest) -> ChatResult:
        carried = sampling.split(request.sampling, SAMPLING_OPTIONS, "")
        options = {**self._runner_options.get(model, {}), **carried.fields}
        body = chat_body(model, request, keep_alive=self._keep_alive, options=options)
        result = await http.bounded(self._stream_chat(client, body), self._timeout_s, LABEL)
        return carried.stamp(result)

    async def embed(
        self, client: httpx.AsyncClient, model: str, inputs: list[str]
    ) -> embeddings.EmbedResult:
        body: JSON = {"model": model, "input": inputs, "keep_alive": self._keep_alive}
        options = self._runner_options.get(model)
        if options:
            body["options"] = options
        call = embeddings.post(client, self.base_url, embeddings.OLLAMA_ROUTE, body, LABEL)
        return await http.bounded(call, self._timeout_s, LABEL)

    def close(self) -> None:
        self._rest.close()

    # -- streaming chat -----------------------------------------------------------------

    async def _stream_chat(self, client: httpx.AsyncClient, body: JSON) -> ChatResult:
        timeline = StreamTimeline(start_ns=time.perf_counter_ns())
        acc = StreamAccumulator(route=CHAT_ROUTE, timeline=timeline)
        try:
            url = self.base_url + CHAT_ROUTE
            async with http.post_stream(client, url, body, timeline) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise await self._chat_error(client, response, str(body["model"]))

                def on_event(event: http.StreamEvent) -> bool:
                    payload = http.load_event_json(event, LABEL)
                    return isinstance(payload, dict) and apply_line(acc, payload, event.arrived_ns)

                cap = body_bounds.stream_byte_cap(as_dict(body.get("options")).get("num_predict"))
                done = await http.read_stream(
                    response,
                    http.NDJSONDecoder(),
                    on_event,
                    timeline.stamp_first_byte,
                    LABEL,
                    max_bytes=cap,
                )
        except httpx.TransportError as exc:
            if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
                raise http.unreachable(LABEL, self.base_url, exc) from exc
            raise StreamError(
                f"{LABEL} connection failed mid-request ({type(exc).__name__})"
            ) from exc
        if not done:
            raise StreamError(f"{LABEL} stream ended without a `done: true` line")
        return acc.result(time.perf_counter_ns())

    async def _chat_error(
        self, client: httpx.AsyncClient, response: httpx.Response, model: str
    ) -> Exception:
        err = http.chat_error(response, LABEL)
        if err is None:
            return StreamError(f"{LABEL} chat failed (HTTP {response.status_code})")
        if response.status_code != 404:
            return err
        try:
            tags = (await client.get(self.base_url + "/api/tags")).json()
        except (httpx.HTTPError, ValueError):  # the list only decorates the message
            tags = None
        return ModelNotFound(
            not_found_message(str(err), model, tag_names(tags)),
            status=err.status,
            error_type=err.error_type,
            code=err.code,
        )


# -- request and response shapes (pure functions) ----------------------------------------


def _history_message(turn: AssistantTurn | ToolResult) -> JSON:
    # Ollama names the tool a result answers; its calls carry arguments as objects.
    if isinstance(turn, ToolResult):
        return {"role": "tool", "tool_name": turn.name, "content": turn.content}
    message: JSON = {"role": "assistant", "content": turn.content}
    if turn.tool_calls:
        message["tool_calls"] = [
            {"function": {"name": call.name, "arguments": _arguments_object(call.arguments_json)}}
            for call in turn.tool_calls
        ]
    return message


def _arguments_object(arguments_json: str) -> JSON:
    try:
        value = json.loads(arguments_json or "{}")
    except ValueError:
        return {}  # Ollama only takes objects: what it sent was one, so this is not reached
    return value if isinstance(value, dict) else {}


def runner_options(config: LoadConfig) -> JSON:
    """The request ``options`` that load ``config``: num_ctx and the runner options."""
    options: JSON = {}
    if config.context_length is not None:
        options["num_ctx"] = config.context_length
    for ours, theirs in RUNNER_OPTIONS.items():
        value = getattr(config, ours)
        if value is not None:
            options[theirs] = value
    return options


def chat_body(
    model: str,
    request: ChatRequest,
    *,
    keep_alive: str | None = None,
    options: JSON | None = None,
) -> JSON:
    """A streamed /api/chat body; ``options`` are the load's runner options and sampling."""
    messages: list[JSON] = []
    if request.system_prompt:
        messages.append({"role": "system", "content": request.system_prompt})
    user: JSON = {"role": "user", "content": request.prompt}
    if request.images:
        # Ollama wants bare base64, not data URLs.
        user["images"] = [image.data_url().partition(",")[2] for image in request.images]
    messages.append(user)
    messages += [_history_message(turn) for turn in request.history]
    body: JSON = {"model": model, "messages": messages, "stream": True}
    if request.tools:
        body["tools"] = list(request.tools)
    merged: JSON = dict(options or {})
    for ours, value in (
        ("num_predict", request.max_tokens),
        ("temperature", request.temperature),
        ("seed", request.seed),
    ):
        if value is not None:
            merged[ours] = value
    if merged:
        body["options"] = merged
    if keep_alive is not None:
        # Every request resets the expiry, so chat keeps the load's keep_alive alive.
        body["keep_alive"] = keep_alive
    return body


def apply_line(acc: StreamAccumulator, payload: JSON, arrived_ns: int) -> bool:
    """Fold one NDJSON line into ``acc``; True when it was the final ``done`` line."""
    err = http.error_from_body(200, payload, label=LABEL, what="chat stream")
    if err is not None:
        raise StreamError(str(err))
    if payload.get("model"):
        acc.model = str(payload["model"])
    message = payload.get("message")
    if isinstance(message, dict):
        _apply_message(acc, message, arrived_ns)
    if payload.get("done") is True:
        acc.finish_reason = str(payload.get("done_reason") or "stop")
        acc.prompt_tokens = as_int(payload.get("prompt_eval_count"))
        acc.output_tokens = as_int(payload.get("eval_count"))
        acc.server_stats.update(duration_stats(payload))
        return True
    return False


def _apply_message(acc: StreamAccumulator, message: JSON, arrived_ns: int) -> None:
    content = message.get("content")
    if isinstance(content, str):
        acc.add_content(content, arrived_ns)
    thinking = message.get("thinking")
    if isinstance(thinking, str):
        acc.add_reasoning(thinking, arrived_ns)
    for call in as_list(message.get("tool_calls")):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict):
            continue
        args = fn.get("arguments")
        # Ollama sends arguments as an object; metrics expect the OpenAI JSON string.
        text = args if isinstance(args, str) else json.dumps(args if args is not None else {})
        call_id = call.get("id")
        acc.add_whole_call(str(fn.get("name", "")), text, str(call_id) if call_id else None)
        # Calls arrive whole; their line is still output, so it stamps the timeline.
        acc.token_chunk(arrived_ns)


def duration_stats(final: JSON) -> JSON:
    """Ollama's nanosecond durations beside normalised server figures."""
    raw = {k: final[k] for k in DURATION_FIELDS if as_int(final.get(k)) is not None}
    stats: JSON = {"source": "Ollama durations", "durations": raw}
    evals, eval_ns = as_int(final.get("eval_count")), as_int(final.get("eval_duration"))
    prompt, prompt_ns = (
        as_int(final.get("prompt_eval_count")),
        as_int(final.get("prompt_eval_duration")),
    )
    if evals is not None and eval_ns:
        stats["server_decode_tps"] = evals / eval_ns * 1e9
    if prompt is not None and prompt_ns:
        stats["server_prefill_tps"] = prompt / prompt_ns * 1e9
    for ours, ns in (
        ("server_prefill_s", prompt_ns),
        ("server_load_s", as_int(final.get("load_duration"))),
        ("server_total_s", as_int(final.get("total_duration"))),
    ):
        if ns is not None:
            stats[ours] = ns / 1e9
    if evals is not None:
        stats["server_output_tokens"] = evals
    if prompt is not None:
        stats["server_prompt_tokens"] = prompt
    return stats


def _confirm(ps: JSON | None, config: LoadConfig) -> tuple[JSON, dict[str, str]]:
    """The runner options, which a load applies or fails; the context as /api/ps shows it.

    /api/ps reports no runner option back, but Ollama starts the model's runner
    with the request's options (and restarts it when they differ), so they apply.
    """
    applied: JSON = {k: v for k, v in config.requested().items() if k in RUNNER_OPTIONS}
    not_applied = {k: v for k, v in NOT_PER_REQUEST.items() if k in config.requested()}
    wanted = config.context_length
    if wanted is not None:
        seen = (ps or {}).get("context_length")
        if seen == wanted:
            applied["context_length"] = wanted
        else:
            shown = f"context_length {seen}" if seen is not None else "no context_length"
            not_applied["context_length"] = f"/api/ps shows {shown} after the load"
    return applied, not_applied


def ps_facts(entry: JSON) -> JSON:
    size, vram = as_int(entry.get("size")), as_int(entry.get("size_vram"))
    return {
        "size_vram_bytes": vram,
        "size_bytes": size,
        "vram_share": vram / size if vram is not None and size else None,
        "context_length": as_int(entry.get("context_length")),
        "expires_at": entry.get("expires_at"),
    }


def not_found_message(error: str, model: str | None, available: list[str]) -> str:
    names = ", ".join(available) if available else "none"
    pull = f"; pull it with `ollama pull {model}`" if model else ""
    return f"{error} — models on this server: {names}{pull}"


def tag_names(tags: Any) -> list[str]:
    rows = tags.get("models") if isinstance(tags, dict) else None
    return [tag_name(m) for m in rows or [] if isinstance(m, dict)]


def _matches(entry: JSON, key: str) -> bool:
    # "llama3" and "llama3:latest" are the same model to Ollama.
    names = {str(entry.get("name") or ""), str(entry.get("model") or "")} - {""}
    wanted = {key, key if ":" in key else key + ":latest"}
    return bool(names & wanted)


def _model_of(body: JSON | None) -> str | None:
    model = body.get("model") if body else None
    return str(model) if model else None


def _ns_to_s(value: Any) -> float | None:
    ns = as_int(value)
    return ns / 1e9 if ns is not None else None


def create(options: BackendOptions) -> OllamaBackend:
    return OllamaBackend(options.base_url, token=options.token, timeout_s=options.timeout_s)
