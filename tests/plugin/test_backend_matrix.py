"""The core integration tests on every backend, each against its test double (issue 8).

LM Studio, Ollama and an OpenAI-compatible server (the LM Studio double's ``/v1``
routes) run the same suites; what differs is only what each API can do: Ollama and
LM Studio load and unload, an OpenAI-compatible server has nothing to load.
"""

from __future__ import annotations

import base64
import importlib
import json
from typing import Any

import pytest

from pytest_lmbench.backends import REGISTRY
from pytest_lmbench.backends.base import BackendOptions
from pytest_lmbench.suites.loader import bundled_root
from pytest_lmbench.testing import ANSWER_KEY, read_png_text
from pytest_lmbench.testing.doubles import DOUBLES, BackendDouble
from pytest_lmbench.testing.oracle import oracle_rules
from pytest_lmbench.vocabulary import BACKENDS

from .conftest import write_suite

TIMING_KEYS = {"n", "mean", "median", "p50", "p90", "p95", "p99", "std", "min", "max"}


def fast(double: BackendDouble) -> None:
    double.server.engine.script.ttft_s = 0.001
    double.server.engine.script.token_interval_s = 0.0002


def report_of(pytester: pytest.Pytester) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / "out" / "latest.json").read_text())
    return data


def output_args(pytester: pytest.Pytester, *extra: str) -> list[str]:
    return [
        f"--lm-output-dir={pytester.path / 'out'}",
        f"--lm-db=sqlite:///{pytester.path / 'results.db'}",
        "-p",
        "no:cacheprovider",
        *extra,
    ]


def test_user_suite_lifecycle_and_report_shape(
    pytester: pytest.Pytester, backend_double: BackendDouble
) -> None:
    fast(backend_double)
    suite = write_suite(pytester.path / "suite")
    backend_double.server.engine.answers[:] = oracle_rules([suite])
    result = pytester.runpytest(
        f"--lm-suite-dir={suite}",
        f"--lm-model={backend_double.text_model}",
        *backend_double.args,
        *output_args(pytester, "--lm-runs=2", "--lm-warmup=1"),
    )
    result.assert_outcomes(passed=4)
    engine = backend_double.server.engine
    events = backend_double.events()
    sequence = [e for i, e in enumerate(events) if i == 0 or events[i - 1] != e]
    if backend_double.supports_load:
        # Loaded exactly once before the items, unloaded exactly once after them.
        assert (engine.load_calls, engine.unload_calls) == (1, 1)
        assert sequence == ["load", "chat", "unload"]
        assert engine.loaded == {}
    else:
        assert (engine.load_calls, engine.unload_calls) == (0, 0)
        assert sequence == ["chat"]
    report = report_of(pytester)
    assert report["schema_version"] == 1
    run = report["run"]
    assert (run["status"], run["backend"]) == ("completed", backend_double.name)
    assert run["fingerprint"]
    assert run["environment"]["server"]["backend"] == backend_double.name
    assert backend_double.text_model in run["environment"]["models"]
    [model] = report["models"]
    assert (model["key"], model["status"]) == (backend_double.text_model, "ok")
    assert model["metadata"]["fingerprint"]
    if not backend_double.supports_load:
        assert model["load"]["applied"] == {}
    assert {r["case_id"] for r in report["results"]} == {
        "capital_fr",
        "moon_year",
        "math_001",
        "pp64-tg16-c1",
    }
    assert all(r["outcome"] == "passed" for r in report["results"])
    for entry in report["results"]:
        assert entry["model"] == backend_double.text_model
        assert entry["flags"]["route"] in backend_double.chat_routes
        assert entry["timing"]
    [throughput] = [r for r in report["results"] if r["kind"] == "throughput"]
    assert set(throughput["timing"]["decode_tps"]) >= TIMING_KEYS
    assert throughput["timing"]["ttft_s"]["n"] == 2  # the warmup is not measured
    assert throughput["timing"]["prompt_tokens_actual"] == 64


def capability_run(
    pytester: pytest.Pytester, double: BackendDouble, keyword: str
) -> dict[str, int]:
    fast(double)
    double.server.engine.answers[:] = oracle_rules([bundled_root()])
    result = pytester.runpytest(
        "--pyargs",
        "capability_suites",
        f"--lm-model={double.vision_model}",
        *double.args,
        *output_args(pytester, "--lm-no-db", "--lm-formats=json", "-k", keyword),
    )
    outcomes: dict[str, int] = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0
    assert outcomes.get("errors", 0) == 0
    return outcomes


def test_tooling_items_send_tools_on_every_request(
    pytester: pytest.Pytester, backend_double: BackendDouble
) -> None:
    outcomes = capability_run(pytester, backend_double, "tooling")
    assert outcomes["passed"] >= 25
    chats = backend_double.chats()
    assert len(chats) >= outcomes["passed"]
    assert all(r.json.get("tools") for r in chats)
    results = report_of(pytester)["results"]
    assert {r["capability"] for r in results} == {"tooling"}
    assert all(r["metrics"]["function_call_accuracy"] == 1.0 for r in results)


def _images(body: dict[str, Any]) -> list[bytes]:
    """The images a chat body carries, decoded (OpenAI data URLs or Ollama's bare base64)."""
    found = []
    for message in body.get("messages") or []:
        found += [base64.b64decode(raw) for raw in message.get("images") or []]
        for part in message.get("content") if isinstance(message.get("content"), list) else []:
            if part.get("type") == "image_url":
                found.append(base64.b64decode(part["image_url"]["url"].split(",", 1)[1]))
    for item in body.get("input") if isinstance(body.get("input"), list) else []:
        if item.get("type") == "image":
            found.append(base64.b64decode(item["data_url"].split(",", 1)[1]))
    return found


def test_vision_items_pass_only_because_the_image_is_sent(
    pytester: pytest.Pytester, backend_double: BackendDouble
) -> None:
    outcomes = capability_run(pytester, backend_double, "vision")
    assert outcomes["passed"] >= 12
    chats = backend_double.chats()
    assert len(chats) >= outcomes["passed"]
    for request in chats:
        [image] = _images(request.json)
        # The double answered from the text inside this PNG: it decoded what we sent.
        assert read_png_text(image).get(ANSWER_KEY)


def test_every_registered_backend_has_a_create_and_a_double() -> None:
    """A new server type is one module, one registry line and one double: none is forgotten."""
    assert REGISTRY is BACKENDS
    assert set(DOUBLES) == set(REGISTRY)
    for name, module in REGISTRY.items():
        backend = importlib.import_module(module).create(BackendOptions("http://127.0.0.1:9"))
        try:
            assert backend.name == name
        finally:
            backend.close()
