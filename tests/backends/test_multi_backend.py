"""MultiBackend (--lm-server) holds to the backend contract and routes by server name."""

from __future__ import annotations

from pytest_lmbench.backends import make_backend
from pytest_lmbench.backends.base import BackendOptions
from pytest_lmbench.backends.multi import MultiBackend
from pytest_lmbench.testing import LMStudioTestServer, OllamaTestServer
from pytest_lmbench.testing.contract import ContractSubject, check_backend


def test_several_servers_hold_to_the_contract(
    lmstudio_server: LMStudioTestServer, ollama_server: OllamaTestServer
) -> None:
    for model in ("lms:qwen/qwen3-4b", "oll:qwen3:4b"):
        multi = MultiBackend(
            {
                "lms": make_backend("lmstudio", BackendOptions(lmstudio_server.base_url)),
                "oll": make_backend("ollama", BackendOptions(ollama_server.base_url)),
            }
        )
        check_backend(ContractSubject(multi, model))


def test_keys_instances_and_facts_carry_the_server_name(
    lmstudio_server: LMStudioTestServer, ollama_server: OllamaTestServer
) -> None:
    multi = MultiBackend(
        {
            "lms": make_backend("lmstudio", BackendOptions(lmstudio_server.base_url)),
            "oll": make_backend("ollama", BackendOptions(ollama_server.base_url)),
        }
    )
    try:
        infos = {info.key: info for info in multi.list_models()}
        assert {"lms:qwen/qwen3-4b", "oll:qwen3:4b"} <= set(infos)
        found = multi.find_model(infos, "oll:qwen3:4b")
        assert found is not None
        assert found.key == "oll:qwen3:4b"
        assert found.digest  # Ollama reports one; LM Studio does not
        assert infos["lms:qwen/qwen3-4b"].digest is None
        assert multi.find_model(infos, "qwen3:4b") is None
        assert multi.server_facts("oll:qwen3:4b")["server_backend"] == "ollama"
        assert set(multi.server_info()["servers"]) == {"lms", "oll"}
    finally:
        multi.close()
