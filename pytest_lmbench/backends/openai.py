"""OpenAI-compatible chat completions: llama.cpp, llama-cpp-python, vLLM, LM Studio ``/v1``.

Streaming always asks for ``stream_options.include_usage`` so token counts come
from the server; llama.cpp's ``timings`` are kept beside our own figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
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
from pytest_lmbench.backends.stream import StreamAccumulator, as_dict, as_int, as_list
from pytest_lmbench.errors import LmbenchError, StreamError

CHAT_ROUTE = "/v1/chat/completions"
LLAMA_CPP_PYTHON_TITLE = "llama.cpp Python API"  # llama_cpp.server's FastAPI title
# Tokenizer routes: llama-cpp-python's (which streams no usage) and llama.cpp's server.
TOKENIZE_ROUTES = (("/extras/tokenize/count", "input"), ("/tokenize", "content"))
# Reads what a server adds to the OpenAI chunks (LM Studio v0: stats, runtime).
ChunkHook = Callable[[StreamAccumulator, JSON], None]


def chat_messages(request: ChatRequest) -> list[JSON]:
    messages: list[JSON] = []
    if request.system_prompt:
        messages.append({"role": "system", "content": request.system_prompt})
    if request.images:
        parts: list[JSON] = [{"type": "text", "text": request.prompt}]
        parts += [
            {"type": "image_url", "image_url": {"url": image.data_url()}}
            for image in request.images
        ]
        messages.append({"role": "user", "content": parts})
    else:
        messages.append({"role": "user", "content": request.prompt})
    return messages + [_history_message(turn) for turn in request.history]


def _history_message(turn: AssistantTurn | ToolResult) -> JSON:
    if isinstance(turn, ToolResult):
        return {"role": "tool", "tool_call_id": turn.call_id, "content": turn.content}
    # llama-cpp-python's server refuses a null content, which OpenAI allows; "" suits both.
    message: JSON = {"role": "assistant", "content": turn.content}
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json},
            }
            for call in turn.tool_calls
        ]
    return message


def chat_body(model: str, request: ChatRequest, extra: JSON | None = None) -> JSON:
    """The streamed chat body; ``extra`` holds the sampling fields the route takes."""
    body: JSON = {
        "model": model,
        "messages": chat_messages(request),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        body["tools"] = list(request.tools)
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.seed is not None:
        body["seed"] = request.seed
    body.update(extra or {})
    return body


def openai_sampling(request: ChatRequest, *, llama_cpp: bool, label: str) -> sampling.Carried:
    """All sampling fields are sent; llama.cpp's extensions count only on llama.cpp servers."""
    unconfirmed = {
        name: (
            f"sent, but {name} is a llama.cpp extension of the OpenAI API and "
            f"this {label} does not identify as llama.cpp or llama-cpp-python"
        )
        for name in sampling.SAME_NAMES
        if name not in sampling.OPENAI_STANDARD and not llama_cpp
    }
    return sampling.split(request.sampling, sampling.SAME_NAMES, "", unconfirmed=unconfirmed)


def llamacpp_stats(timings: JSON) -> JSON:
    """llama.cpp ``timings`` (milliseconds) beside normalised server figures."""
    stats: JSON = {"source": "llama.cpp timings", "timings": timings}
    prompt_ms = timings.get("prompt_ms")
    if isinstance(prompt_ms, (int, float)):
        stats["server_prefill_s"] = prompt_ms / 1000.0
    for ours, theirs in (
        ("server_decode_tps", "predicted_per_second"),
        ("server_prefill_tps", "prompt_per_second"),
        ("server_output_tokens", "predicted_n"),
        ("server_prompt_tokens_processed", "prompt_n"),
        ("server_prompt_tokens_cached", "cache_n"),
    ):
        if isinstance(timings.get(theirs), (int, float)):
            stats[ours] = timings[theirs]
    return stats


