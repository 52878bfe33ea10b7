"""The backend contract (``pytest_lmbench.testing.contract``) on every built-in backend."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest

from pytest_lmbench.backends import REGISTRY, make_backend
from pytest_lmbench.backends.base import (
    JSON,
    BackendOptions,
    LoadConfig,
    LoadResult,
    StreamTimeline,
)
from pytest_lmbench.backends.openai import OpenAIBackend
from pytest_lmbench.testing.contract import (
    BackendContract,
    ContractSubject,
    check_backend,
    check_load,
    check_timeline,
    check_unreachable,
)
from pytest_lmbench.testing.doubles import BackendDouble


def subject_for(double: BackendDouble) -> ContractSubject:
    backend = make_backend(double.name, BackendOptions(double.server.base_url))
    create = importlib.import_module(REGISTRY[double.name]).create
    return ContractSubject(backend, double.text_model, create=create, name=double.name)


class TestBuiltinBackends(BackendContract):
    @pytest.fixture
    def contract_subject(self, backend_double: BackendDouble) -> Iterator[ContractSubject]:
        subject = subject_for(backend_double)
        yield subject
        subject.backend.close()


def test_the_whole_contract_loads_chats_and_unloads_on_the_double(
    backend_double: BackendDouble,
) -> None:
    check_backend(subject_for(backend_double))
    events = backend_double.events()
    if backend_double.supports_load:
        assert events == ["load", "chat", "unload"]
        assert backend_double.server.engine.loaded == {}
    else:
        assert events == ["chat"]


# -- the contract catches what the session could not live with ---------------------------------


class Misreporting(OpenAIBackend):
    """An OpenAI-compatible backend that claims a setting it did not apply."""

    def load(self, key: str, config: LoadConfig) -> LoadResult:
        result = super().load(key, config)
        result.applied, result.not_applied = {"context_length": 2048}, {}
        return result


def test_a_setting_claimed_applied_with_another_value_breaks_the_contract() -> None:
    backend = Misreporting("http://127.0.0.1:9")
    try:
        with pytest.raises(AssertionError, match="neither applied with that value"):
            check_load(backend, "m", LoadConfig(context_length=4096))
    finally:
        backend.close()


def test_a_silent_server_info_breaks_the_contract() -> None:
    class Silent(OpenAIBackend):
        def server_info(self) -> JSON:
            return {}

    with pytest.raises(AssertionError, match="answered instead of BackendUnreachable"):
        check_unreachable(lambda options: Silent(options.base_url))


@pytest.mark.parametrize(
    ("stamps", "message"),
    [
        ({"first_byte_ns": 2, "first_token_ns": 3, "last_token_ns": 4}, "missing: \\['end_ns'\\]"),
        ({"first_byte_ns": 3, "first_token_ns": 2, "last_token_ns": 4, "end_ns": 5}, "order"),
        ({"first_byte_ns": 2, "first_token_ns": 3, "last_token_ns": 3, "end_ns": 5}, "first and"),
    ],
)
def test_a_timeline_out_of_order_breaks_the_contract(stamps: dict[str, int], message: str) -> None:
    timeline = StreamTimeline(start_ns=1, token_chunk_ns=[3, 4], **stamps)
    with pytest.raises(AssertionError, match=message):
        check_timeline(timeline)


def test_chunks_stamped_out_of_arrival_order_break_the_contract() -> None:
    timeline = StreamTimeline(1, 2, 3, 5, 6, token_chunk_ns=[3, 5, 4, 5])
    with pytest.raises(AssertionError, match="arrival order"):
        check_timeline(timeline)
