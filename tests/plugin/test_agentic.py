"""Agentic items: conversations whose tool calls get the case's scripted results."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_lmbench.suites.loader import bundled_root, load_capability_suite
from pytest_lmbench.testing import AnswerRule
from pytest_lmbench.testing.doubles import BackendDouble
from pytest_lmbench.testing.oracle import oracle_rules

SUITE = bundled_root() / "agentic" / "multi_step.json"


def fast(double: BackendDouble) -> None:
    double.server.engine.script.ttft_s = 0.001
    double.server.engine.script.token_interval_s = 0.0002


def run_agentic(
    pytester: pytest.Pytester, double: BackendDouble, *extra: str
) -> tuple[pytest.RunResult, dict[str, dict[str, Any]]]:
    fast(double)
    result = pytester.runpytest(
        "--pyargs",
        "capability_suites",
        "-m",
        "agentic",
        f"--lm-model={double.text_model}",
        *double.args,
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "--lm-formats=json",
        "-p",
        "no:cacheprovider",
        *extra,
    )
    report = json.loads((pytester.path / "out" / "latest.json").read_text())
    return result, {r["case_id"]: r for r in report["results"]}


def outcomes(result: pytest.RunResult) -> dict[str, int]:
    found: dict[str, int] = result.parseoutcomes()
    found.pop("deselected", None)
    return found


def tool_messages(double: BackendDouble) -> list[dict[str, Any]]:
    return [
        message
        for chat in double.chats()
        for message in chat.json.get("messages") or []
        if message.get("role") == "tool"
    ]


def test_a_model_that_calls_the_right_tools_in_order_scores_one_on_every_backend(
    pytester: pytest.Pytester, backend_double: BackendDouble
) -> None:
    backend_double.server.engine.answers[:] = oracle_rules([bundled_root()])
    result, results = run_agentic(pytester, backend_double)
    cases = {item.case.id: item.case for item in load_capability_suite(SUITE)}
    assert len(cases) >= 20
    assert outcomes(result) == {"passed": len(cases)}
    for case_id, entry in results.items():
        steps = cases[case_id].steps or []
        metrics = entry["metrics"]
        assert metrics["quality_score"] == 1.0, (case_id, metrics)
        assert metrics["agentic_accuracy"] == metrics["calls_correct"] == 1.0
        assert metrics["steps_taken"] == len(steps)
        assert metrics["total_latency_s"] > 0
        assert metrics["total_output_tokens"] > 0
        assert len(entry["timing"]["samples"]) == len(steps) + 1  # each call turn, then the answer
        assert [c["turn"] for c in entry["flags"]["tool_calls"]] == [
            number for number, step in enumerate(steps, 1) for _ in step.expected_calls
        ]
    # The harness answered each call with the case's scripted result, in the conversation.
    contents = [str(m.get("content")) for m in tool_messages(backend_double)]
    assert any('"customer_id": "C-17"' in c for c in contents)
    assert any("order ids look like ORD-1001" in c for c in contents)


def test_a_model_that_skips_a_step_scores_below_one_with_the_step_named(
    pytester: pytest.Pytester, lmstudio_double: BackendDouble
) -> None:
    prompt = "most recent order of anna@example.com"
    lmstudio_double.server.engine.answers[:] = [
        AnswerRule(prompt, step=0, tool_calls=[call("find_customer", email="anna@example.com")]),
        # get_orders skipped: the order id is guessed.
        AnswerRule(prompt, step=1, tool_calls=[call("get_order_status", order_id="ORD-2291")]),
        AnswerRule(prompt, step=2, content="It is in transit."),
    ]
    result, results = run_agentic(pytester, lmstudio_double, "-k", "ag_001")
    assert outcomes(result) == {"failed": 1}
    metrics = results["ag_001"]["metrics"]
    assert metrics["steps_taken"] == 2
    assert metrics["calls_correct"] == pytest.approx(2 / 3)
    assert metrics["final_answer_correct"] == 1.0
    assert metrics["agentic_accuracy"] == 0.0
    assert metrics["quality_score"] < 1.0
    assert metrics["agentic_problems"] == "step 2 (get_orders) skipped"
    assert "step 2 (get_orders) skipped" in results["ag_001"]["error"]


def test_a_model_that_keeps_calling_tools_is_cut_off_and_fails(
    pytester: pytest.Pytester, lmstudio_double: BackendDouble
) -> None:
    # ag_013 needs no tool; this model calls one on every turn.
    lmstudio_double.server.engine.answers[:] = [
        AnswerRule("12 times 12", tool_calls=[call("get_stock_price", symbol="X")])
    ]
    result, results = run_agentic(pytester, lmstudio_double, "-k", "ag_013")
    assert outcomes(result) == {"failed": 1}
    entry = results["ag_013"]
    assert entry["metrics"]["steps_taken"] == 3  # no step, two extra turns, then cut
    assert entry["metrics"]["calls_correct"] == 0.0
    assert entry["metrics"]["final_answer_correct"] == 0.0
    assert entry["metrics"]["agentic_problems"].startswith(
        "turn 1 made calls no step expects: get_stock_price"
    )
    unscripted = [m["content"] for m in tool_messages(lmstudio_double)]
    assert unscripted == [json.dumps({"error": "no result is available for this call"})] * 3


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


@pytest.fixture
def lmstudio_double() -> Any:
    from pytest_lmbench.testing.doubles import DOUBLES

    double = DOUBLES["lmstudio"]()
    with double.server:
        yield double
