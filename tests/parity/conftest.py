"""BFCL's AST checker for Python calls, restated from its published rules, as a fixture.

``bfcl-eval`` pins numpy 1.26 and pulls torch through sentence-transformers, so
it cannot sit in the test extra. These functions restate the rules of its
``ast_checker.py`` (simple and parallel-no-order checkers, Python language) on
Python values as BFCL sees them after parsing a model's call. The ``bfcl``
fixture hands them to the parity tests, which cannot import a sibling module.
"""

from __future__ import annotations

import re
import sys
from types import ModuleType
from typing import Any

import pytest

_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "any": str,
}


def standardize(text: str) -> str:
    return re.sub(r"[ ,./\-_*^]", "", text).lower().replace("'", '"')


def _answer_type(options: list[Any]) -> type | None:
    # The type of the first non-optional possible answer.
    return next((type(option) for option in options if option != ""), None)


def _type_check(
    value: Any, options: list[Any], expected: type, nested: type | None
) -> tuple[bool, bool]:
    """(valid, is_variable): BFCL accepts a value of the answers' type as a variable."""
    answer_type = _answer_type(options)
    is_variable = answer_type is not None and answer_type != expected
    same_type = type(value) is expected  # a variable, so mypy does not narrow value to object
    if same_type:
        if nested is None:
            return True, is_variable
        for option in options:
            # A non-list option (the optional marker "") passes the nested check.
            if type(option) is not list or all(
                _type_check(item, option, nested, None)[0] for item in value
            ):
                return True, is_variable
    if answer_type is not None and type(value) is answer_type:
        return True, True
    return False, False


def _standardized(values: list[Any]) -> list[Any]:
    return [standardize(v) if type(v) is str else v for v in values]


def _dict_ok(value: dict[str, Any], options: list[Any]) -> bool:
    for option in options:
        if option == "":
            continue
        keys_ok = all(
            key in option
            and (standardize(item) if type(item) is str else item) in _standardized(option[key])
            for key, item in value.items()
        )
        if keys_ok and all(key in value or "" in allowed for key, allowed in option.items()):
            return True
    return False


def _list_of_dicts_ok(value: list[Any], options: list[Any]) -> bool:
    return any(
        len(value) == len(option)
        and all(_dict_ok(item, [wanted]) for item, wanted in zip(value, option, strict=True))
        for option in options
    )


def _list_ok(value: list[Any], options: list[Any]) -> bool:
    # "" is iterated as an empty list: [] passes wherever the argument is optional.
    return _standardized(value) in [_standardized(list(option)) for option in options]


def _value_ok(value: Any, options: list[Any], kind: str, nested: type | None) -> bool:
    expected = _TYPES[kind]
    if kind == "float" and type(value) is int:
        value = float(value)
    valid, is_variable = _type_check(value, options, expected, nested)
    if not valid:
        return False
    if not is_variable:
        if expected is dict:
            return _dict_ok(value, options)
        if expected is list and nested is dict:
            return _list_of_dicts_ok(value, options)
        if expected is str:
            return standardize(value) in [standardize(o) for o in options if type(o) is str]
        if expected is list:
            return _list_ok(value, options)
    return value in options


def simple_ok(function: dict[str, Any], arguments: dict[str, Any], answer: dict[str, Any]) -> bool:
    """BFCL's simple checker: one call of ``function`` against its possible answers."""
    parameters = function["parameters"]
    properties = parameters["properties"]
    if any(name not in arguments for name in parameters.get("required", [])):
        return False
    for name, value in arguments.items():
        if name not in properties or name not in answer:
            return False
        kind = properties[name]["type"]
        nested = _TYPES[properties[name]["items"]["type"]] if kind in ("array", "tuple") else None
        if not _value_ok(value, answer[name], kind, nested):
            return False
    return all(name in arguments or "" in options for name, options in answer.items())


def parallel_ok(
    functions: list[dict[str, Any]],
    calls: list[tuple[str, dict[str, Any]]],
    answers: list[tuple[str, dict[str, Any]]],
) -> bool:
    """BFCL's parallel checker: each expected call takes the first unused call that passes."""
    if len(calls) != len(answers):
        return False
    by_name = {function["name"]: function for function in functions}
    used: set[int] = set()
    for name, answer in answers:
        match = next(
            (
                index
                for index, (called, arguments) in enumerate(calls)
                if index not in used
                and called == name
                and simple_ok(by_name[name], arguments, answer)
            ),
            None,
        )
        if match is None:
            return False
        used.add(match)
    return True


@pytest.fixture(scope="session")
def bfcl() -> ModuleType:
    """This module: ``bfcl.simple_ok``, ``bfcl.parallel_ok`` and ``bfcl.standardize``."""
    return sys.modules[__name__]
