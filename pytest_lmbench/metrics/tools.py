"""Function-call checking by the rules of BFCL's AST checker.

A case passes only when every expected call is matched, in any order, by a
distinct actual call with the right name and acceptable arguments, and no
extra call was made. Arguments must be a JSON object; each value must be one
of the case's possible answers (strings compared after BFCL standardisation,
numbers by Python equality, ``[]`` wherever ``""`` marks the argument
optional). Calls are never executed. The checker never raises: whatever a
model sends becomes a problem message.

Validation against the tool's JSON schema (enum values exactly, minimum,
pattern...) is reported apart, as ``params_match_schema``: BFCL does not do it,
and ``function_call_accuracy`` stays comparable with published BFCL numbers
unless a case or the config requires the schema (``require_schema``).
Deliberate differences from BFCL that remain are named exceptions in
``tests/parity/test_bfcl_parity.py`` and listed in the README ("Metric parity").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match
from jsonschema.validators import validator_for
from scipy.optimize import linear_sum_assignment

from pytest_lmbench.backends.base import ToolCall
from pytest_lmbench.suites.schema import ExpectedCall

_STANDARDIZE = re.compile(r"[ ,./\-_*^]")
_MAX_MESSAGE = 200
# BFCL's own type names, mapped to JSON-schema ones so schemas written in
# BFCL style can still be validated.
_BFCL_TYPES = {"float": "number", "dict": "object", "tuple": "array"}


@dataclass
class ToolScore:
    """Parts of a function-call check; ``function_call_accuracy`` is pass/fail."""

    call_produced: float
    name_correct: float
    args_correct: float
    function_call_accuracy: float
    problems: list[str] = field(default_factory=list)
    # Share of the calls made whose arguments parse as a JSON object (None: no call made).
    params_valid_json: float | None = None
    # Share of the calls made that satisfy their tool's JSON schema (None: no call made).
    params_match_schema: float | None = None


@dataclass
class _Call:
    name: str
    arguments: dict[str, Any] | None
    problems: list[str]  # faults of the call itself: it cannot match anything
    notes: list[str] = field(default_factory=list)  # reported, not held against it
    # Why the arguments break the tool's JSON schema; counted only when required.
    schema_problems: list[str] = field(default_factory=list)


def _short(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _tool_parameters(tools: Sequence[object]) -> dict[str, dict[str, Any]]:
    """Parameter schemas by tool name; OpenAI ``{"type": "function", ...}`` or bare."""
    found: dict[str, dict[str, Any]] = {}
    for tool in tools:
        if not isinstance(tool, Mapping):
            continue
        function = tool.get("function", tool)
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            continue
        parameters = function.get("parameters")
        found[function["name"]] = dict(parameters) if isinstance(parameters, Mapping) else {}
    return found


def _as_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_as_json_schema(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    converted = {key: _as_json_schema(value) for key, value in node.items()}
    kind = converted.get("type")
    if kind == "any":
        del converted["type"]
    elif isinstance(kind, str):
        converted["type"] = _BFCL_TYPES.get(kind, kind)
    elif isinstance(kind, list):
        converted["type"] = [_BFCL_TYPES.get(k, k) if isinstance(k, str) else k for k in kind]
    return converted


def _check_schema(schema: Any) -> str | None:
    try:
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except SchemaError as exc:
        return str(exc.message)
    return None


@lru_cache(maxsize=256)
def _cached_schema_problem(schema_json: str) -> str | None:
    return _check_schema(json.loads(schema_json))


def _schema_problem(schema: Any) -> str | None:
    """Why ``schema`` is not a valid JSON schema; ``None`` when it is."""
    # Checking a schema against its metaschema takes milliseconds, and a suite
    # checks the same few tools on every case and every repeat.
    try:
        key = json.dumps(schema, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):  # not plain JSON (say, YAML dates): check it uncached
        return _check_schema(schema)
    return _cached_schema_problem(key)


def _validate(name: str, arguments: dict[str, Any], parameters: dict[str, Any]) -> _Call:
    schema = _as_json_schema(parameters)
    validator_class = validator_for(schema, default=Draft202012Validator)
    problem = _schema_problem(schema)
    if problem is not None:
        # The suite's fault, not the model's: say so and skip the validation.
        note = f"schema of tool {name} is invalid, not validated: {_short(problem)}"
        return _Call(name, arguments, [], [note])
    error = best_match(validator_class(schema).iter_errors(arguments))
    if error is None:
        return _Call(name, arguments, [])
    problem = f"arguments of {name} violate the tool schema: {_short(error.message)}"
    return _Call(name, arguments, [], schema_problems=[problem])


def _parse_call(call: ToolCall, parameters: dict[str, dict[str, Any]]) -> _Call:
    name = str(call.name)
    raw = call.arguments_json
    if not isinstance(raw, str) or not raw.strip():
        # Servers send "" for a call without arguments.
        arguments: Any = {}
    else:
        try:
            arguments = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            return _Call(name, None, [f"arguments of {name} are not JSON: {_short(str(exc))}"])
    if not isinstance(arguments, dict):
        kind = type(arguments).__name__
        return _Call(name, None, [f"arguments of {name} are not a JSON object but {kind}"])
    if name in parameters:
        return _validate(name, arguments, parameters[name])
    if parameters:
        return _Call(name, arguments, [f"{name} is not one of the offered tools"])
    return _Call(name, arguments, [])  # no tool definitions given: nothing to validate against


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    # BFCL: an int is accepted where a float is expected.
    "number": _is_number,
    "float": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list | tuple),
    "tuple": lambda v: isinstance(v, list | tuple),
    "object": lambda v: isinstance(v, dict),
    "dict": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def _type_ok(value: Any, schema: Any) -> bool:
    if not isinstance(schema, Mapping):
        return True
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    for item in kinds:
        check = _TYPE_CHECKS.get(item) if isinstance(item, str) else None
        if check is None:
            return True  # no type or one we do not know: nothing to hold against the model
        if check(value):
            items = schema.get("items")
            if isinstance(value, list | tuple) and isinstance(items, Mapping):
                return all(_type_ok(element, items) for element in value)
            return True
    return False


def _type_name(schema: Any) -> str:
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    return "/".join(map(str, kind)) if isinstance(kind, list) else str(kind)


def standardize_string(text: str) -> str:
    """BFCL standardisation: drop spaces and ``,./-_*^``, lowercase, ``'`` to ``"``."""
    return _STANDARDIZE.sub("", text).lower().replace("'", '"')


