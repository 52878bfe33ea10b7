"""Public fixtures (``lm``, ``lm_model``, ``lm_hardware``) and the items' own.

``lm_model_key`` is parametrized over ``--lm-model`` for users' tests (see
``pytest_generate_tests`` in the plugin); for suite items it comes from the item.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pytest_lmbench.backends.base import LoadedModel
from pytest_lmbench.collection.items import SPEC_KEY, ItemSpec
from pytest_lmbench.errors import LmbenchError
from pytest_lmbench.reporting.progress import terminal_progress
from pytest_lmbench.runners.client import LMClient
from pytest_lmbench.runners.common import ItemContext
from pytest_lmbench.session.hardware import HardwareHandle
from pytest_lmbench.session.results import RECORD_KEY
from pytest_lmbench.session.state import SESSION_KEY, LmbenchSession


@pytest.fixture(scope="session")
def lm_session(pytestconfig: pytest.Config) -> LmbenchSession:
    session = pytestconfig.stash.get(SESSION_KEY, None)
    if session is None or session.models is None:
        pytest.skip("pytest-lmbench is not active: pass --lm-model KEY (or --lm-serve-gguf)")
    return session


@pytest.fixture
def lm_model_key(request: pytest.FixtureRequest) -> str:
    spec: ItemSpec | None = request.node.stash.get(SPEC_KEY, None)
    if spec is None:
        pytest.fail("lm_model_key comes from --lm-model; is pytest-lmbench active?", pytrace=False)
    return spec.model


@pytest.fixture
def lm_model(lm_session: LmbenchSession, lm_model_key: str) -> LoadedModel:
    """The loaded model under test (loaded once, unloaded after its last item)."""
    assert lm_session.models is not None
    try:
        return lm_session.models.ensure_loaded(lm_model_key)
    except LmbenchError as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)


@pytest.fixture
def lm(lm_session: LmbenchSession, lm_model: LoadedModel) -> LMClient:
    """A chat client bound to the current model."""
    assert lm_session.backend is not None
    return LMClient(lm_session.backend, lm_model, lm_session.settings)


@pytest.fixture
def lm_hardware(
    request: pytest.FixtureRequest, lm_session: LmbenchSession
) -> Iterator[HardwareHandle]:
    """Samples CPU, RAM, GPU and the server process while the item runs."""
    handle = HardwareHandle(lm_session.settings, lm_session.sampler)
    spec = request.node.stash.get(SPEC_KEY, None)
    if spec is not None and spec.kind == "throughput":
        handle.cool_down()
    handle.start()
    yield handle
    hardware = handle.close()
    record = request.node.stash.get(RECORD_KEY, None)
    if record is not None and not record.hardware:
        record.hardware = hardware


@pytest.fixture
def lmbench_spec(request: pytest.FixtureRequest) -> ItemSpec:
    spec: ItemSpec = request.node.stash[SPEC_KEY]
    return spec


@pytest.fixture
def lmbench_context(
    request: pytest.FixtureRequest,
    lm_session: LmbenchSession,
    lm_model: LoadedModel,
    lm_hardware: HardwareHandle,
) -> ItemContext:
    assert lm_session.backend is not None
    return ItemContext(
        settings=lm_session.settings,
        backend=lm_session.backend,
        model=lm_model,
        record=request.node.stash[RECORD_KEY],
        hardware=lm_hardware,
        gates=lm_session.gates,
        model_cache=lm_session.cache_for(lm_model.key),
        progress=terminal_progress(request.config),
    )


@pytest.fixture
def lmbench_benchmark(request: pytest.FixtureRequest) -> Any:
    """pytest-benchmark's fixture when that plugin is active, else None."""
    if request.config.pluginmanager.hasplugin("benchmark"):
        return request.getfixturevalue("benchmark")
    return None
