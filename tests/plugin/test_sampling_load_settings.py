"""Every sampling and load option reaches what the server receives, on every backend (issue 14).

Each test reads the request bodies the test server recorded: a setting is in a
body exactly when the report says the route carried it (``applied``), and every
other requested setting is in ``not_applied`` with its reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.testing.doubles import BackendDouble
from pytest_lmbench.testing.engine import RecordedRequest
from pytest_lmbench.testing.oracle import oracle_rules

from .conftest import write_suite

SAMPLING_ARGS = (
    "--lm-top-k=40",
    "--lm-top-p=0.9",
    "--lm-min-p=0.05",
    "--lm-repeat-penalty=1.1",
    "--lm-presence-penalty=0.5",
    "--lm-frequency-penalty=0.25",
    "--lm-stop=END",
    r"--lm-stop=\n\n",
)
SAMPLING = {
    "top_k": 40,
    "top_p": 0.9,
    "min_p": 0.05,
    "repeat_penalty": 1.1,
    "presence_penalty": 0.5,
    "frequency_penalty": 0.25,
    "stop": ["END", "\n\n"],
}
LOAD_ARGS = (
    "--lm-context-length=8192",
    "--lm-gpu-layers=20",
    "--lm-batch-size=256",
    "--lm-threads=3",
    "--lm-kv-cache-quant=q8_0",
    "--lm-no-mmap",
    "--lm-mlock",
    "--lm-parallel=2",
    "--lm-unified-kv-cache",
    "--lm-rope-freq-base=10000",
    "--lm-rope-freq-scale=0.5",
)
LOAD = {
    "context_length": 8192,
    "gpu_layers": 20,
    "batch_size": 256,
    "threads": 3,
    "kv_cache_quant": "q8_0",
    "mmap": False,
    "mlock": True,
    "parallel": 2,
    "unified_kv_cache": True,
    "rope_freq_base": 10000.0,
    "rope_freq_scale": 0.5,
}
# What each backend's chat route carries of SAMPLING (the rest: not applied).
CARRIED = {
    "lmstudio": {k: v for k, v in SAMPLING.items() if k != "min_p"},  # /v1: stop needs it
    "ollama": SAMPLING,
    "openai": SAMPLING,  # all sent; llama.cpp's extensions unconfirmed on this server
}
CONFIRMED = {
    "lmstudio": CARRIED["lmstudio"],
    "ollama": SAMPLING,
    "openai": {k: SAMPLING[k] for k in ("top_p", "presence_penalty", "frequency_penalty", "stop")},
}
# The load settings each backend applies; the others are not applied, with a reason.
LOAD_APPLIED = {
    "lmstudio": {"context_length": 8192, "batch_size": 256},
    "ollama": {k: LOAD[k] for k in ("context_length", "gpu_layers", "batch_size", "threads")}
    | {"mmap": False},
    "openai": {},
}


@pytest.fixture
def no_lms(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``lms`` on PATH: LM Studio loads through its REST API."""
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    kept = [d for d in dirs if d and not os.access(os.path.join(d, "lms"), os.X_OK)]
    monkeypatch.setenv("PATH", os.pathsep.join(kept))


def run_one_case(pytester: pytest.Pytester, double: BackendDouble, *args: str) -> dict[str, Any]:
    double.server.engine.script.ttft_s = 0.001
    double.server.engine.script.token_interval_s = 0.0002
    suite = write_suite(pytester.path / "suite")
    double.server.engine.answers[:] = oracle_rules([suite])
    result = pytester.runpytest(
        f"--lm-suite-dir={suite}",
        f"--lm-model={double.text_model}",
        "--lm-capabilities=general_text",
        "--lm-max-tests=1",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "-p",
        "no:cacheprovider",
        *double.args,
        *args,
    )
    result.assert_outcomes(passed=1)
    report: dict[str, Any] = json.loads((pytester.path / "out" / "latest.json").read_text())
    return report


def sent_sampling(double: BackendDouble, chat: RecordedRequest) -> dict[str, Any]:
    body = chat.json
    fields = body.get("options", {}) if double.name == "ollama" else body
    return {k: fields[k] for k in SAMPLING if k in fields}


