"""LM Studio: native v1 REST (list, load, unload, chat with stats), v0 fallback, ``/v1`` for tools.

The fact sheet (shared/reference/lmstudio-api.md) is the authority. Quirks handled
here: unknown routes answer HTTP 200 with a string error (how a 0.3.x server is
detected), errors may be strings or objects on any status, and the server may
answer with another loaded model than the one asked for.

On a 0.3.x server (no v1) text chats go to ``/api/v0/chat/completions``, whose
``stats``, ``model_info`` and ``runtime`` go into ``server_stats``. Most 0.3.x
versions send neither stats nor usage when streaming (fact sheet §2.2), while
``/v1/chat/completions`` sends usage on request: so once a v0 stream came back with
neither, later chats use ``/v1`` (unless ``--lm-api native`` insists on v0).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Mapping
from typing import Any

import httpx

from pytest_lmbench.backends import body as body_bounds
from pytest_lmbench.backends import embeddings, http, rest, sampling
from pytest_lmbench.backends.base import (
    JSON,
    BackendOptions,
    ChatRequest,
    ChatResult,
    LoadConfig,
    LoadResult,
    ModelInfo,
    StreamTimeline,
)
from pytest_lmbench.backends.lmstudio_load import Loader
from pytest_lmbench.backends.lmstudio_models import find_variant, model_from_v0, model_from_v1
from pytest_lmbench.backends.openai import CHAT_ROUTE, chat_body, stream_chat_completions
from pytest_lmbench.backends.stream import StreamAccumulator, as_dict, as_float, as_int
from pytest_lmbench.errors import LoadFailed, ModelNotFound, StreamError

LABEL = "LM Studio"
V1_CHAT = "/api/v1/chat"
V0_CHAT = "/api/v0/chat/completions"
NATIVE_MAX_TEMPERATURE = 1.0
# Sampling fields each route documents (fact sheet §1.4, §3.2; v0 takes the §3.2 body).
NATIVE_SAMPLING = {k: k for k in ("top_k", "top_p", "min_p", "repeat_penalty")}
OPENAI_SAMPLING = {k: v for k, v in sampling.SAME_NAMES.items() if k != "min_p"}
NATIVE_LACKS = "LM Studio's /api/v1/chat takes no {name} (its schema is strict)"
OPENAI_LACKS = "LM Studio documents no {name} on its OpenAI-compatible chat (only /api/v1/chat)"
# LLMPredictionStats stop reasons (fact sheet §2.2) as OpenAI finish reasons.
STOP_REASONS = {
    "eosFound": "stop",
    "stopStringFound": "stop",
    "maxPredictedTokensReached": "length",
    "contextLengthReached": "length",
    "toolCalls": "tool_calls",
}


class LMStudioBackend:
    name = "lmstudio"
    label = LABEL
    supports_load = True

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = 120.0,
        api: str = "auto",
        lms_path: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._api = api  # auto | native | openai
        self._has_v1: bool | None = None
        # Whether v0 streams carry stats or usage; None until the first v0 chat says.
        self._v0_stream_stats: bool | None = None
        self._lms = lms_path if lms_path is not None else shutil.which("lms")
        self._rest = rest.RestClient(base_url, LABEL, token=token, timeout_s=timeout_s)
        self._loader = Loader(self._rest, self.base_url, self._lms, timeout_s)

    # -- REST helpers -------------------------------------------------------------------

    def _request(self, method: str, path: str, body: JSON | None = None) -> tuple[int, Any]:
        return self._rest.request(method, path, body)

    def _checked(self, method: str, path: str, body: JSON | None = None, *, what: str) -> Any:
        return self._rest.checked_object(method, path, body, what=what)

    @property
    def has_v1(self) -> bool:
        if self._has_v1 is None:
            status, payload = self._request("GET", "/api/v1/models")
            # A 0.3.x server answers unknown routes with HTTP 200 and a string error.
            self._has_v1 = status == 200 and isinstance(payload, dict) and "models" in payload
            if status in (401, 403):
                raise http.error_from_body(status, payload, label=LABEL, what="list models") or (
                    LoadFailed("unauthorised")
                )
        return self._has_v1

    # -- Backend protocol ---------------------------------------------------------------

    def server_info(self) -> JSON:
        api = "v1" if self.has_v1 else "v0"
        info: JSON = {"backend": self.name, "label": LABEL, "api": api}
        info["server_version"] = self._lms_version()
        # The engine build (``runtime``) comes only with v0 answers, per model format,
        # so it is in each result's server_stats; none is known for the whole server.
        info["build"] = None
        return info

    def list_models(self) -> list[ModelInfo]:
        if self.has_v1:
            payload = self._checked("GET", "/api/v1/models", what="list models")
            return [model_from_v1(m) for m in payload.get("models") or [] if isinstance(m, dict)]
        payload = self._checked("GET", "/api/v0/models", what="list models")
        rows = [model_from_v0(m) for m in payload.get("data") or [] if isinstance(m, dict)]
        # v0 may list one id twice (loaded and not-loaded rows): prefer the loaded row.
        merged: dict[str, ModelInfo] = {}
        for row in rows:
            if row.key not in merged or row.loaded_instances:
                merged[row.key] = row
        return list(merged.values())

    def find_model(self, infos: Mapping[str, ModelInfo], key: str) -> ModelInfo | None:
        """``key`` or its ``key@quant`` variant (fact sheet §1.1, §4)."""
        return find_variant(infos, key)

    def load(self, key: str, config: LoadConfig) -> LoadResult:
        if not self.has_v1:
            return self._jit_only(key, config)
        # Only `lms load` sets an offload ratio or parallel predictions (fact sheet §1.2).
        if (config.gpu_offload is not None or config.parallel is not None) and self._lms:
            return self._loader.lms_load(key, config)
        return self._loader.rest_load(key, config)

    def _jit_only(self, key: str, config: LoadConfig) -> LoadResult:
        reason = "this LM Studio (0.3.x) has no REST load API; the model is JIT-loaded"
        return LoadResult(
            key, config.requested(), {}, dict.fromkeys(config.requested(), reason), None, 0.0
        )

    def unload(self, instance_id: str) -> None:
        if self.has_v1:
            self._checked(
                "POST", "/api/v1/models/unload", {"instance_id": instance_id}, what="unload"
            )

    def async_client(self) -> httpx.AsyncClient:
        return self._rest.async_client()

    async def chat(self, client: httpx.AsyncClient, model: str, request: ChatRequest) -> ChatResult:
        route = self.route_for(request)
        if route == V1_CHAT:
            carried = sampling.split(request.sampling, NATIVE_SAMPLING, NATIVE_LACKS)
            call = self._native_chat(client, model, request, carried.fields)
        else:
            carried = sampling.split(request.sampling, OPENAI_SAMPLING, OPENAI_LACKS)
            body = chat_body(model, request, carried.fields)
            if route == V0_CHAT:
                call = self._v0_chat(client, body)
            else:
                call = stream_chat_completions(client, self.base_url, body, label=LABEL)
        return carried.stamp(await http.bounded(call, self._timeout_s, LABEL))

    async def embed(
        self, client: httpx.AsyncClient, model: str, inputs: list[str]
    ) -> embeddings.EmbedResult:
        """``/v1/embeddings`` (fact sheet §3.3): the one route that takes a batch."""
        body: JSON = {"model": model, "input": inputs}
        call = embeddings.post(client, self.base_url, embeddings.OPENAI_ROUTE, body, LABEL)
        return await http.bounded(call, self._timeout_s, LABEL)

    def route_for(self, request: ChatRequest) -> str:
        if self._use_native(request):
            return V1_CHAT
        return V0_CHAT if self._use_v0(request) else CHAT_ROUTE

    def _use_native(self, request: ChatRequest) -> bool:
        """/api/v1/chat carries server stats; /v1/chat/completions is used for what it lacks.

        The native route has no custom tools and no seed, and takes temperatures in
        [0, 1] only (fact sheet §1.4), so tools and a higher temperature always go to
        /v1. Images go to /v1 too (issue 2) unless ``--lm-api native`` forces the
        native route, which also accepts images; so do a seed, stop strings and the
        presence or frequency penalty, which only /v1 takes. ``ChatResult.route``
        records the route.
        """
        if self._api == "openai" or not self.has_v1 or request.tools or request.history:
            return False
        if request.temperature is not None and request.temperature > NATIVE_MAX_TEMPERATURE:
            return False
        if self._api == "native":
            return True
        only_v1 = set(request.sampling.requested()) - set(NATIVE_SAMPLING)
        return not request.images and request.seed is None and not only_v1

    def _use_v0(self, request: ChatRequest) -> bool:
        """A 0.3.x server's own chat route, for text, as /api/v1/chat is on 0.4.

        Tool calling is documented for /v1/chat/completions only (fact sheet §3.2), so
        tools stay there; images too, as on 0.4, unless ``--lm-api native``.
        """
        if self._api == "openai" or self.has_v1 or request.tools or request.history:
            return False
        if self._api == "native":
            return True
        return not request.images and self._v0_stream_stats is not False

    async def _v0_chat(self, client: httpx.AsyncClient, body: JSON) -> ChatResult:
        result = await stream_chat_completions(
            client,
            self.base_url,
            body,
            label=LABEL,
            route=V0_CHAT,
            on_chunk=apply_v0_extras,
        )
        told = "source" in result.server_stats or not result.token_count_estimated
        if self._v0_stream_stats is None or told:
            self._v0_stream_stats = told
        return result

    def close(self) -> None:
        self._rest.close()

    # -- native v1 chat -----------------------------------------------------------------

    async def _native_chat(
        self, client: httpx.AsyncClient, model: str, request: ChatRequest, extra: JSON
    ) -> ChatResult:
        timeline = StreamTimeline(start_ns=time.perf_counter_ns())
        acc = StreamAccumulator(route=V1_CHAT, timeline=timeline)
        try:
            body = {**native_body(model, request), **extra}
            url = self.base_url + V1_CHAT
            async with http.post_stream(client, url, body, timeline) as response:
                if response.status_code >= 400 or "event-stream" not in response.headers.get(
                    "content-type", ""
                ):
                    await response.aread()
                    raise _native_error(response)

                def on_event(event: http.StreamEvent) -> bool:
                    payload = http.load_event_json(event, LABEL)
                    if not isinstance(payload, dict):
                        return False
                    kind = event.event or payload.get("type")
                    return _apply_native(acc, kind, payload, event.arrived_ns)

                cap = body_bounds.stream_byte_cap(request.max_tokens)
                ended = await http.read_stream(
                    response,
                    http.SSEDecoder(),
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
        if not ended:
            raise StreamError(f"{LABEL} stream ended without chat.end")
        if acc.finish_reason is None:
            _infer_finish_reason(acc, request.max_tokens)
        return acc.result(time.perf_counter_ns())

    def _lms_version(self) -> str | None:
        if not self._lms:
            return None
        try:
            done = subprocess.run(
                [self._lms, "version"], capture_output=True, text=True, timeout=5, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        text = " ".join(done.stdout.split())
        return text[:200] or None


def native_body(model: str, request: ChatRequest) -> JSON:
    """A /api/v1/chat body. The schema is strict: only documented keys."""
    body: JSON = {"model": model, "stream": True, "store": False}
    if request.images:
        items: list[JSON] = [{"type": "text", "content": request.prompt}]
        items += [{"type": "image", "data_url": image.data_url()} for image in request.images]
        body["input"] = items
    else:
        body["input"] = request.prompt
    if request.system_prompt:
        body["system_prompt"] = request.system_prompt
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_tokens is not None:
        body["max_output_tokens"] = request.max_tokens
    return body


def _native_error(response: httpx.Response) -> Exception:
    err = http.chat_error(response, LABEL)
    if err is not None and err.code == "model_not_found":
        return ModelNotFound(str(err), status=err.status, error_type=err.error_type, code=err.code)
    return err or StreamError(
        f"{LABEL} chat answered without a stream (HTTP {response.status_code})"
    )


def _apply_native(acc: StreamAccumulator, kind: Any, payload: JSON, arrived_ns: int) -> bool:
    """Apply one v1 SSE event; True when it was ``chat.end``."""
    if kind in ("message.delta", "reasoning.delta"):
        text = payload.get("content")
        if isinstance(text, str):
            (acc.add_content if kind == "message.delta" else acc.add_reasoning)(text, arrived_ns)
    elif kind == "chat.start" and payload.get("model_instance_id"):
        acc.model = str(payload["model_instance_id"])
    elif kind == "error":
        err = http.error_from_body(200, payload, label=LABEL, what="chat stream")
        raise StreamError(str(err) if err else f"{LABEL} sent an error event")
    elif kind == "chat.end":
        _apply_native_result(acc, as_dict(payload.get("result")))
        return True
    return False


def _apply_native_result(acc: StreamAccumulator, result: JSON) -> None:
    if result.get("model_instance_id"):
        acc.model = str(result["model_instance_id"])
    stats = as_dict(result.get("stats"))
    acc.prompt_tokens = as_int(stats.get("input_tokens"))
    acc.output_tokens = as_int(stats.get("total_output_tokens"))
    acc.finish_reason = _server_finish_reason(result, stats)
    acc.server_stats.update(native_stats(stats))


def _server_finish_reason(result: JSON, stats: JSON) -> str | None:
    """A finish reason the server gave: not documented for v1, so only taken if present."""
    reason = result.get("finish_reason")
    if isinstance(reason, str) and reason:
        return reason
    return finish_of_stop(stats.get("stop_reason"))  # as v0 stats carry it (fact sheet §2.2)


def finish_of_stop(stop: Any) -> str | None:
    """The OpenAI finish reason of an SDK ``stop_reason``; an unknown one is kept as is."""
    return STOP_REASONS.get(stop, stop) if isinstance(stop, str) and stop else None


def _infer_finish_reason(acc: StreamAccumulator, max_tokens: int | None) -> None:
    # /api/v1/chat reports no finish reason. A full token budget can only mean the
    # answer was cut at the limit, so that one case is deduced (and flagged as such);
    # anything else stays unknown rather than a guessed "stop".
    tokens = acc.output_tokens
    if max_tokens is not None and max_tokens > 0 and tokens is not None and tokens >= max_tokens:
        acc.finish_reason, acc.finish_reason_inferred = "length", True


def native_stats(stats: JSON) -> JSON:
    out: JSON = {"source": "LM Studio v1 stats", "stats": stats}
    if isinstance(stats.get("time_to_first_token_seconds"), (int, float)):
        out["server_ttft_s"] = float(stats["time_to_first_token_seconds"])
    if isinstance(stats.get("tokens_per_second"), (int, float)):
        out["server_decode_tps"] = float(stats["tokens_per_second"])
    if isinstance(stats.get("model_load_time_seconds"), (int, float)):
        out["server_model_load_s"] = float(stats["model_load_time_seconds"])
    for ours, theirs in (
        ("server_prompt_tokens", "input_tokens"),
        ("server_output_tokens", "total_output_tokens"),
        ("server_reasoning_tokens", "reasoning_output_tokens"),
    ):
        if isinstance(stats.get(theirs), int):
            out[ours] = stats[theirs]
    return out


def v0_stats(payload: JSON) -> JSON:
    """A v0 answer's ``stats`` (seconds), ``model_info`` and ``runtime`` (fact sheet §2.2).

    Keys match :func:`native_stats` so client and server figures compare the same
    way; ``{}`` when the payload carries none (``/v1`` even sends ``stats: {}``).
    """
    stats = as_dict(payload.get("stats"))
    runtime, info = as_dict(payload.get("runtime")), as_dict(payload.get("model_info"))
    out: JSON = {}
    if stats:
        out.update(source="LM Studio v0 stats", stats=stats)
        for ours, theirs in (
            ("server_ttft_s", "time_to_first_token"),
            ("server_decode_tps", "tokens_per_second"),
            ("server_generation_s", "generation_time"),
        ):
            value = as_float(stats.get(theirs))
            if value is not None:
                out[ours] = value
        if isinstance(stats.get("stop_reason"), str):
            out["server_stop_reason"] = stats["stop_reason"]
    if runtime:
        out["runtime"] = runtime
    if info:
        out["model_info"] = info
    return out


def apply_v0_extras(acc: StreamAccumulator, payload: JSON) -> None:
    extras = v0_stats(payload)
    acc.server_stats.update(extras)
    if acc.finish_reason is None:
        acc.finish_reason = finish_of_stop(extras.get("server_stop_reason"))


def create(options: BackendOptions) -> LMStudioBackend:
    return LMStudioBackend(
        options.base_url, token=options.token, timeout_s=options.timeout_s, api=options.api
    )
