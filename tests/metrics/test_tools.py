"""BFCL-style AST checking of tool calls."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_lmbench.backends.base import ToolCall
from pytest_lmbench.metrics.tools import ToolScore, check_tool_calls, standardize_string
from pytest_lmbench.suites.schema import ExpectedCall

WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1},
            },
            "required": ["location"],
        },
    },
}
CONVERT: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "convert",
        "parameters": {
            "type": "object",
            "properties": {
                "amount": {"type": "number"},
                "currency": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["amount", "currency"],
        },
    },
}
TOOLS = [WEATHER, CONVERT]


def call(name: str, arguments: Any) -> ToolCall:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCall(name=name, arguments_json=raw)


def weather_expected(**extra: list[Any]) -> ExpectedCall:
    arguments: dict[str, list[Any]] = {
        "location": ["Paris", "Paris, France"],
        "unit": ["", "celsius"],
    }
    return ExpectedCall(name="get_weather", arguments=arguments | extra)


def assert_pass(score: ToolScore) -> None:
    # With no call made (none expected) there are no arguments to check.
    details = 1.0 if score.params_valid_json is not None else None
    assert score == ToolScore(1.0, 1.0, 1.0, 1.0, [], details, details), score.problems


def test_simple_call_passes() -> None:
    score = check_tool_calls(
        [call("get_weather", {"location": "Paris"})], [weather_expected()], TOOLS
    )
    assert_pass(score)


def test_string_standardisation() -> None:
    assert standardize_string("Paris, France") == "parisfrance"
    assert standardize_string("It's 5.0-A_B*C^") == 'it"s50abc'
    score = check_tool_calls(
        [call("get_weather", {"location": "paris france", "unit": "celsius"})],
        [weather_expected()],
        TOOLS,
    )
    assert_pass(score)


def test_optional_argument_may_be_omitted_only_when_marked() -> None:
    expected = weather_expected(days=["", 3])
    assert_pass(check_tool_calls([call("get_weather", {"location": "Paris"})], [expected], TOOLS))
    strict = weather_expected(days=[3])
    score = check_tool_calls([call("get_weather", {"location": "Paris"})], [strict], TOOLS)
    assert score.function_call_accuracy == 0.0
    assert score.args_correct == 0.0
    assert score.name_correct == 1.0
    assert score.problems == ["parameter 'days' of get_weather is missing and not optional"]


def test_missing_required_parameter() -> None:
    score = check_tool_calls(
        [call("convert", {"currency": "EUR"})],
        [ExpectedCall(name="convert", arguments={"amount": [10], "currency": ["EUR"]})],
        TOOLS,
    )
    assert score.function_call_accuracy == 0.0
    assert any("'amount' is a required property" in p for p in score.problems)


def test_string_for_int_is_a_type_error() -> None:
    expected = weather_expected(days=[3])
    score = check_tool_calls(
        [call("get_weather", {"location": "Paris", "days": "3"})], [expected], TOOLS
    )
    assert score.function_call_accuracy == 0.0
    assert score.params_match_schema == 0.0
    assert score.problems == [
        "arguments of get_weather violate the tool schema: '3' is not of type 'integer'"
        " (params_match_schema)",
        "parameter 'days' of get_weather has type str, expected integer",
    ]


def test_float_for_int_is_a_type_error_even_if_schema_accepts_it() -> None:
    # JSON schema treats 3.0 as an integer; BFCL's type check does not.
    expected = weather_expected(days=[3])
    score = check_tool_calls(
        [call("get_weather", {"location": "Paris", "days": 3.0})], [expected], TOOLS
    )
    assert score.function_call_accuracy == 0.0
    assert score.problems == ["parameter 'days' of get_weather has type float, expected integer"]


def test_int_accepted_for_float() -> None:
    expected = ExpectedCall(name="convert", arguments={"amount": [10.0], "currency": ["EUR"]})
    assert_pass(
        check_tool_calls([call("convert", {"amount": 10, "currency": "eur"})], [expected], TOOLS)
    )
    assert_pass(
        check_tool_calls([call("convert", {"amount": 10.0, "currency": "EUR"})], [expected], TOOLS)
    )


def test_lists_compared_elementwise_and_tuples_as_lists() -> None:
    expected = ExpectedCall(
        name="convert",
        arguments={"amount": [1], "currency": ["usd"], "tags": [("Fast", "cheap"), ["x"]]},
    )
    ok = call("convert", {"amount": 1, "currency": "USD", "tags": ["fast", "Cheap"]})
    assert_pass(check_tool_calls([ok], [expected], TOOLS))
    bad = call("convert", {"amount": 1, "currency": "USD", "tags": ["cheap", "fast"]})
    assert check_tool_calls([bad], [expected], TOOLS).function_call_accuracy == 0.0


def test_wrong_value() -> None:
    score = check_tool_calls(
        [call("get_weather", {"location": "Lyon"})], [weather_expected()], TOOLS
    )
    assert score.function_call_accuracy == 0.0
    assert score.problems[0].startswith("parameter 'location' of get_weather is 'Lyon', expected")


def test_parallel_calls_in_swapped_order() -> None:
    expected = [
        weather_expected(),
        ExpectedCall(name="get_weather", arguments={"location": ["Tokyo"]}),
        ExpectedCall(name="convert", arguments={"amount": [5], "currency": ["JPY"]}),
    ]
    calls = [
        call("convert", {"amount": 5, "currency": "JPY"}),
        call("get_weather", {"location": "Tokyo"}),
        call("get_weather", {"location": "Paris"}),
    ]
    assert_pass(check_tool_calls(calls, expected, TOOLS))


def test_parallel_partial_credit() -> None:
    expected = [
        weather_expected(),
        ExpectedCall(name="get_weather", arguments={"location": ["Tokyo"]}),
    ]
    calls = [call("get_weather", {"location": "Tokyo"}), call("get_weather", {"location": "Oslo"})]
    score = check_tool_calls(calls, expected, TOOLS)
    assert (score.call_produced, score.name_correct, score.args_correct) == (1.0, 1.0, 0.5)
    assert score.function_call_accuracy == 0.0


def test_duplicate_call_cannot_match_two_expected_calls() -> None:
    expected = [weather_expected(), weather_expected()]
    score = check_tool_calls([call("get_weather", {"location": "Paris"})], expected, TOOLS)
    assert (score.name_correct, score.args_correct, score.function_call_accuracy) == (0.5, 0.5, 0.0)


def test_extra_call_fails_the_case() -> None:
    calls = [
        call("get_weather", {"location": "Paris"}),
        call("convert", {"amount": 1, "currency": "X"}),
    ]
    score = check_tool_calls(calls, [weather_expected()], TOOLS)
    assert score.args_correct == 1.0
    assert score.function_call_accuracy == 0.0
    assert score.problems[-1] == "expected 1 call(s) (get_weather), got 2: get_weather, convert"


def test_no_call_expected() -> None:
    assert_pass(check_tool_calls([], [], TOOLS))
    score = check_tool_calls([call("get_weather", {"location": "Paris"})], [], TOOLS)
    problems = ["expected no tool call, got 1: get_weather"]
    assert score == ToolScore(0.0, 0.0, 0.0, 0.0, problems, 1.0, 1.0)


def test_call_expected_but_none_made() -> None:
    score = check_tool_calls([], [weather_expected()], TOOLS)
    assert score == ToolScore(0.0, 0.0, 0.0, 0.0, ["expected 1 call(s) (get_weather), got none"])


def test_wrong_function_name() -> None:
    score = check_tool_calls(
        [call("convert", {"amount": 1, "currency": "X"})], [weather_expected()], TOOLS
    )
    assert (score.call_produced, score.name_correct, score.function_call_accuracy) == (
        1.0,
        0.0,
        0.0,
    )
    assert score.problems == [
        "no call matches expected get_weather",
        "call to convert matches no expected call",
    ]


def test_non_json_arguments() -> None:
    score = check_tool_calls([call("get_weather", "{location: Paris")], [weather_expected()], TOOLS)
    assert score.function_call_accuracy == 0.0
    assert score.name_correct == 1.0
    assert score.problems[0].startswith("arguments of get_weather are not JSON: ")


def test_arguments_must_be_an_object() -> None:
    score = check_tool_calls([call("get_weather", '["Paris"]')], [weather_expected()], TOOLS)
    assert score.problems == ["arguments of get_weather are not a JSON object but list"]


def test_unexpected_parameter() -> None:
    arguments = {"location": "Paris", "country": "FR"}
    score = check_tool_calls([call("get_weather", arguments)], [weather_expected()], TOOLS)
    assert score.function_call_accuracy == 0.0
    assert score.problems == ["unexpected parameter 'country' in get_weather"]


def test_schema_violation_is_reported_apart_unless_required() -> None:
    expected = weather_expected(days=[0])
    calls = [call("get_weather", {"location": "Paris", "days": 0})]
    problem = "arguments of get_weather violate the tool schema: 0 is less than the minimum of 1"
    score = check_tool_calls(calls, [expected], TOOLS)
    # BFCL does not validate the schema: the call passes and the schema check says why not.
    assert score.function_call_accuracy == 1.0
    assert (score.params_valid_json, score.params_match_schema) == (1.0, 0.0)
    assert score.problems == [f"{problem} (params_match_schema)"]
    required = check_tool_calls(calls, [expected], TOOLS, require_schema=True)
    assert required.function_call_accuracy == 0.0
    assert required.problems == [problem]


def test_tool_that_was_not_offered() -> None:
    expected = [ExpectedCall(name="delete_all", arguments={})]
    score = check_tool_calls([call("delete_all", {})], expected, TOOLS)
    assert score.problems == ["delete_all is not one of the offered tools"]
    assert score.function_call_accuracy == 0.0


def test_empty_arguments_string_means_no_arguments() -> None:
    tools = [{"name": "ping", "parameters": {"type": "object", "properties": {}}}]
    assert_pass(check_tool_calls([call("ping", "")], [ExpectedCall(name="ping")], tools))


def test_bfcl_type_names_are_understood() -> None:
    tools = [
        {
            "name": "area",
            "parameters": {
                "type": "dict",
                "properties": {"radius": {"type": "float"}, "opts": {"type": "dict"}},
                "required": ["radius"],
            },
        }
    ]
    expected = ExpectedCall(
        name="area", arguments={"radius": [2.0], "opts": ["", {"units": ["cm", "centimetres"]}]}
    )
    assert_pass(check_tool_calls([call("area", {"radius": 2})], [expected], tools))
    with_opts = call("area", {"radius": 2, "opts": {"units": "CM"}})
    assert_pass(check_tool_calls([with_opts], [expected], tools))
    score = check_tool_calls([call("area", {"radius": "2"})], [expected], tools)
    assert score.problems == [
        "arguments of area violate the tool schema: '2' is not of type 'number'"
        " (params_match_schema)",
        "parameter 'radius' of area has type str, expected float",
    ]


def test_invalid_tool_schema_is_noted_not_held_against_the_model() -> None:
    tools = [{"name": "f", "parameters": {"type": "nonsense"}}]
    score = check_tool_calls(
        [call("f", {"a": 1})], [ExpectedCall(name="f", arguments={"a": [1]})], tools
    )
    assert score.function_call_accuracy == 1.0
    assert score.problems[0].startswith("schema of tool f is invalid, not validated")


def test_without_tool_definitions_only_answers_are_checked() -> None:
    assert_pass(
        check_tool_calls([call("get_weather", {"location": "Paris"})], [weather_expected()], [])
    )


@pytest.mark.parametrize(
    "tools", [[], [None], ["x"], [{"function": 3}], [{"name": "get_weather", "parameters": 7}]]
)
@pytest.mark.parametrize("raw", ["", "null", "[[[[", "1e999", '{"location": NaN}', "[" * 5000])
def test_never_raises(tools: list[Any], raw: str) -> None:
    score = check_tool_calls([call("get_weather", raw)], [weather_expected()], tools)
    assert 0.0 <= score.function_call_accuracy <= 1.0
