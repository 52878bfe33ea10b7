"""Protocol-independent fake model: models, answers, faults, load state and recorded requests.

A server parses a request into a ``Turn`` (see ``answers.py``), asks
:meth:`FakeEngine.lookup` and :meth:`FakeEngine.ensure_loaded` for the model, then
:meth:`FakeEngine.plan` for the answer, and streams the plan with a ``Pacer``
(see ``pacing.py``).

Tokens are whitespace-separated words. Tests change :attr:`FakeEngine.script`,
:attr:`FakeEngine.quirks`, :attr:`FakeEngine.answers` and :attr:`FakeEngine.faults`
between requests; each request works on a snapshot taken when it arrived.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_lmbench.testing.answers import JSON, AnswerRule, Plan, Turn, compose
from pytest_lmbench.testing.models import FakeModel, ModelKind

__all__ = [
    "JSON",
    "AnswerRule",
    "EngineError",
    "FakeEngine",
    "FakeModel",
    "Fault",
    "FaultKind",
    "LoadedInstance",
    "Lookup",
    "ModelKind",
    "Quirks",
    "ReasoningField",
    "RecordedRequest",
    "Script",
]

FaultKind = Literal[
    "http_error",
    "error_200",
    "malformed",
    "cut",
    "stall",
    "wrong_model",
    "bad_tool_args",
    "die",
    "error_event",
]
ReasoningField = Literal["reasoning_content", "reasoning", "inline"]

NO_VISION_MESSAGE = "Model does not support images"
# Ollama's words when a runner cannot allocate the offloaded layers (FakeModel.max_offload).
OUT_OF_MEMORY = "llama runner process has terminated: cudaMalloc failed: out of memory"
# Faults that shape an answer; without an explicit ``route`` they only hit inference routes,
# so that a client's model-list probe does not eat a fault meant for the chat call.
ANSWER_FAULTS = frozenset(
    {"malformed", "cut", "stall", "wrong_model", "bad_tool_args", "die", "error_event"}
)


@dataclass
class Script:
    """Timing and behaviour knobs; read once per request."""

    ttft_s: float = 0.02
    prefill_s_per_token: float = 0.0
    token_interval_s: float = 0.002
    tokens_per_chunk: int = 1
    server_ttft_bias_s: float = 0.0
    server_tps_factor: float = 1.0
    auth_token: str | None = None
    default_words: int = 12
    load_delay_s: float = 0.01


@dataclass
class Quirks:
    """LM Studio behaviours from the fact sheet (section 8) that clients must survive."""

    unknown_route_200: bool = True
    v0_stream_stats: bool = False
    substitute_single_model: bool = False
    completion_tokens_off_by_one: bool = False
    reasoning_field: ReasoningField = "reasoning_content"
    has_v1: bool = True
    jit_load: bool = True
    auto_evict: bool = True  # keep at most one JIT-loaded model


@dataclass
class Fault:
    """An injected failure for requests whose last user text contains ``match``.

    Kinds: ``http_error`` (``status`` + ``body``: a dict is sent as JSON, a str as
    text/plain, None picks the route family's shape), ``error_200`` (HTTP 200 with an
    error body), ``malformed`` (an invalid JSON line in the stream, or a truncated
    JSON body), ``cut`` (drop the connection, no end event), ``stall`` (pause
    ``seconds``), ``error_event`` (an in-stream error event, then the stream ends),
    ``die`` (the whole server shuts down), ``wrong_model`` (answer as ``model``, or
    another model), ``bad_tool_args`` (tool-call arguments that are not JSON). Stream
    faults act after ``after_tokens`` tokens (at the end if the answer is shorter).

    ``route`` is a path prefix. Without it, answer-shaping kinds only hit inference
    routes (chat, completions, generate, embeddings), so a client's model-list probe
    does not use up a fault meant for the chat call. ``times`` caps how often it fires;
    ``fired`` counts it. ``headers`` go with an ``http_error`` answer (``Retry-After``).
    """

    kind: FaultKind
    match: str | None = None
    route: str | None = None
    times: int | None = None
    status: int = 500
    body: JSON | str | None = None
    after_tokens: int = 0
    seconds: float = 0.0
    model: str | None = None
    headers: dict[str, str] | None = None  # extra response headers, e.g. Retry-After
    fired: int = field(default=0, compare=False)

    def applies(self, path: str, text: str, *, inference: bool) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.route is not None:
            if not path.startswith(self.route):
                return False
        elif self.kind in ANSWER_FAULTS and not inference:
            return False
        return self.match is None or self.match in text


@dataclass(frozen=True)
class RecordedRequest:
    """``received_ns`` is ``time.perf_counter_ns()`` in this process (same clock as tests)."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    received_ns: int
    # Which client connection carried it (1 = the server's first), so tests can see reuse.
    connection: int = 0


