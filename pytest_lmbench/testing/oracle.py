"""Answer rules that make the test server answer every suite case correctly.

Pipeline tests (yours and ours) use this to run real suites end to end and get
passing items without a real model: each rule matches a case's rendered prompt
and answers with its first reference, or with its expected tool calls; an
agentic case gets one rule per step (its calls) and one for the final answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pytest_lmbench.suites.loader import CapabilityCase, load_capability_suite
from pytest_lmbench.suites.schema import ExpectedCall
from pytest_lmbench.testing.engine import AnswerRule


def oracle_rules(roots: Iterable[Path]) -> list[AnswerRule]:
    rules: list[AnswerRule] = []
    for root in roots:
        for path in sorted(Path(root).glob("*/*.json")):
            if path.parent.name in ("throughput",):
                continue
            for item in load_capability_suite(path):
                if item.case.image is None:
                    rules += rules_for(item)
    # Longest prompts first, so a prompt that contains another case's prompt still wins.
    return sorted(rules, key=lambda r: len(r.match), reverse=True)


def rules_for(item: CapabilityCase) -> list[AnswerRule]:
    """The rules answering ``item`` right: one per conversation step for agentic cases."""
    if item.case.steps is None:
        return [rule_for(item)]
    rules = [
        AnswerRule(match=item.prompt, step=number, tool_calls=_calls(step.expected_calls))
        for number, step in enumerate(item.case.steps)
    ]
    answer = item.case.references[0] if item.case.references else "Done."
    return [*rules, AnswerRule(match=item.prompt, step=len(item.case.steps), content=answer)]


def _calls(expected: list[ExpectedCall]) -> list[dict[str, Any]]:
    return [{"name": call.name, "arguments": _first_values(call.arguments)} for call in expected]


def rule_for(item: CapabilityCase) -> AnswerRule:
    prompt = item.prompt
    if item.case.expected_calls is not None:
        calls = _calls(item.case.expected_calls)
        return AnswerRule(
            match=prompt, content="" if calls else "No tool is needed.", tool_calls=calls or None
        )
    answer = item.case.references[0] if item.case.references else ""
    if item.suite.capability == "reasoning":
        answer = f"Answer: {answer}"
    return AnswerRule(match=prompt, content=answer)


def _first_values(arguments: dict[str, Any]) -> dict[str, Any]:
    # "" marks an optional argument: leaving it out is the simplest correct call.
    return {
        name: _concrete(values[0])
        for name, values in arguments.items()
        if isinstance(values, list) and values and values[0] != ""
    }


def _concrete(value: Any) -> Any:
    """BFCL nests possible answers: a dict inside maps each key to its own list of choices."""
    if isinstance(value, dict):
        return _first_values(value)
    if isinstance(value, list):
        return [_concrete(v) for v in value]
    return value


def describe(rules: list[AnswerRule]) -> str:
    return json.dumps([r.match[:40] for r in rules])
