"""Capability items on the bundled suites: tools and images go to the server for real."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_lmbench.suites.loader import bundled_root
from pytest_lmbench.testing import AnswerRule, FakeModel, LMStudioTestServer
from pytest_lmbench.testing.oracle import oracle_rules

VLM = "google/gemma-3-4b"


@pytest.fixture
def server() -> Iterator[LMStudioTestServer]:
    with LMStudioTestServer([FakeModel(key=VLM, kind="vlm", vision=True, tool_use=True)]) as srv:
        srv.engine.script.ttft_s = 0.001
        srv.engine.script.token_interval_s = 0.0001
        srv.engine.answers[:] = oracle_rules([bundled_root()])
        yield srv


def args(server: LMStudioTestServer, path: Path, *extra: str) -> list[str]:
    return [
        "--pyargs",
        "capability_suites",
        f"--lm-model={VLM}",
        f"--lm-base-url={server.base_url}",
        f"--lm-output-dir={path / 'out'}",
        "--lm-no-db",
        "--lm-formats=json",
        "-p",
        "no:cacheprovider",
        *extra,
    ]


def test_tooling_items_send_tools_on_every_request(
    pytester: pytest.Pytester, server: LMStudioTestServer
) -> None:
    result = pytester.runpytest(*args(server, pytester.path, "-k", "tooling"))
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] >= 25
    assert outcomes.get("failed", 0) == 0
    chats = [r for r in server.engine.requests if "chat" in r.path]
    assert chats
    assert all(r.path == "/v1/chat/completions" and r.json.get("tools") for r in chats)
    report = json.loads((pytester.path / "out" / "latest.json").read_text())
    assert {r["capability"] for r in report["results"]} == {"tooling"}
    assert all(r["metrics"]["function_call_accuracy"] == 1.0 for r in report["results"])


def test_vision_items_pass_only_because_the_image_is_sent(
    pytester: pytest.Pytester, server: LMStudioTestServer
) -> None:
    result = pytester.runpytest(*args(server, pytester.path, "-k", "vision"))
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] >= 12
    assert outcomes.get("failed", 0) == 0
    chats = [r for r in server.engine.requests if "chat" in r.path]
    assert all("data:image/png;base64," in json.dumps(r.json) for r in chats)


def test_a_vision_case_without_its_image_fails(
    pytester: pytest.Pytester, server: LMStudioTestServer
) -> None:
    suite = pytester.path / "suite" / "vision"
    suite.mkdir(parents=True)
    shutil.copy(bundled_root() / "vision" / "vision_counting.md", suite)
    counting = json.loads((bundled_root() / "vision" / "counting.json").read_text())
    case = dict(counting["cases"][0])
    case.pop("image")  # the answer lives only in the image
    counting["cases"] = [case]
    (suite / "counting.json").write_text(json.dumps(counting))
    result = pytester.runpytest(
        f"--lm-suite-dir={suite.parent}",
        f"--lm-model={VLM}",
        f"--lm-base-url={server.base_url}",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*output:    I cannot see any image.*"])


def test_repeats_report_pass_at_k(pytester: pytest.Pytester, server: LMStudioTestServer) -> None:
    result = pytester.runpytest(*args(server, pytester.path, "-k", "math_001", "--lm-repeat=3"))
    result.assert_outcomes(passed=1)
    [item] = json.loads((pytester.path / "out" / "latest.json").read_text())["results"]
    assert item["metrics"]["repeat"] == 3
    assert item["metrics"]["pass_at_k"] == 1.0
    assert item["metrics"]["pass_hat_k"] == 1.0
    assert len(item["timing"]["samples"]) == 3


def test_non_vision_model_skips_vision_with_a_reason(pytester: pytest.Pytester) -> None:
    with LMStudioTestServer([FakeModel(key="qwen/qwen3-4b", vision=False)]) as srv:
        result = pytester.runpytest(
            "--pyargs",
            "capability_suites",
            "--lm-model=qwen/qwen3-4b",
            f"--lm-base-url={srv.base_url}",
            f"--lm-output-dir={pytester.path / 'out'}",
            "--lm-no-db",
            "-k",
            "vqa",
            "-rs",
        )
    result.stdout.fnmatch_lines(["*SKIPPED*qwen/qwen3-4b lacks the vision capability*"])
    assert result.parseoutcomes()["skipped"] >= 5


def test_xdist_stores_every_result_exactly_once(
    pytester: pytest.Pytester, server: LMStudioTestServer
) -> None:
    import sqlite3

    db = pytester.path / "r.db"
    result = pytester.runpytest(
        "-n",
        "2",
        "--pyargs",
        "capability_suites",
        f"--lm-model={VLM}",
        f"--lm-base-url={server.base_url}",
        f"--lm-output-dir={pytester.path / 'out'}",
        f"--lm-db=sqlite:///{db}",
        "-k",
        "reasoning",
    )
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] >= 35
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select count(*), count(distinct nodeid) from results").fetchone()
    assert rows[0] == rows[1] == outcomes["passed"] + outcomes.get("failed", 0)
    report = json.loads((pytester.path / "out" / "latest.json").read_text())
    assert len(report["results"]) == rows[0]


@pytest.mark.parametrize(("flag", "accuracy"), [((), 1.0), (("--lm-require-schema",), 0.0)])
def test_enum_outside_the_schema_fails_only_when_the_schema_is_required(
    pytester: pytest.Pytester, server: LMStudioTestServer, flag: tuple[str, ...], accuracy: float
) -> None:
    """``"CELSIUS"`` is outside the schema's enum; BFCL accepts it after standardising."""
    server.engine.answers[:] = [
        AnswerRule(
            "weather like in Paris",
            tool_calls=[
                {"name": "get_weather", "arguments": {"location": "Paris", "unit": "CELSIUS"}}
            ],
        )
    ]
    result = pytester.runpytest(*args(server, pytester.path, "-k", "fc_001", *flag))
    assert result.parseoutcomes().get("passed", 0) + result.parseoutcomes().get("failed", 0) == 1
    [item] = json.loads((pytester.path / "out" / "latest.json").read_text())["results"]
    assert item["metrics"]["function_call_accuracy"] == accuracy
    assert item["metrics"]["params_match_schema"] == 0.0


