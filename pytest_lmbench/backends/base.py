"""The backend protocol and the plain data that crosses it.

A new server type is one module implementing :class:`Backend` with a module-level
``create(options: BackendOptions)``, registered in :mod:`pytest_lmbench.backends`. Everything a
backend returns is measured or reported by the server; nothing is invented.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Protocol

import httpx

JSON = dict[str, Any]
ModelKind = Literal["llm", "vlm", "embedding"]


@dataclass(frozen=True)
class ModelInfo:
    """One model as the server lists it. ``None`` means the server did not say."""

    key: str
    kind: ModelKind = "llm"
    display_name: str | None = None
    architecture: str | None = None
    quantization: str | None = None
    bits_per_weight: float | None = None
    size_bytes: int | None = None
    params_string: str | None = None
    max_context_length: int | None = None
    format: str | None = None
    vision: bool | None = None
    tool_use: bool | None = None
    loaded_instances: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    selected_variant: str | None = None  # LM Studio: the ``key@quant`` a bare key loads
    digest: str | None = None  # what the server reports as the model's digest (Ollama)

    def to_json(self) -> JSON:
        data = asdict(self)
        data["loaded_instances"] = list(self.loaded_instances)
        data["variants"] = list(self.variants)
        return data


@dataclass(frozen=True)
class BackendOptions:
    """What the session tells a backend when it makes one (``create(options)``)."""

    base_url: str
    token: str | None = None
    timeout_s: float = 120.0
    # --lm-api: which LM Studio routes to use ("auto", "native", "openai"); servers
    # with one route ignore it.
    api: str = "auto"
    # The load settings a server the session started itself (--lm-serve-gguf) was
    # launched with: in force for every model it serves, so applied, not guessed.
    launch_config: JSON = field(default_factory=dict)
    # The requested load settings that server could not be launched with, and why.
    launch_not_applied: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadConfig:
    """Load settings the user asked for; ``None`` means "server default"."""

    context_length: int | None = None
    gpu_offload: str | None = None  # "max", "off" or a ratio "0.5"
    flash_attention: bool | None = None
    gpu_layers: int | None = None
    batch_size: int | None = None
    threads: int | None = None
    kv_cache_quant: str | None = None  # a ggml type name: "q8_0", "f16", ...
    mmap: bool | None = None
    mlock: bool | None = None
    parallel: int | None = None
    unified_kv_cache: bool | None = None
    rope_freq_base: float | None = None
    rope_freq_scale: float | None = None

    def requested(self) -> JSON:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class LoadResult:
    """What a load did.

    ``applied`` is the configuration the server reports in force (all of it, not
    only what was requested); ``not_applied`` names each requested setting the
    server did not apply, with the reason.
    """

    instance_id: str
    requested: JSON
    applied: JSON
    not_applied: dict[str, str]
    load_time_s: float | None  # server-reported
    client_load_time_s: float  # wall time of the load call on our monotonic clock
    # The name to send as ``model`` when chatting; None: the instance id.
    chat_model: str | None = None
    # What the server reports about the loaded instance that is no setting, e.g.
    # Ollama's ``size_vram_bytes`` and ``vram_share``; kept in the model's metadata.
    facts: JSON = field(default_factory=dict)


@dataclass
class LoadedModel:
    """What an item knows of its model: the public ``lm_model`` fixture value."""

    key: str
    instance_id: str
    info: ModelInfo | None
    load: LoadResult
    fingerprint: str | None = None

    @property
    def chat_model(self) -> str:
        """The name chat requests carry (see ``LoadResult.chat_model``)."""
        return self.load.chat_model or self.instance_id


@dataclass(frozen=True)
class ImageInput:
    data: bytes
    mime: str = "image/png"
    name: str = ""

    def data_url(self) -> str:
        return f"data:{self.mime};base64," + base64.b64encode(self.data).decode("ascii")


@dataclass(frozen=True)
class AssistantTurn:
    """An earlier answer of the model in a conversation (agentic cases)."""

    content: str
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class ToolResult:
    """The harness's answer to one tool call: scripted by the case, never executed."""

    call_id: str
    name: str
    content: str