def _declares_array(schema: Any) -> bool:
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    kinds = kind if isinstance(kind, list) else [kind]
    return any(item in ("array", "tuple") for item in kinds)


def _field_schema(schema: Any, key: Any) -> Any:
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    return properties.get(key) if isinstance(properties, Mapping) else None


def _option_matches(item: Any, options: Any, schema: Any) -> bool:
    if not isinstance(options, list):
        return _same(item, options, schema)
    if any(_same(item, option, schema) for option in options):
        return True
    # BFCL writes {key: [possible values]}: a list is a list of options, never
    # one value, unless the schema says the field holds an array.
    return _declares_array(schema) and _same(item, options, schema)


def _dict_matches(value: dict[Any, Any], answer: dict[Any, Any], schema: Any) -> bool:
    # BFCL writes a dict answer as {key: [possible values]}; plain values also work.
    for key, item in value.items():
        if key not in answer or not _option_matches(item, answer[key], _field_schema(schema, key)):
            return False
    return all(
        key in value or (isinstance(options, list) and "" in options)
        for key, options in answer.items()
    )


def _same(value: Any, answer: Any, schema: Any = None) -> bool:
    """Whether ``value`` equals the possible answer ``answer``; ``schema`` is the value's."""
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(answer, tuple):
        answer = list(answer)
    if isinstance(value, str) and isinstance(answer, str):
        return standardize_string(value) == standardize_string(answer)
    if _is_number(value) and _is_number(answer):
        return bool(value == answer)  # BFCL: Python equality, 3 == 3.0 but no tolerance
    if isinstance(value, list) and isinstance(answer, list):
        items = schema.get("items") if isinstance(schema, Mapping) else None
        return len(value) == len(answer) and all(
            _same(v, a, items) for v, a in zip(value, answer, strict=True)
        )
    if isinstance(value, dict) and isinstance(answer, dict):
        return _dict_matches(value, answer, schema)
    return type(value) is type(answer) and bool(value == answer)


def _accepted(value: Any, answers: list[Any], schema: Any) -> bool:
    # BFCL iterates the optional marker "" as a list: [] passes wherever it is listed.
    if value == [] and isinstance(value, list) and "" in answers:
        return True
    return any(_same(value, answer, schema) for answer in answers)