def test_every_sampling_option_reaches_the_chat_body_and_is_recorded(
    pytester: pytest.Pytester, backend_double: BackendDouble
) -> None:
    report = run_one_case(pytester, backend_double, *SAMPLING_ARGS)
    name = backend_double.name
    [chat] = backend_double.chats()
    assert sent_sampling(backend_double, chat) == CARRIED[name]
    [item] = report["results"]
    flags = item["flags"]
    assert flags["sampling_applied"] == CONFIRMED[name]
    assert set(flags["sampling_not_applied"]) == set(SAMPLING) - set(CONFIRMED[name])
    assert all(flags["sampling_not_applied"].values())
    if name == "lmstudio":
        assert flags["route"] == chat.path == "/v1/chat/completions"
        assert "only /api/v1/chat" in flags["sampling_not_applied"]["min_p"]
    if name == "openai":
        assert "llama.cpp extension" in flags["sampling_not_applied"]["top_k"]


@pytest.mark.parametrize("backend_double", ["lmstudio"], indirect=True)
def test_lmstudio_keeps_the_native_route_for_what_it_takes(
    pytester: pytest.Pytester, backend_double: BackendDouble
) -> None:
    native = ("--lm-top-k=40", "--lm-top-p=0.9", "--lm-min-p=0.05", "--lm-repeat-penalty=1.1")
    report = run_one_case(pytester, backend_double, *native)
    [chat] = backend_double.chats()
    assert chat.path == "/api/v1/chat"
    wanted = {"top_k": 40, "top_p": 0.9, "min_p": 0.05, "repeat_penalty": 1.1}
    assert sent_sampling(backend_double, chat) == wanted
    [item] = report["results"]
    assert (item["flags"]["sampling_applied"], item["flags"]["sampling_not_applied"]) == (
        wanted,
        {},
    )


def test_without_sampling_options_nothing_is_sent_or_recorded(
    pytester: pytest.Pytester, backend_double: BackendDouble
) -> None:
    report = run_one_case(pytester, backend_double)
    [chat] = backend_double.chats()
    assert sent_sampling(backend_double, chat) == {}
    [item] = report["results"]
    assert (item["flags"]["sampling_applied"], item["flags"]["sampling_not_applied"]) == ({}, {})


def load_request(double: BackendDouble) -> dict[str, Any] | None:
    loads = [r for r in double.server.engine.requests if double.load_event(r) == "load"]
    return loads[0].json if loads else None


def test_every_load_option_reaches_the_load_request_and_is_recorded(
    pytester: pytest.Pytester, backend_double: BackendDouble, no_lms: None
) -> None:
    report = run_one_case(pytester, backend_double, *LOAD_ARGS)
    name = backend_double.name
    [model] = report["models"]
    load = model["load"]
    assert load["requested"] == LOAD
    applied = {k: load["applied"][k] for k in LOAD if k not in load["not_applied"]}
    assert applied == LOAD_APPLIED[name]
    assert set(load["not_applied"]) == set(LOAD) - set(LOAD_APPLIED[name])
    assert all(load["not_applied"].values())
    body = load_request(backend_double)
    if name == "lmstudio":
        assert body == {
            "model": backend_double.text_model,
            "echo_load_config": True,
            "context_length": 8192,
            "eval_batch_size": 256,
        }
        assert "bug #2024" in load["not_applied"]["parallel"]
        assert "cpuThreads" in load["not_applied"]["threads"]
    elif name == "ollama":
        options = {
            "num_ctx": 8192,
            "num_gpu": 20,
            "num_batch": 256,
            "num_thread": 3,
            "use_mmap": False,
        }
        assert body is not None
        assert body["options"] == options
        # Every chat repeats them: Ollama reloads a model whose runner options differ.
        [chat] = backend_double.chats()
        assert {k: chat.json["options"][k] for k in options} == options
        assert "OLLAMA_KV_CACHE_TYPE" in load["not_applied"]["kv_cache_quant"]
    else:
        assert body is None
        assert "has no load API" in load["not_applied"]["batch_size"]


def test_a_yaml_config_carries_the_settings_too(
    pytester: pytest.Pytester, backend_double: BackendDouble, tmp_path: Path
) -> None:
    config = tmp_path / "lmbench.yaml"
    config.write_text("top_p: 0.8\nstop: ['###']\n")
    report = run_one_case(pytester, backend_double, f"--lm-config={config}")
    [chat] = backend_double.chats()
    assert sent_sampling(backend_double, chat) == {"top_p": 0.8, "stop": ["###"]}
    [item] = report["results"]
    assert item["flags"]["sampling_applied"] == {"top_p": 0.8, "stop": ["###"]}