def _apply_chunk(
    acc: StreamAccumulator,
    payload: JSON,
    arrived_ns: int,
    label: str,
    on_chunk: ChunkHook | None = None,
) -> None:
    # Once per token: the checks below look only for what the chunk holds, and
    # ``type(x) is`` stands for isinstance where a JSON value cannot be a subclass.
    if "error" in payload:
        err = http.error_from_body(200, payload, label=label, what="stream")
        if err is not None:
            raise StreamError(str(err))
    model = payload.get("model")
    if model and model != acc.model:
        acc.model = str(model)
    if "usage" in payload and type(usage := payload["usage"]) is dict:
        acc.prompt_tokens = as_int(usage.get("prompt_tokens"))
        acc.output_tokens = as_int(usage.get("completion_tokens"))
    if "timings" in payload and type(timings := payload["timings"]) is dict:
        acc.server_stats.update(llamacpp_stats(timings))
    choices = payload.get("choices")
    if type(choices) is list:
        for choice in choices:
            if type(choice) is dict:  # anything else carries nothing to fold in
                _apply_choice(acc, choice, arrived_ns)
    if on_chunk is not None:
        on_chunk(acc, payload)


def _apply_choice(acc: StreamAccumulator, choice: JSON, arrived_ns: int) -> None:
    delta = choice.get("delta")
    if type(delta) is not dict:
        delta = {}
    content = delta.get("content")
    if type(content) is str:
        acc.add_content(content, arrived_ns)
    if content is None or len(delta) > 1:  # a delta of content alone is most tokens
        for key in ("reasoning_content", "reasoning"):
            text = delta.get(key)
            if isinstance(text, str):
                acc.add_reasoning(text, arrived_ns)
        for call in as_list(delta.get("tool_calls")):
            if isinstance(call, dict):
                acc.add_tool_delta(call, arrived_ns)
    if choice.get("finish_reason"):
        acc.finish_reason = str(choice["finish_reason"])


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


async def stream_chat_completions(
    client: httpx.AsyncClient,
    base_url: str,
    body: JSON,
    *,
    label: str,
    route: str = CHAT_ROUTE,
    on_chunk: ChunkHook | None = None,
) -> ChatResult:
    """POST a streaming chat completion and fold it into a ChatResult.

    ``route`` serves OpenAI-shaped routes elsewhere (LM Studio's v0 chat), whose
    extra fields ``on_chunk`` reads from every chunk (and a non-streamed body).
    """
    timeline = StreamTimeline(start_ns=time.perf_counter_ns())
    acc = StreamAccumulator(route=route, timeline=timeline)
    try:
        async with http.post_stream(client, base_url + route, body, timeline) as response:
            if response.status_code >= 400:
                await response.aread()
                raise _http_error(response, label)
            if "text/event-stream" not in response.headers.get("content-type", ""):
                raw = await response.aread()
                return _non_stream(acc, response, raw, label, on_chunk)
            events = _ChunkEvents(acc, label, on_chunk)
            cap = body_bounds.stream_byte_cap(body.get("max_tokens"))
            done = await http.read_stream(
                response, http.SSEDecoder(), events, timeline.stamp_first_byte, label, max_bytes=cap
            )
            if not done and acc.finish_reason is None:
                raise StreamError(f"{label} stream ended without a finish reason or [DONE]")
    except httpx.TransportError as exc:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            raise http.unreachable(label, base_url, exc) from exc
        raise StreamError(f"{label} connection failed mid-request ({type(exc).__name__})") from exc
    # The answer ends at [DONE]; reading the body's tail for the pool is not its time.
    return acc.result(events.end_ns or time.perf_counter_ns())


class _ChunkEvents:
    """Folds each event of a chat completion stream into the answer (one per token)."""

    def __init__(self, acc: StreamAccumulator, label: str, on_chunk: ChunkHook | None) -> None:
        self.acc = acc
        self.label = label
        self.on_chunk = on_chunk
        self.end_ns: int | None = None

    def __call__(self, event: http.StreamEvent) -> bool:
        if event.data[:1] != "{" and event.data.strip() == "[DONE]":
            self.end_ns = event.arrived_ns
            return True
        payload = http.load_event_json(event, self.label)
        if isinstance(payload, dict):
            _apply_chunk(self.acc, payload, event.arrived_ns, self.label, self.on_chunk)
        return False


