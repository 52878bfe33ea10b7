"""A backend from outside the package: installed with an entry point, or made by a hook.

Nothing in pytest_lmbench names "echo": the example distribution in ``echo_dist``
declares it, and these tests install it (see ``conftest.py``), hold it to the
backend contract and run a benchmark with it through the plugin.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.backends import UnknownBackend, find_create, make_backend
from pytest_lmbench.backends.base import BackendOptions
from pytest_lmbench.testing.contract import BackendContract, ContractSubject
from pytest_lmbench.testing.doubles import BackendDouble
from pytest_lmbench.vocabulary import backend_names, installed_backends

from ...conftest import run_throughput_case
from .conftest import DIST, MODULE, install

CASE = {"prompt_tokens": 16, "gen_tokens": 8, "concurrency": 1}
FAST = ("--lm-runs=1", "--lm-warmup=0")


@pytest.mark.usefixtures("echo_installed")
def test_the_installed_entry_point_is_a_known_server_type() -> None:
    assert installed_backends()["echo"].value == MODULE
    assert backend_names()[-1] == "echo"
    assert backend_names()[:3] == ("lmstudio", "openai", "ollama")


def test_without_the_distribution_echo_is_unknown() -> None:
    assert "echo" not in backend_names()
    with pytest.raises(UnknownBackend, match="unknown server type 'echo'"):
        find_create("echo")


@pytest.mark.usefixtures("echo_installed")
class TestEchoContract(BackendContract):
    @pytest.fixture
    def contract_subject(self, openai_double: BackendDouble) -> Iterator[ContractSubject]:
        backend = make_backend("echo", BackendOptions(openai_double.server.base_url))
        yield ContractSubject(
            backend, openai_double.text_model, create=find_create("echo"), name="echo"
        )
        backend.close()


def report_of(pytester: pytest.Pytester) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / "out" / "latest.json").read_text())
    return data


@pytest.mark.usefixtures("echo_installed")
def test_a_benchmark_runs_on_the_installed_backend(
    pytester: pytest.Pytester, openai_double: BackendDouble
) -> None:
    result, item = run_throughput_case(
        pytester,
        openai_double.server.base_url,
        openai_double.text_model,
        CASE,
        "--lm-backend=echo",
        *FAST,
    )
    result.assert_outcomes(passed=1)
    assert item["outcome"] == "passed"
    assert item["flags"]["route"] == "/v1/chat/completions"
    run = report_of(pytester)["run"]
    assert run["backend"] == "echo"
    assert run["environment"]["server"]["plugin"] == "lmbench-echo-backend"
    assert set(openai_double.events()) == {"chat"}  # nothing to load


# -- the entry point's value: a module with create(options), or the callable ------------------


@pytest.mark.parametrize("value", [MODULE, f"{MODULE}:create"])
def test_an_entry_point_names_a_module_or_its_create(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    install(tmp_path, monkeypatch, "echo-variant", {"echo": value}, (DIST / f"{MODULE}.py",))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    backend = make_backend("echo", BackendOptions("http://127.0.0.1:9"))
    try:
        assert (backend.name, backend.label) == ("echo", "Echo (OpenAI-compatible)")
    finally:
        backend.close()


def test_an_entry_point_without_create_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(tmp_path, monkeypatch, "no-create", {"hollow": "json"})
    with pytest.raises(UnknownBackend, match="neither a module with create"):
        make_backend("hollow", BackendOptions("http://127.0.0.1:9"))


def test_a_built_in_name_cannot_be_taken_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(tmp_path, monkeypatch, "squatter", {"openai": "json", "echo": MODULE})
    assert set(installed_backends()) == {"echo"}
    backend = make_backend("openai", BackendOptions("http://127.0.0.1:9"))
    try:
        assert type(backend).__module__ == "pytest_lmbench.backends.openai"
    finally:
        backend.close()


# -- the hook: a conftest (or plugin) makes the backend ----------------------------------------

HOOK_CONFTEST = textwrap.dedent(
    """
    from pytest_lmbench.backends.openai import OpenAIBackend


    class HookedBackend(OpenAIBackend):
        name = "hooked"


    def pytest_lmbench_make_backend(name, options, config):
        if name != "hooked":
            return None  # not ours: the built-in and installed server types are asked next
        return HookedBackend(options.base_url, timeout_s=options.timeout_s, label="Hooked")
    """
)


def test_a_conftest_hook_makes_a_backend_only_it_knows(
    pytester: pytest.Pytester, openai_double: BackendDouble
) -> None:
    pytester.makeconftest(HOOK_CONFTEST)
    result, item = run_throughput_case(
        pytester,
        openai_double.server.base_url,
        openai_double.text_model,
        CASE,
        "--lm-backend=hooked",
        *FAST,
    )
    result.assert_outcomes(passed=1)
    assert item["outcome"] == "passed"
    run = report_of(pytester)["run"]
    assert run["backend"] == "hooked"
    assert run["environment"]["server"]["backend"] == "hooked"
    assert set(openai_double.events()) == {"chat"}  # nothing to load


def test_an_unknown_name_is_one_usage_line_at_session_start(
    pytester: pytest.Pytester, openai_double: BackendDouble
) -> None:
    # A hook that passes on the name does not make it known.
    pytester.makeconftest(HOOK_CONFTEST)
    result = pytester.runpytest(
        "--lm-backend=vllm",
        f"--lm-base-url={openai_double.server.base_url}",
        f"--lm-model={openai_double.text_model}",
        "--lm-no-db",
        f"--lm-output-dir={pytester.path / 'out'}",
        "-p",
        "no:cacheprovider",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --lm-backend: unknown server type 'vllm' (known: lmstudio, openai, ollama; "
            "a plugin adds one with a pytest_lmbench.backends entry point "
            "or the pytest_lmbench_make_backend hook)"
        ]
    )
    assert openai_double.events() == []


def test_a_hook_is_asked_before_the_built_in_server_types(
    pytester: pytest.Pytester, openai_double: BackendDouble
) -> None:
    # An implementation may take only the arguments it needs.
    pytester.makeconftest(
        """
        from pytest_lmbench.backends.openai import create

        def pytest_lmbench_make_backend(name, options):
            if name == "openai":
                backend = create(options)
                backend.label = "wrapped by a conftest"
                return backend
        """
    )
    result, _ = run_throughput_case(
        pytester,
        openai_double.server.base_url,
        openai_double.text_model,
        CASE,
        "--lm-backend=openai",
        *FAST,
    )
    result.assert_outcomes(passed=1)
    server = report_of(pytester)["run"]["environment"]["server"]
    assert (server["backend"], server["label"]) == ("openai", "wrapped by a conftest")