def test_tooling_results_carry_every_tool_call_field(
    pytester: pytest.Pytester, server: LMStudioTestServer
) -> None:
    server.engine.answers[:] = [
        # Not JSON at all: the call is made, its arguments cannot be read.
        AnswerRule("weather like in Paris", tool_calls=[{"name": "get_weather", "arguments": "{"}]),
        # JSON, right tool, a string where the schema says integer.
        AnswerRule(
            "10 minutes labelled pasta",
            tool_calls=[
                {"name": "set_timer", "arguments": {"duration_seconds": "600", "label": "pasta"}}
            ],
        ),
    ]
    pytester.runpytest(*args(server, pytester.path, "-k", "fc_001 or fc_004"))
    report = json.loads((pytester.path / "out" / "latest.json").read_text())
    results = report["results"]
    by_case = {r["case_id"]: r for r in results}
    not_json, wrong_type = by_case["fc_001"], by_case["fc_004"]
    fields = ("call_produced", "params_valid_json", "name_correct", "params_match_schema")
    assert [not_json["metrics"][f] for f in fields] == [1.0, 0.0, 1.0, 0.0]
    assert [wrong_type["metrics"][f] for f in fields] == [1.0, 1.0, 1.0, 0.0]
    assert wrong_type["metrics"]["args_correct"] == 0.0
    [raw] = not_json["flags"]["tool_calls"]
    assert (raw["name"], raw["arguments_raw"]) == ("get_weather", "{")
    assert raw["latency_s"] == not_json["timing"]["e2e_s"] > 0
    [raw] = wrong_type["flags"]["tool_calls"]
    assert json.loads(raw["arguments_raw"]) == {"duration_seconds": "600", "label": "pasta"}
    # Per model, where the calls fail: the mean of each part (terminal, JSON and HTML).
    tooling = report["summary"]["models"][VLM]["capabilities"]["tooling"]
    assert tooling["mean_params_valid_json"] == 0.5
    assert tooling["mean_params_match_schema"] == 0.0