def _http_error(response: httpx.Response, label: str) -> Exception:
    err = http.chat_error(response, label)
    return err or StreamError(f"{label} chat failed (HTTP {response.status_code})")


def _non_stream(
    acc: StreamAccumulator,
    response: httpx.Response,
    raw: bytes,
    label: str,
    on_chunk: ChunkHook | None = None,
) -> ChatResult:
    """A server that ignores ``stream`` (or returns an error body with HTTP 200)."""
    now = time.perf_counter_ns()
    acc.timeline.first_byte_ns = now
    body = http.parse_json_body(response)
    err = http.error_from_body(response.status_code, body, label=label, what="chat")
    if err is not None:
        raise err
    if not isinstance(body, dict):
        raise StreamError(f"{label} answered with a body that is not JSON: {raw[:80]!r}")
    for choice in map(as_dict, as_list(body.get("choices"))):
        message = as_dict(choice.get("message"))
        acc.add_content(_text(message.get("content")), now)
        for key in ("reasoning_content", "reasoning"):
            acc.add_reasoning(_text(message.get(key)), now)
        for call in map(as_dict, as_list(message.get("tool_calls"))):
            fn = as_dict(call.get("function"))
            call_id = call.get("id")
            acc.add_whole_call(
                str(fn.get("name", "")),
                str(fn.get("arguments", "")),
                str(call_id) if call_id is not None else None,
            )
        reason = choice.get("finish_reason")
        acc.finish_reason = str(reason) if reason is not None else None
    _apply_chunk(acc, {k: v for k, v in body.items() if k != "choices"}, now, label, on_chunk)
    return acc.result(now)


