"""The contract every backend keeps: what the session relies on, checked against a live server.

A backend (built-in or a plugin's) passes it against its test double or a real
server. Either call the plain functions, or subclass :class:`BackendContract` in a
test module and give it the ``contract_subject`` fixture::

    from pytest_lmbench.testing.contract import BackendContract, ContractSubject

    class TestMyBackend(BackendContract):
        @pytest.fixture
        def contract_subject(self, my_server):
            backend = my_backend.create(BackendOptions(my_server.base_url))
            yield ContractSubject(backend, model="my-model", create=my_backend.create)
            backend.close()

Each check raises ``AssertionError`` saying which rule a backend broke.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import pytest

from pytest_lmbench.backends.base import (
    JSON,
    Backend,
    BackendOptions,
    ChatRequest,
    ChatResult,
    LoadConfig,
    LoadResult,
    ModelInfo,
    StreamTimeline,
)
from pytest_lmbench.errors import BackendUnreachable

# Nothing listens on the discard port: a backend must say so with BackendUnreachable.
UNREACHABLE_URL = "http://127.0.0.1:9"
NO_SUCH_MODEL = "no-such-vendor/no-such-model-lmbench-contract"
# A setting every server can answer for: applied, or not applied with a reason.
CONTRACT_LOAD = LoadConfig(context_length=4096)
CONTRACT_CHAT = ChatRequest(prompt="What is the capital of France?", max_tokens=32)


@dataclass
class ContractSubject:
    """A backend under test, the model it should serve, and how it is made."""

    backend: Backend
    model: str  # a key the server lists and answers with
    # The backend's create(options): to check it against a server that is not there.
    create: Callable[[BackendOptions], Backend] | None = None
    name: str | None = None  # the --lm-backend value it is registered under


def _non_empty_str(value: object, what: str) -> None:
    assert isinstance(value, str), f"{what} must be a str, got {value!r}"
    assert value, f"{what} must not be empty"


def check_attributes(backend: Backend, name: str | None = None) -> None:
    for attribute in ("name", "label", "base_url"):
        _non_empty_str(getattr(backend, attribute, None), f"backend.{attribute}")
    assert isinstance(backend.supports_load, bool), "backend.supports_load must be a bool"
    assert not backend.base_url.endswith("/"), "base_url is kept without a trailing slash"
    if name is not None:
        assert backend.name == name, f"backend.name is {backend.name!r}, registered as {name!r}"


def check_server_info(backend: Backend) -> JSON:
    info = backend.server_info()
    assert isinstance(info, dict), "server_info() returns a dict"
    # It goes into every report's environment: it must survive JSON.
    json.dumps(info)
    return info


def check_list_models(backend: Backend, model: str) -> dict[str, ModelInfo]:
    listed = backend.list_models()
    assert isinstance(listed, list), "list_models() returns a list"
    assert all(isinstance(m, ModelInfo) for m in listed), "list_models() returns ModelInfo"
    infos = {m.key: m for m in listed}
    assert len(infos) == len(listed), "list_models() lists each key once"
    for info in listed:
        json.dumps(info.to_json())
    assert backend.find_model(infos, model) is not None, f"{model!r} is not listed"
    return infos


def check_find_model(backend: Backend, infos: Mapping[str, ModelInfo], model: str) -> None:
    found = backend.find_model(infos, model)
    assert isinstance(found, ModelInfo), f"find_model(infos, {model!r}) returns its ModelInfo"
    if model in infos:
        assert found == infos[model], "a listed key finds its own ModelInfo"
    assert backend.find_model(infos, NO_SUCH_MODEL) is None, "an unknown key finds None"


def check_load(backend: Backend, model: str, config: LoadConfig = CONTRACT_LOAD) -> LoadResult:
    """Every requested setting is applied with its value, or not applied with a reason."""
    result = backend.load(model, config)
    assert isinstance(result, LoadResult), "load() returns a LoadResult"
    _non_empty_str(result.instance_id, "LoadResult.instance_id")
    assert result.requested == config.requested(), "requested is what was asked for"
    for setting, value in config.requested().items():
        reason = result.not_applied.get(setting)
        if reason is None:
            assert result.applied.get(setting) == value, (
                f"{setting}={value!r} is neither applied with that value nor in not_applied"
            )
        else:
            _non_empty_str(reason, f"the reason not_applied[{setting!r}]")
    assert set(result.not_applied) <= set(config.requested()), "only requested settings"
    assert result.client_load_time_s >= 0, "client_load_time_s is a duration"
    assert result.load_time_s is None or result.load_time_s >= 0
    json.dumps([result.applied, result.facts])
    return result


def check_unload(backend: Backend, loaded: LoadResult) -> None:
    if backend.supports_load:
        backend.unload(loaded.instance_id)


def chat_once(backend: Backend, model: str, request: ChatRequest = CONTRACT_CHAT) -> ChatResult:
    """One streamed chat on a fresh client, closed before it returns."""

    async def chat() -> ChatResult:
        async with backend.async_client() as client:
            return await backend.chat(client, model, request)

    return asyncio.run(chat())


def check_chat(backend: Backend, model: str, request: ChatRequest = CONTRACT_CHAT) -> ChatResult:
    result = chat_once(backend, model, request)
    assert isinstance(result, ChatResult), "chat() returns a ChatResult"
    _non_empty_str(result.route, "ChatResult.route")
    assert result.content or result.reasoning, "the answer carries text"
    assert result.finish_reason, "a finished stream has a finish reason"
    # Counted by the server, or estimated from the chunks and flagged as such.
    assert isinstance(result.output_tokens, int), "output_tokens is counted"
    assert result.output_tokens >= 1, "an answer with text has at least one token"
    assert isinstance(result.token_count_estimated, bool)
    assert result.prompt_tokens is None or result.prompt_tokens >= 1
    assert isinstance(result.server_stats, dict)
    json.dumps(result.server_stats)
    check_timeline(result.timeline)
    return result


def check_timeline(timeline: StreamTimeline) -> None:
    """Every stamp is set and in order: start, first byte, first token, last token, end."""
    stamps = {
        "start_ns": timeline.start_ns,
        "first_byte_ns": timeline.first_byte_ns,
        "first_token_ns": timeline.first_token_ns,
        "last_token_ns": timeline.last_token_ns,
        "end_ns": timeline.end_ns,
    }
    missing = [name for name, stamp in stamps.items() if stamp is None]
    assert not missing, f"a streamed answer has every stamp; missing: {missing}"
    ordered = [stamp for stamp in stamps.values() if stamp is not None]
    assert ordered == sorted(ordered), f"stamps are out of order: {stamps}"
    chunks = timeline.token_chunk_ns
    assert chunks, "token_chunk_ns has the arrival of every chunk with text"
    assert chunks == sorted(chunks), "token chunks are stamped in arrival order"
    assert (chunks[0], chunks[-1]) == (timeline.first_token_ns, timeline.last_token_ns), (
        "the first and last token chunks are the first and last token stamps"
    )


def check_unreachable(create: Callable[[BackendOptions], Backend]) -> None:
    """With nothing listening, server_info() raises BackendUnreachable (a one-line usage error)."""
    backend = create(BackendOptions(UNREACHABLE_URL, timeout_s=5.0))
    try:
        backend.server_info()
    except BackendUnreachable:
        return
    except Exception as exc:
        raise AssertionError(
            f"server_info() with no server raised {type(exc).__name__}, not BackendUnreachable"
        ) from exc
    finally:
        backend.close()
    raise AssertionError("server_info() with no server answered instead of BackendUnreachable")


def check_backend(subject: ContractSubject) -> None:
    """The whole contract in the order a session uses a backend; closes it at the end."""
    backend = subject.backend
    check_attributes(backend, subject.name)
    check_server_info(backend)
    infos = check_list_models(backend, subject.model)
    check_find_model(backend, infos, subject.model)
    loaded = check_load(backend, subject.model)
    check_chat(backend, loaded.chat_model or loaded.instance_id)
    check_unload(backend, loaded)
    backend.close()
    if subject.create is not None:
        check_unreachable(subject.create)


class BackendContract:
    """The contract as test methods; a subclass provides the ``contract_subject`` fixture.

    The fixture owns the backend and closes it after the test, so ``close()``
    must be safe to call twice (``test_close_twice``).
    """

    @pytest.fixture
    def contract_subject(self) -> Iterator[ContractSubject]:
        raise NotImplementedError("override contract_subject in the subclass")

    def test_attributes(self, contract_subject: ContractSubject) -> None:
        check_attributes(contract_subject.backend, contract_subject.name)

    def test_server_info(self, contract_subject: ContractSubject) -> None:
        check_server_info(contract_subject.backend)

    def test_list_and_find_models(self, contract_subject: ContractSubject) -> None:
        backend, model = contract_subject.backend, contract_subject.model
        check_find_model(backend, check_list_models(backend, model), model)

    def test_load_chat_unload(self, contract_subject: ContractSubject) -> None:
        backend = contract_subject.backend
        loaded = check_load(backend, contract_subject.model)
        check_chat(backend, loaded.chat_model or loaded.instance_id)
        check_unload(backend, loaded)

    def test_unreachable_server(self, contract_subject: ContractSubject) -> None:
        if contract_subject.create is None:
            pytest.skip("no create(options) given to make the backend against no server")
        check_unreachable(contract_subject.create)

    def test_close_twice(self, contract_subject: ContractSubject) -> None:
        contract_subject.backend.close()
        contract_subject.backend.close()