@dataclass
class LoadedInstance:
    id: str
    key: str
    config: JSON
    jit: bool = False


class EngineError(Exception):
    """A request the fake model refuses; servers render it in their own error shape."""

    def __init__(self, kind: str, status: int, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.message = message


def _too_much_offload(model: FakeModel, offload: Any) -> bool:
    if model.max_offload is None or not isinstance(offload, float | int):
        return False
    return bool(offload > model.max_offload + 1e-9)


@dataclass(frozen=True)
class Lookup:
    model: FakeModel
    instance_id: str
    needs_load: bool


class FakeEngine:
    """Shared state of one fake server: models, load state, answers, faults, records."""

    def __init__(
        self,
        models: Iterable[FakeModel] = (),
        script: Script | None = None,
        quirks: Quirks | None = None,
    ) -> None:
        self.models: dict[str, FakeModel] = {m.key: m for m in models}
        self.script = script or Script()
        self.quirks = quirks or Quirks()
        self.answers: list[AnswerRule] = []
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.load_calls = 0  # explicit loads (load route, Ollama empty-message request)
        self.unload_calls = 0
        self.jit_loads = 0
        self._instances: dict[str, LoadedInstance] = {}
        self._lock = threading.RLock()
        self._load_lock = threading.Lock()  # loads are serial, as in a real server

    # -- bookkeeping ----------------------------------------------------------------------

    def add_model(self, model: FakeModel) -> None:
        with self._lock:
            self.models[model.key] = model

    def reset(self) -> None:
        """Forget requests, counters, loads, answers and faults; restore default knobs."""
        with self._lock:
            self.script, self.quirks = Script(), Quirks()
            self.answers, self.faults, self.requests = [], [], []
            self.load_calls = self.unload_calls = self.jit_loads = 0
            self._instances.clear()

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def snapshot(self) -> tuple[Script, Quirks]:
        with self._lock:
            return dataclasses.replace(self.script), dataclasses.replace(self.quirks)

    def take_faults(self, path: str, text: str, *, inference: bool) -> list[Fault]:
        """The faults for this request; each counts as fired once."""
        with self._lock:
            hits = [f for f in self.faults if f.applies(path, text, inference=inference)]
            for fault in hits:
                fault.fired += 1
            return hits

    # -- load state -----------------------------------------------------------------------

    @property
    def loaded(self) -> dict[str, LoadedInstance]:
        """Loaded instances by id (a copy)."""
        with self._lock:
            return dict(self._instances)

    def find_model(self, name: str) -> FakeModel | None:
        """By key, ``key@variant``, or Ollama's implicit ``:latest`` tag."""
        with self._lock:
            if name in self.models:
                return self.models[name]
            for model in self.models.values():
                aliases = (f"{model.key}:latest", f"{model.key}@{model.quantization.lower()}")
                if name in model.variants or name in aliases:
                    return model
            return None

    def _new_instance(self, model: FakeModel, config: JSON, jit: bool) -> LoadedInstance:
        ident, n = model.key, 1
        while ident in self._instances:
            n += 1
            ident = f"{model.key}:{n}"
        settings: JSON = {"context_length": min(4096, model.max_context_length)}
        if model.kind != "embedding" and model.format == "gguf":
            # llama.cpp-only settings; others are silently not applied, as LM Studio does.
            settings.update(
                eval_batch_size=512,
                parallel=4,
                flash_attention=True,
                num_experts=None,
                offload_kv_cache_to_gpu=True,
            )
        settings.update({k: v for k, v in config.items() if k in settings and v is not None})
        settings = {k: v for k, v in settings.items() if v is not None}
        instance = LoadedInstance(ident, model.key, settings, jit)
        self._instances[ident] = instance
        return instance

    def load(
        self, key: str, config: JSON | None = None, *, jit: bool = False, evict: bool = False
    ) -> LoadedInstance:
        """Load a new instance after ``load_delay_s``; raises EngineError on ``load_error``.

        ``evict`` drops earlier JIT-loaded instances first (LM Studio's auto-evict).
        """
        model = self.find_model(key)
        if model is None:
            raise EngineError("model_not_found", 404, f"Model {key} not found")
        delay = self.snapshot()[0].load_delay_s
        with self._load_lock:
            time.sleep(delay)
            if model.load_error is not None:
                raise EngineError("load_failed", 500, model.load_error)
            if _too_much_offload(model, (config or {}).get("gpu_offload")):
                raise EngineError("load_failed", 500, OUT_OF_MEMORY)
            with self._lock:
                if evict:
                    for old in [i for i in self._instances.values() if i.jit]:
                        del self._instances[old.id]
                if jit:
                    self.jit_loads += 1
                else:
                    self.load_calls += 1
                return self._new_instance(model, config or {}, jit)

    def preload(self, key: str, **config: Any) -> str:
        """Load without delay or counting, to set up a test; returns the instance id."""
        model = self.find_model(key)
        if model is None:
            raise KeyError(key)
        with self._lock:
            return self._new_instance(model, config, jit=False).id

    def unload(self, instance_id: str) -> bool:
        """Drop an instance; counts an unload call when it existed."""
        with self._lock:
            found = self._instances.pop(instance_id, None) is not None
            self.unload_calls += found
            return found

    def lookup(self, name: str, *, jit: bool) -> Lookup:
        """Which model answers a request for ``name``; raises EngineError."""
        with self._lock:
            instances = list(self._instances.values())
            if name in self._instances:
                inst = self._instances[name]
                return Lookup(self.models[inst.key], inst.id, False)
            model = self.find_model(name)
            own = [i for i in instances if model is not None and i.key == model.key]
            if self.quirks.substitute_single_model and len(instances) == 1 and not own:
                only = instances[0]  # fact sheet §4: the one loaded model answers anyway
                return Lookup(self.models[only.key], only.id, False)
            if model is None:
                raise EngineError("model_not_found", 404, f"Model {name} not found")
            if own:
                return Lookup(model, own[0].id, False)
            if not jit:
                kind = "not_loaded" if instances else "no_models_loaded"
                raise EngineError(kind, 400, f"Model {name} is not loaded")
            return Lookup(model, model.key, True)

    def ensure_loaded(
        self, lookup: Lookup, config: JSON | None = None, *, evict: bool | None = None
    ) -> tuple[Lookup, float | None]:
        """JIT-load when needed; returns the instance and the load time (None: no load).

        ``evict`` defaults to the ``auto_evict`` quirk (LM Studio); Ollama passes False.
        """
        if not lookup.needs_load:
            return lookup, None
        started = time.perf_counter()
        with self._lock:
            own = [i for i in self._instances.values() if i.key == lookup.model.key]
            evict = self.quirks.auto_evict if evict is None else evict
        # Another request may have loaded it while this one waited.
        instance = own[0] if own else self.load(lookup.model.key, config, jit=True, evict=evict)
        return Lookup(lookup.model, instance.id, False), time.perf_counter() - started

    # -- answers --------------------------------------------------------------------------

    def _rule_for(self, text: str, step: int) -> AnswerRule | None:
        with self._lock:
            return next((r for r in self.answers if r.applies(text, step)), None)

    def _other_model(self, lookup: Lookup, wanted: str | None) -> str:
        if wanted:
            return wanted
        with self._lock:
            others = [i for i in self._instances if i != lookup.instance_id]
            others += [k for k in self.models if k != lookup.model.key]
        return others[0] if others else lookup.instance_id + "-impostor"

    def plan(
        self,
        turn: Turn,
        lookup: Lookup,
        faults: Iterable[Fault] = (),
        load_s: float | None = None,
    ) -> Plan:
        """Decide the answer (see :func:`~pytest_lmbench.testing.answers.compose`)."""
        if turn.images and not lookup.model.vision:
            raise EngineError("no_vision", 400, NO_VISION_MESSAGE)
        faults = list(faults)
        wrong = next((f for f in faults if f.kind == "wrong_model"), None)
        plan = compose(
            turn,
            lookup.model,
            self._other_model(lookup, wrong.model) if wrong else lookup.instance_id,
            self._rule_for(turn.user_text, turn.step),
            default_words=self.snapshot()[0].default_words,
            corrupt_tool_args=any(f.kind == "bad_tool_args" for f in faults),
        )
        plan.load_s = load_s
        return plan