class OpenAIBackend:
    """Any OpenAI-compatible server: models from ``/v1/models``, no load or unload."""

    name = "openai"
    supports_load = False

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = 120.0,
        label: str = "OpenAI-compatible server",
        transport: httpx.BaseTransport | None = None,
        launch_config: JSON | None = None,
        launch_not_applied: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.label = label
        self._timeout_s = timeout_s
        # Settings the server was started with, known only when the session started it
        # (--lm-serve-gguf): then they are applied facts, not guesses.
        self.launch_config = dict(launch_config or {})
        self.launch_not_applied = dict(launch_not_applied or {})
        self._rest = rest.RestClient(
            base_url, label, token=token, timeout_s=timeout_s, transport=transport
        )
        self._no_tokenizer: set[str] = set()
        # The last chat's request, (model, llama_cpp), and what was built for them.
        self._last_body: tuple[ChatRequest, tuple[str, bool], sampling.Carried, JSON] | None = None
        # Set by server_info: True when the server is llama.cpp or llama-cpp-python,
        # whose chat routes document top_k, min_p and repeat_penalty.
        self.llama_cpp = bool(self.launch_config)  # a server the session started itself

    def _get(self, path: str) -> Any:
        return self._rest.checked("GET", path, what=f"GET {path}")

    def server_info(self) -> JSON:
        models = self._get("/v1/models")
        info: JSON = {"backend": self.name, "label": self.label, "build": None}
        if isinstance(models, dict):
            info["models_listed"] = len(models.get("data") or [])
        props = self._optional("/props")  # llama.cpp's build facts
        if props is not None:
            info["server_version"] = props.get("build_info") or props.get("version")
            if isinstance(props.get("build_info"), str):
                info["build"] = f"llama.cpp {props['build_info']}"
            self.llama_cpp = True
            return info
        # llama-cpp-python has no /props; its FastAPI schema carries the package version.
        schema = self._optional("/openapi.json")
        api = schema.get("info") if schema is not None else None
        if isinstance(api, dict) and LLAMA_CPP_PYTHON_TITLE in str(api.get("title")):
            version = api.get("version")
            self.llama_cpp = True
            if isinstance(version, str) and version:
                info["server_version"] = version
                info["build"] = f"llama-cpp-python {version}"
        return info

    def _optional(self, path: str) -> JSON | None:
        """A route only some servers have: anything but a JSON object without error is None."""
        try:
            body = self._get(path)
        except Exception:
            return None
        return body if isinstance(body, dict) and "error" not in body else None

    def list_models(self) -> list[ModelInfo]:
        body = self._get("/v1/models")
        data = body.get("data") if isinstance(body, dict) else None
        return [
            ModelInfo(key=str(m["id"])) for m in data or [] if isinstance(m, dict) and "id" in m
        ]

    def find_model(self, infos: Mapping[str, ModelInfo], key: str) -> ModelInfo | None:
        return infos.get(key)

    def load(self, key: str, config: LoadConfig) -> LoadResult:
        # Nothing to load: a requested setting is applied only when the server was
        # started with exactly that value.
        requested = config.requested()
        no_api = f"{self.label} has no load API; the server's own settings are in force"
        not_applied = {}
        for name, value in requested.items():
            if name in self.launch_not_applied:
                not_applied[name] = self.launch_not_applied[name]
            elif name not in self.launch_config:
                not_applied[name] = no_api
            elif (started := self.launch_config[name]) != value:
                not_applied[name] = f"the server was started with {name}={started}"
        return LoadResult(
            instance_id=key,
            requested=requested,
            applied=dict(self.launch_config),
            not_applied=not_applied,
            load_time_s=None,
            client_load_time_s=0.0,
        )

    def unload(self, instance_id: str) -> None:
        return None

    def async_client(self) -> httpx.AsyncClient:
        return self._rest.async_client()

    async def chat(self, client: httpx.AsyncClient, model: str, request: ChatRequest) -> ChatResult:
        carried, body = self._chat_body(model, request)
        result = await http.bounded(
            stream_chat_completions(client, self.base_url, body, label=self.label),
            self._timeout_s,
            self.label,
        )
        return carried.stamp(result)

    def _chat_body(self, model: str, request: ChatRequest) -> tuple[sampling.Carried, JSON]:
        # A batch sends one request many times: its body is built once (and, being the
        # same object, serialised once per client), not once per request sent at once.
        last = self._last_body
        if last is not None and last[0] is request and last[1] == (model, self.llama_cpp):
            return last[2], last[3]
        carried = openai_sampling(request, llama_cpp=self.llama_cpp, label=self.label)
        body = chat_body(model, request, carried.fields)
        self._last_body = (request, (model, self.llama_cpp), carried, body)
        return carried, body

    async def embed(
        self, client: httpx.AsyncClient, model: str, inputs: list[str]
    ) -> embeddings.EmbedResult:
        body: JSON = {"model": model, "input": inputs}
        call = embeddings.post(client, self.base_url, embeddings.OPENAI_ROUTE, body, self.label)
        return await http.bounded(call, self._timeout_s, self.label)

    def count_prompt_tokens(self, text: str) -> int | None:
        """``text``'s length in the server's own tokens, for streams that bring no usage.

        The chat template's few tokens around the prompt are not counted. None when
        the server has no tokenizer route (it is then not asked again).
        """
        for path, field in TOKENIZE_ROUTES:
            if path in self._no_tokenizer:
                continue
            try:
                status, body = self._rest.request("POST", path, {field: text})
            except LmbenchError:
                return None
            count = _token_count(body) if status == 200 else None
            if count is not None:
                return count
            self._no_tokenizer.add(path)
        return None

    def close(self) -> None:
        self._rest.close()


def _token_count(body: Any) -> int | None:
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("count"), int):
        return int(body["count"])
    tokens = body.get("tokens")
    return len(tokens) if isinstance(tokens, list) else None


def create(options: BackendOptions) -> OpenAIBackend:
    return OpenAIBackend(
        options.base_url,
        token=options.token,
        timeout_s=options.timeout_s,
        launch_config=options.launch_config,
        launch_not_applied=options.launch_not_applied,
    )