@dataclass(frozen=True)
class Sampling:
    """Sampling settings beyond temperature and seed; ``None`` (or no stop): server default."""

    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: tuple[str, ...] = ()

    def requested(self) -> JSON:
        # Field by field, not dataclasses.asdict (deep copies): asked once per request.
        found = {k: v for k in _SAMPLING_FIELDS if (v := getattr(self, k)) is not None and v != ()}
        if "stop" in found:
            found["stop"] = list(self.stop)
        return found


_SAMPLING_FIELDS = tuple(f.name for f in fields(Sampling))


@dataclass(frozen=True)
class ChatRequest:
    """One user turn. Tools are OpenAI function-tool definitions.

    ``history`` continues the conversation after the user's prompt: the model's
    earlier answers and the results of the tools it called (agentic cases).
    """

    prompt: str
    system_prompt: str | None = None
    images: tuple[ImageInput, ...] = ()
    tools: tuple[JSON, ...] = ()
    max_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None
    # Ask the server for a long answer and to ignore EOS when it can (throughput items).
    ignore_eos: bool = False
    history: tuple[AssistantTurn | ToolResult, ...] = ()
    sampling: Sampling = Sampling()


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments_json: str  # exactly as received; parsing and checking belong to metrics
    id: str | None = None


@dataclass
class StreamTimeline:
    """Monotonic ``time.perf_counter_ns`` stamps of one streamed request."""

    start_ns: int  # the request went out (its headers written, when the client says)
    first_byte_ns: int | None = None
    first_token_ns: int | None = None  # first non-empty content or reasoning delta
    last_token_ns: int | None = None
    end_ns: int | None = None
    # Arrival time of every chunk that carried content or reasoning text.
    token_chunk_ns: list[int] = field(default_factory=list)
    # False when this request opened its connection (TCP connect, TLS) before it went
    # out. None when the backend's client does not say.
    connection_reused: bool | None = None
    connect_ns: int | None = None  # how long that connect (and TLS) took, in ns

    def stamp_first_byte(self, arrived_ns: int) -> None:
        self.first_byte_ns = arrived_ns


@dataclass
class ChatResult:
    route: str
    model: str | None  # the model/instance the server says answered
    content: str
    reasoning: str
    tool_calls: list[ToolCall]
    finish_reason: str | None
    prompt_tokens: int | None
    output_tokens: int | None
    token_count_estimated: bool
    server_stats: JSON
    timeline: StreamTimeline
    # True when the server gave no finish reason and it was deduced (e.g. a full budget).
    finish_reason_inferred: bool = False
    # True when the server's token count could not be true (far more than streamed):
    # output_tokens is then our own count, and token_count_estimated is True too.
    token_count_suspect: bool = False
    # The request's Sampling settings this route carried ({name: value}), and those it
    # could not carry with the reason. Empty when none were asked for.
    sampling_applied: JSON = field(default_factory=dict)
    sampling_not_applied: dict[str, str] = field(default_factory=dict)


class Backend(Protocol):
    """What the plugin needs of a model server."""

    name: str  # option value, e.g. "lmstudio"
    label: str  # for messages, e.g. "LM Studio"
    base_url: str
    supports_load: bool

    def server_info(self) -> JSON:
        """Version and build facts; raises BackendUnreachable when nothing answers."""
        ...

    def list_models(self) -> list[ModelInfo]: ...

    def find_model(self, infos: Mapping[str, ModelInfo], key: str) -> ModelInfo | None:
        """The listed model ``key`` names, or None.

        Usually ``infos.get(key)``; a server whose keys can name a variant of a
        listed model (LM Studio's ``key@quant``) resolves it here.
        """
        ...

    def load(self, key: str, config: LoadConfig) -> LoadResult: ...

    def unload(self, instance_id: str) -> None: ...

    def async_client(self) -> httpx.AsyncClient:
        """A client carrying auth and timeouts; one per event loop."""
        ...

    async def chat(
        self, client: httpx.AsyncClient, model: str, request: ChatRequest
    ) -> ChatResult: ...

    def close(self) -> None: ...