def _pair_problems(
    expected: ExpectedCall, call: _Call, parameters: dict[str, dict[str, Any]]
) -> list[str]:
    """Why ``call`` does not satisfy ``expected``; empty when it does."""
    if call.name != expected.name:
        return [f"expected a call to {expected.name}, got {call.name}"]
    if call.arguments is None or call.problems:
        return []  # the call's own problem says it all
    schema = parameters.get(expected.name, {})
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else None
    required = schema.get("required")
    required = required if isinstance(required, list) else []
    problems = [
        f"missing required parameter {key!r} of {call.name}"
        for key in required
        if key not in call.arguments
    ]
    for key, value in call.arguments.items():
        if key not in expected.arguments or (properties is not None and key not in properties):
            problems.append(f"unexpected parameter {key!r} in {call.name}")
        elif properties is not None and not _type_ok(value, properties[key]):
            problems.append(
                f"parameter {key!r} of {call.name} has type {type(value).__name__}, "
                f"expected {_type_name(properties[key])}"
            )
        elif not _accepted(value, expected.arguments[key], _field_schema(schema, key)):
            problems.append(
                _short(
                    f"parameter {key!r} of {call.name} is {value!r}, "
                    f"expected one of {expected.arguments[key]!r}"
                )
            )
    for key, answers in expected.arguments.items():
        if key not in call.arguments and "" not in answers and key not in required:
            problems.append(f"parameter {key!r} of {call.name} is missing and not optional")
    return problems


def _best_matching(matrix: np.ndarray[Any, Any]) -> list[tuple[int, int]]:
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if matrix[r, c] > 0]


def _score(
    calls: Sequence[ToolCall],
    expected: Sequence[ExpectedCall],
    tools: Sequence[Mapping[str, Any]],
    require_schema: bool,
) -> ToolScore:
    names = ", ".join(str(call.name) for call in calls)
    parameters = _tool_parameters(tools)
    parsed = [_parse_call(call, parameters) for call in calls]
    json_ok = [c.arguments is not None for c in parsed]
    schema_ok = [c.arguments is not None and not (c.problems or c.schema_problems) for c in parsed]
    valid_json = sum(json_ok) / len(parsed) if parsed else None
    match_schema = sum(schema_ok) / len(parsed) if parsed else None
    schema_problems = [p for c in parsed for p in c.schema_problems]
    if not require_schema:
        # Reported, not counted: BFCL does not validate the schema.
        schema_problems = [f"{p} (params_match_schema)" for p in schema_problems]
    details = {"params_valid_json": valid_json, "params_match_schema": match_schema}
    if not expected:
        if not calls:
            return ToolScore(1.0, 1.0, 1.0, 1.0, [])
        problems = [f"expected no tool call, got {len(calls)}: {names}"]
        return ToolScore(0.0, 0.0, 0.0, 0.0, problems, **details)
    wanted = ", ".join(e.name for e in expected)
    if not calls:
        return ToolScore(
            0.0, 0.0, 0.0, 0.0, [f"expected {len(expected)} call(s) ({wanted}), got none"]
        )

    pair = [[_pair_problems(e, c, parameters) for c in parsed] for e in expected]
    passes = np.array(
        [[not p and not c.problems for p, c in zip(row, parsed, strict=True)] for row in pair],
        dtype=float,
    )
    same_name = np.array([[c.name == e.name for c in parsed] for e in expected], dtype=float)

    n = len(expected)
    passed = len(_best_matching(passes))
    named = len(_best_matching(same_name))
    problems = [problem for call in parsed for problem in call.problems + call.notes]
    problems += schema_problems
    # Report the pairing that passes most and, after that, pairs most names.
    chosen = _best_matching(passes * (n + 1) + same_name)
    for e_index, c_index in chosen:
        problems += pair[e_index][c_index]
    matched = {e_index for e_index, _ in chosen}
    used = {c_index for _, c_index in chosen}
    problems += [
        f"no call matches expected {e.name}" for i, e in enumerate(expected) if i not in matched
    ]
    problems += [
        f"call to {c.name} matches no expected call" for i, c in enumerate(parsed) if i not in used
    ]
    if len(calls) != n:
        problems.append(f"expected {n} call(s) ({wanted}), got {len(calls)}: {names}")
    ok = passed == n and len(calls) == n and (not require_schema or all(schema_ok))
    return ToolScore(
        call_produced=1.0,
        name_correct=named / n,
        args_correct=passed / n,
        function_call_accuracy=1.0 if ok else 0.0,
        problems=list(dict.fromkeys(problems)),
        **details,
    )


def check_tool_calls(
    calls: Sequence[ToolCall],
    expected: Sequence[ExpectedCall],
    tools: Sequence[Mapping[str, Any]],
    *,
    require_schema: bool = False,
) -> ToolScore:
    """Score the tool calls a model made against a case's expected calls.

    ``function_call_accuracy`` follows BFCL's AST checker; ``require_schema``
    also fails it when a call's arguments break its tool's JSON schema (enum
    values exactly), which ``params_match_schema`` reports either way.
    """
    try:
        return _score(calls, expected, tools, require_schema)
    except Exception as exc:  # a checker bug must not abort a benchmark run
        return ToolScore(0.0, 0.0, 0.0, 0.0, [f"tool checker failed: {exc!r}"])
