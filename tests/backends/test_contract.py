"""The backend contract (``pytest_lmbench.testing.contract``) on every built-in backend."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest

from pytest_lmbench.backends import REGISTRY, make_backend
from pytest_lmbench.backends.base import BackendOptions
from pytest_lmbench.testing.contract import BackendContract, ContractSubject, check_backend
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
