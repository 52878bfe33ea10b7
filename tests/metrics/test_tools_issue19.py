"""Regressions of issue 19 in the tool checker: lists of options and BFCL enum strings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_lmbench.backends.base import ToolCall
from pytest_lmbench.metrics.tools import check_tool_calls
from pytest_lmbench.suites.schema import ExpectedCall


def tool(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    parameters = {"type": "object", "properties": properties, "required": required or []}
    return {"type": "function", "function": {"name": "f", "parameters": parameters}}


def call(arguments: dict[str, Any]) -> ToolCall:
    return ToolCall(name="f", arguments_json=json.dumps(arguments))


def accuracy(arguments: dict[str, Any], expected: dict[str, list[Any]], tools: Any) -> float:
    score = check_tool_calls([call(arguments)], [ExpectedCall(name="f", arguments=expected)], tools)
    return score.function_call_accuracy


SETTINGS_UNTYPED = [tool({"settings": {"type": "object"}}, ["settings"])]
SETTINGS_NESTED = [
    tool({"settings": {"type": "object", "properties": {"theme": {}}}}, ["settings"]),
]
THEME_OPTIONS = {"settings": [{"theme": ["dark", "night"]}]}


@pytest.mark.parametrize("tools", [SETTINGS_UNTYPED, SETTINGS_NESTED, []])
def test_list_of_options_is_not_a_value(tools: Any) -> None:
    assert accuracy({"settings": {"theme": ["dark", "night"]}}, THEME_OPTIONS, tools) == 0.0
    assert accuracy({"settings": {"theme": "night"}}, THEME_OPTIONS, tools) == 1.0
    assert accuracy({"settings": {"theme": "NIGHT"}}, THEME_OPTIONS, tools) == 1.0


def test_list_of_dicts_options_are_not_values() -> None:
    tools = [tool({"items": {"type": "array", "items": {"type": "object"}}}, ["items"])]
    expected = {"items": [[{"product": ["milk", "oat milk"], "quantity": [2]}]]}
    assert accuracy({"items": [{"product": "oat milk", "quantity": 2}]}, expected, tools) == 1.0
    bad = {"items": [{"product": ["milk", "oat milk"], "quantity": 2}]}
    assert accuracy(bad, expected, tools) == 0.0


def test_plain_list_answer_for_an_array_field_is_the_value() -> None:
    # The schema says the field holds an array, so the list cannot be options.
    tools = [
        tool(
            {
                "reminder": {
                    "type": "object",
                    "properties": {"days": {"type": "array", "items": {"type": "string"}}},
                }
            }
        )
    ]
    expected = {"reminder": [{"days": ["mon", "tue"]}]}
    assert accuracy({"reminder": {"days": ["Mon", "tue"]}}, expected, tools) == 1.0
    assert accuracy({"reminder": {"days": ["tue", "mon"]}}, expected, tools) == 0.0
    assert accuracy({"reminder": {"days": [["mon", "tue"]]}}, expected, tools) == 0.0


UNIT = [tool({"unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, ["unit"])]


@pytest.mark.parametrize("sent", ["CELSIUS", "Celsius", "cel-sius", " celsius"])
def test_enum_strings_bfcl_way_schema_exact(sent: str) -> None:
    calls, expected = (
        [call({"unit": sent})],
        [ExpectedCall(name="f", arguments={"unit": ["celsius"]})],
    )
    score = check_tool_calls(calls, expected, UNIT)
    # function_call_accuracy is BFCL's: strings compared after standardisation.
    assert score.function_call_accuracy == 1.0, score.problems
    assert score.params_match_schema == 0.0
    assert "violate the tool schema" in score.problems[0]
    strict = check_tool_calls(calls, expected, UNIT, require_schema=True)
    assert strict.function_call_accuracy == 0.0


def test_values_outside_the_enum_fail_either_way() -> None:
    expected = [ExpectedCall(name="f", arguments={"unit": ["celsius"]})]
    for sent in ("kelvin", "fahrenheit", 1):
        score = check_tool_calls([call({"unit": sent})], expected, UNIT)
        assert score.function_call_accuracy == 0.0
