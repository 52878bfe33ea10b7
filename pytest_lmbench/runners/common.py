"""What both runners share: the item context, one chat call, the model check."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol, TypeVar

import httpx
import pytest

from pytest_lmbench.backends.base import Backend, ChatRequest, ChatResult, LoadedModel, Sampling
from pytest_lmbench.config.options import Settings
from pytest_lmbench.errors import BackendHTTPError, LmbenchError, ModelMismatch
from pytest_lmbench.records import Flags, Hardware, Report, ResultEntry
from pytest_lmbench.redaction import printable
from pytest_lmbench.runners.progress import ProgressSink
from pytest_lmbench.sampling.contention import contention

T = TypeVar("T")


class Gates(Protocol):
    """Implemented by :class:`pytest_lmbench.gates.keeper.GateKeeper`."""

    def check_item(self, record: ResultEntry, fingerprint: str | None) -> list[str]: ...

    def session_failures(self, report: Report) -> list[str]: ...

    def summary_lines(self, report: Report) -> list[str]: ...

    def close(self) -> None: ...


class HardwareProbe(Protocol):
    result: Hardware | None

    def begin_measured(self) -> None: ...

    def end_measured(self) -> None: ...

    def finish(self, output_tokens: int | None) -> Hardware: ...


@dataclass
class ItemContext:
    settings: Settings
    backend: Backend
    model: LoadedModel
    record: ResultEntry
    hardware: HardwareProbe | None = None
    gates: Gates | None = None
    # Per-model facts shared by items, e.g. the prompt-length calibration.
    model_cache: dict[str, Any] = field(default_factory=dict)
    # Where a long item shows how far it is (None: nowhere, e.g. -q or an xdist worker).
    progress: ProgressSink | None = None

    def waited_429(self, wait_s: float) -> None:
        """A chat answered HTTP 429 and was asked again after ``wait_s`` (Retry-After)."""
        flags = self.record.flags
        flags["http_429_retries"] = flags.get("http_429_retries", 0) + 1
        flags["http_429_wait_s"] = round(flags.get("http_429_wait_s", 0.0) + wait_s, 6)

    def begin_measured(self) -> None:
        """Energy per token covers only what runs between this and ``end_measured``."""
        if self.hardware is not None:
            self.hardware.begin_measured()

    def end_measured(self) -> None:
        if self.hardware is not None:
            self.hardware.end_measured()

    def finish_hardware(self, output_tokens: int | None) -> None:
        if self.hardware is None:
            return
        try:
            self.hardware.finish(output_tokens)
        finally:
            self.record.hardware = self.hardware.result or {}
            contended, other_pct = contention(self.record.hardware)
            self.record.flags["contended"] = contended
            self.record.flags["contention_other_cpu_pct"] = other_pct


def sampling_of(settings: Settings) -> Sampling:
    """The sampling settings beyond temperature and seed that the options ask for."""
    return Sampling(
        top_k=settings.lm_top_k,
        top_p=settings.lm_top_p,
        min_p=settings.lm_min_p,
        repeat_penalty=settings.lm_repeat_penalty,
        presence_penalty=settings.lm_presence_penalty,
        frequency_penalty=settings.lm_frequency_penalty,
        stop=settings.lm_stop,
    )


def sampling_flags(flags: Flags, result: ChatResult) -> None:
    """What the route carried of the sampling settings, into an item's flags."""
    flags["sampling_applied"] = dict(result.sampling_applied)
    flags["sampling_not_applied"] = dict(result.sampling_not_applied)


def gate_problems(ctx: ItemContext) -> list[str]:
    """Gates and the baseline comparison. They run even when the item's own check
    fails, so every regression reaches the summary."""
    if ctx.gates is None:
        return []
    return ctx.gates.check_item(ctx.record, ctx.model.fingerprint)


def fail_on(problems: list[str]) -> None:
    if problems:
        fail("; ".join(problems))


def fail(message: str) -> NoReturn:
    # Failure messages quote model output: escaped and capped before pytest prints them.
    pytest.fail(printable(message), pytrace=False)


class ItemFault(pytest.fail.Exception):  # type: ignore[misc,name-defined]
    """The model could not be asked or its answer could not be read: the item is an
    error (``error_kind``), not a failure, and never counts in quality or success rate."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(printable(message), pytrace=False)
        self.kind = kind


def guarded(action: Callable[[], T]) -> T:
    """Call ``action``; an LmbenchError ends the item as a one-line error (a fault).

    The raise is after the ``except`` block, so pytest shows neither a traceback
    nor the exception chain, only the message.
    """
    try:
        return action()
    except LmbenchError as exc:
        message, kind = str(exc), exc.kind
    raise ItemFault(message, kind)


def run(factory: Callable[[], Any]) -> Any:
    """Run a coroutine; an LmbenchError becomes a one-line item failure."""
    return guarded(lambda: asyncio.run(factory()))


# HTTP 429 on a chat: asked again at most this often, each wait at most this long.
MAX_429_RETRIES = 3
MAX_429_WAIT_S = 30.0


async def chat_retrying(
    backend: Backend,
    client: httpx.AsyncClient,
    model: str,
    request: ChatRequest,
    on_wait: Callable[[float], None] | None = None,
) -> ChatResult:
    """One chat; HTTP 429 is waited out as its Retry-After says and asked again.

    Each attempt is a new request with its own timeline, so the wait is never part
    of a measured request's timing; ``on_wait`` counts the waits for the record.
    """
    for attempt in range(MAX_429_RETRIES + 1):
        try:
            return await backend.chat(client, model, request)
        except BackendHTTPError as exc:
            wait_s = exc.retry_after_s
            if wait_s is None or wait_s > MAX_429_WAIT_S or attempt == MAX_429_RETRIES:
                raise
        if on_wait is not None:
            on_wait(wait_s)
        await asyncio.sleep(wait_s)
    raise AssertionError("unreachable: the last attempt returns or raises")


async def chat_once(
    backend: Backend,
    model: str,
    request: ChatRequest,
    on_wait: Callable[[float], None] | None = None,
) -> ChatResult:
    async with backend.async_client() as client:
        return await chat_retrying(backend, client, model, request, on_wait)


def check_model(model: LoadedModel, result: ChatResult, label: str) -> None:
    """LM Studio may answer with another loaded model when names do not match (#619)."""
    answered = result.model
    if (
        answered is None
        or same_model(model.instance_id, answered)
        or same_model(model.key, answered)
    ):
        return
    raise ModelMismatch(
        f"asked {label} for {model.key} but {answered} answered; "
        "another model is loaded or the key is wrong"
    )


def same_model(requested: str, answered: str) -> bool:
    if requested == answered:
        return True
    # Instances of one model are "key", "key:2", ...; a variant "key@q4_k_m" may answer as "key".
    base_answered = answered.split(":", 1)[0]
    return base_answered in (requested, requested.split("@", 1)[0]) or answered.endswith(
        "/" + requested
    )
