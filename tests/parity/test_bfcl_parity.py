"""Parity of the tool checker with BFCL's AST checker (Python calls).

BFCL's rules, restated in ``conftest.py`` (``bfcl-eval`` itself pulls torch),
are checked two ways: a table of cases with BFCL's verdicts, and 2,000 seeded
generated calls (mutated names, types, values, string variants, optional, missing
and extra parameters, parallel calls in any order), on which every verdict must
agree. A table verdict may differ only where a named exception in ``EXCEPTIONS``
says why (each is listed in the README); the generator reaches none of them.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest

from pytest_lmbench.backends.base import ToolCall
from pytest_lmbench.metrics.tools import check_tool_calls
from pytest_lmbench.suites.schema import ExpectedCall

CASES = 2000
EXCEPTIONS: dict[str, str] = {
    "variable-answers": (
        "a possible answer of another type than the schema's (BFCL's 'variable', a string "
        "for an integer) is not accepted: the argument must have the schema's type"
    ),
    "bool-is-not-a-number": (
        "inside a dict argument true never equals 1, where BFCL's Python comparison lets it"
    ),
    "optimal-call-pairing": (
        "parallel calls are paired with expected calls by an optimal assignment; BFCL gives "
        "each expected call the first unused call that passes, and can miss a valid pairing"
    ),
    "nested-strings-standardised": (
        "strings inside a list that is a dict field's value are standardised like any "
        "other; BFCL compares values nested that deep exactly"
    ),
    "typed-array-items": (
        "an integer array must hold integers: [1.0] fails, where BFCL's nested type check "
        "falls back to comparing values and accepts it as [1]"
    ),
    "dict-array-plain-answer": (
        "inside a dict argument, a plain list answer for a field the schema types as an "
        "array is the value itself; BFCL would need it wrapped in a list of options"
    ),
}


class Bfcl(Protocol):
    """The restated rules (the ``bfcl`` fixture of ``conftest.py``)."""

    def simple_ok(
        self, function: dict[str, Any], arguments: dict[str, Any], answer: dict[str, Any]
    ) -> bool: ...

    def parallel_ok(
        self,
        functions: list[dict[str, Any]],
        calls: list[tuple[str, dict[str, Any]]],
        answers: list[tuple[str, dict[str, Any]]],
    ) -> bool: ...


# -- our checker on the same inputs -----------------------------------------------------------


def ours(
    functions: list[dict[str, Any]],
    calls: list[tuple[str, dict[str, Any]]],
    answers: list[tuple[str, dict[str, Any]]],
    *,
    require_schema: bool = False,
) -> bool:
    score = check_tool_calls(
        [ToolCall(name=name, arguments_json=json.dumps(args)) for name, args in calls],
        [ExpectedCall(name=name, arguments=answer) for name, answer in answers],
        functions,
        require_schema=require_schema,
    )
    return score.function_call_accuracy == 1.0


def function(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    parameters = {"type": "dict", "properties": properties, "required": required or []}
    return {"name": "f", "parameters": parameters}


# -- a table of cases with BFCL's verdicts ----------------------------------------------------

STRING = {"type": "string"}
UNIT = {"type": "string", "enum": ["celsius", "fahrenheit"]}
STRINGS = {"type": "array", "items": {"type": "string"}}
INTEGERS = {"type": "array", "items": {"type": "integer"}}
ITEMS = {"type": "array", "items": {"type": "dict"}}
THEME = {"type": "dict", "properties": {"theme": {}, "level": {"type": "integer"}}}


@dataclass(frozen=True)
class Row:
    """One call of ``f`` and BFCL's verdict on it; ``exception`` when ours differs."""

    properties: dict[str, Any]
    answer: dict[str, list[Any]]
    arguments: dict[str, Any]
    bfcl: bool
    exception: str | None = None
    required: list[str] = field(default_factory=list)


TABLE: dict[str, Row] = {
    "standardised string": Row(
        {"city": STRING}, {"city": ["Paris, France"]}, {"city": "paris france"}, True
    ),
    "quote standardised": Row({"name": STRING}, {"name": ["O'Brien"]}, {"name": 'o"brien'}, True),
    "wrong string": Row({"city": STRING}, {"city": ["Paris"]}, {"city": "Lyon"}, False),
    "enum upper case": Row({"unit": UNIT}, {"unit": ["celsius"]}, {"unit": "CELSIUS"}, True),
    "enum exact": Row({"unit": UNIT}, {"unit": ["celsius"]}, {"unit": "celsius"}, True),
    "int for float": Row({"x": {"type": "float"}}, {"x": [3.0]}, {"x": 3}, True),
    "float for integer": Row({"n": {"type": "integer"}}, {"n": [3]}, {"n": 3.0}, False),
    "bool for integer": Row({"n": {"type": "integer"}}, {"n": [1]}, {"n": True}, False),
    "nudged float": Row({"x": {"type": "float"}}, {"x": [0.1]}, {"x": 0.1 * (1 + 1e-12)}, False),
    "missing required": Row({"n": {"type": "integer"}}, {"n": [1]}, {}, False, required=["n"]),
    "optional omitted": Row({"n": {"type": "integer"}}, {"n": ["", 1]}, {}, True),
    "omitted, not optional": Row({"n": {"type": "integer"}}, {"n": [1]}, {}, False),
    "unexpected parameter": Row({"n": {"type": "integer"}}, {"n": [1]}, {"n": 1, "m": 2}, False),
    "array standardised": Row(
        {"tags": STRINGS}, {"tags": [["Fast", "cheap"]]}, {"tags": ["fast", "CHEAP"]}, True
    ),
    "array order": Row(
        {"tags": STRINGS}, {"tags": [["fast", "cheap"]]}, {"tags": ["cheap", "fast"]}, False
    ),
    "tuple as list": Row(
        {"p": {"type": "tuple", "items": {"type": "integer"}}}, {"p": [[1, 2]]}, {"p": [1, 2]}, True
    ),
    "optional array empty": Row({"tags": STRINGS}, {"tags": ["", ["a"]]}, {"tags": []}, True),
    "empty array listed": Row({"tags": STRINGS}, {"tags": [[], ["a"]]}, {"tags": []}, True),
    "strings in integer array": Row({"ns": INTEGERS}, {"ns": [[1, 2]]}, {"ns": ["1", "2"]}, False),
    "dict value standardised": Row(
        {"s": THEME},
        {"s": [{"theme": ["dark"], "level": [2]}]},
        {"s": {"theme": "Dark", "level": 2}},
        True,
    ),
    "dict options as a value": Row(
        {"s": THEME},
        {"s": [{"theme": ["dark", "night"]}]},
        {"s": {"theme": ["dark", "night"]}},
        False,
    ),
    "dict optional key": Row(
        {"s": THEME}, {"s": [{"theme": ["dark"], "level": ["", 2]}]}, {"s": {"theme": "dark"}}, True
    ),
    "dict missing key": Row(
        {"s": THEME}, {"s": [{"theme": ["dark"], "level": [2]}]}, {"s": {"theme": "dark"}}, False
    ),
    "dict extra key": Row(
        {"s": THEME}, {"s": [{"theme": ["dark"]}]}, {"s": {"theme": "dark", "x": 1}}, False
    ),
    "dict true for 1": Row(
        {"s": THEME}, {"s": [{"level": [1]}]}, {"s": {"level": True}}, True, "bool-is-not-a-number"
    ),
    "dict typed array value": Row(
        {"s": {"type": "dict", "properties": {"days": STRINGS}}},
        {"s": [{"days": ["mon", "tue"]}]},
        {"s": {"days": ["mon", "tue"]}},
        False,
        "dict-array-plain-answer",
    ),
    "list of dicts": Row(
        {"items": ITEMS},
        {"items": [[{"product": ["milk"], "n": [2]}]]},
        {"items": [{"product": "Milk", "n": 2}]},
        True,
    ),
    "list of dicts empty": Row(
        {"items": ITEMS}, {"items": ["", [{"n": [2]}]]}, {"items": []}, True
    ),
    "below the schema minimum": Row(
        {"n": {"type": "integer", "minimum": 1}}, {"n": [0]}, {"n": 0}, True
    ),
    "nested strings": Row(
        {"s": {"type": "dict", "properties": {"days": {}}}},
        {"s": [{"days": [["Mon", "tue"]]}]},
        {"s": {"days": ["mon", "tue"]}},
        False,
        "nested-strings-standardised",
    ),
    "floats in integer array": Row(
        {"ns": INTEGERS}, {"ns": [[1, 2]]}, {"ns": [1.0, 2.0]}, True, "typed-array-items"
    ),
    "variable answer": Row(
        {"n": {"type": "integer"}}, {"n": ["count"]}, {"n": "count"}, True, "variable-answers"
    ),
}


@pytest.mark.parametrize("name", list(TABLE))
def test_table_of_bfcl_verdicts(name: str, bfcl: Bfcl) -> None:
    row = TABLE[name]
    functions = [function(row.properties, row.required)]
    calls, answers = [("f", row.arguments)], [("f", row.answer)]
    # The restated rules must give BFCL's verdict, or the table proves nothing.
    assert (
        bfcl.simple_ok(functions[0], json.loads(json.dumps(row.arguments)), row.answer) is row.bfcl
    )
    if row.exception is None:
        assert ours(functions, calls, answers) is row.bfcl
    else:
        assert row.exception in EXCEPTIONS
        assert ours(functions, calls, answers) is not row.bfcl


def test_parallel_calls_pair_optimally(bfcl: Bfcl) -> None:
    # Named exception "optimal-call-pairing": the first expected call could take either
    # call; BFCL gives it the first one and then has nothing left for the second.
    functions = [function({"x": {"type": "integer"}}, ["x"])]
    calls = [("f", {"x": 1}), ("f", {"x": 2})]
    answers = [("f", {"x": [1, 2]}), ("f", {"x": [1]})]
    assert bfcl.parallel_ok(functions, calls, answers) is False
    assert ours(functions, calls, answers) is True
    swapped = [("f", {"x": 2}), ("f", {"x": 1})]
    assert bfcl.parallel_ok(functions, swapped, answers) is True
    assert ours(functions, swapped, answers) is True


# -- generated calls ----------------------------------------------------------------------

VOCAB = ["Paris", "New York", "celsius", "O'Brien", "2024-01-01", "fast", "x_y", "dark mode"]
COSMETIC: list[Callable[[str], str]] = [
    str.upper,
    str.title,
    lambda s: s.replace(" ", "_"),
    lambda s: f" {s}.",
    lambda s: s.replace("'", '"'),
    lambda s: s,
]
# Mutations the generator must reach, each at least once with each verdict it can get.
REACHED = {
    "enum-variant": True,  # "CELSIUS" for an enum's "celsius": BFCL accepts it
    "nudged-float": False,  # 0.1 * (1 + 1e-12): no tolerance
    "empty-optional-array": True,  # [] where "" marks the array optional
    "wrong-name": False,
    "parallel-shuffled": True,
}


@dataclass
class Parameter:
    schema: dict[str, Any]
    options: list[Any]  # BFCL's possible answers, "" for optional
    value: Any = None
    omitted: bool = False
    tags: set[str] = field(default_factory=set)  # mutations reached, for coverage


def _strings(rng: random.Random) -> list[str]:
    return rng.sample(VOCAB, rng.randint(1, 3))


def _cosmetic(rng: random.Random, value: Any) -> Any:
    # A variant BFCL's standardisation maps back to the same string.
    if isinstance(value, str):
        return rng.choice(COSMETIC)(value)
    if isinstance(value, list):
        return [_cosmetic(rng, item) for item in value]
    if isinstance(value, dict):
        return {key: _cosmetic(rng, item) for key, item in value.items()}
    return value


def _new_schema(rng: random.Random, kind: str) -> dict[str, Any]:
    if kind == "string":
        enum = rng.random() < 0.4
        return {"type": "string", "enum": [*rng.sample(VOCAB, 3), "kelvin"]} if enum else STRING
    if kind in ("integer", "float", "boolean"):
        return {"type": kind}
    if kind in ("strings", "integers"):
        return STRINGS if kind == "strings" else INTEGERS
    theme = {} if rng.random() < 0.5 else {"type": "string"}
    return {"type": "dict", "properties": {"theme": theme, "level": {"type": "integer"}}}


def _options(rng: random.Random, schema: dict[str, Any]) -> list[Any]:
    kind = schema["type"]
    if kind == "string":
        allowed = schema["enum"][:-1] if "enum" in schema else VOCAB
        return rng.sample(allowed, rng.randint(1, 3))
    if kind == "integer":
        return rng.sample(range(-5, 100), rng.randint(1, 2))
    if kind == "float":
        return [float(rng.randint(-9, 9)) if rng.random() < 0.3 else round(rng.uniform(-50, 50), 2)]
    if kind == "boolean":
        return [rng.random() < 0.5]
    if schema is STRINGS:
        return [_strings(rng) for _ in range(rng.randint(1, 2))]
    if schema is INTEGERS:
        return [rng.sample(range(10), rng.randint(1, 3))]
    level: list[Any] = [rng.randint(0, 5)] + ([""] if rng.random() < 0.5 else [])
    return [{"theme": _strings(rng), "level": level}]


def _wrong(rng: random.Random, parameter: Parameter, good: Any) -> Any:
    kind = parameter.schema["type"]
    if kind == "dict":
        return {**good, "theme": "Berlin"} if rng.random() < 0.5 else {**good, "level": 9}
    if kind == "array":
        reordered = list(reversed(good))
        return reordered if reordered not in parameter.options else [*good, good[0]]
    if kind == "boolean":
        return not good
    if kind == "float":
        return good + 1.5
    return "Berlin" if kind == "string" else 100


def _wrong_type(rng: random.Random, parameter: Parameter, good: Any) -> Any:
    kind = parameter.schema["type"]
    if kind == "dict":
        return rng.choice(["dark", {**good, "theme": 5}])
    if kind == "array":
        return rng.choice(["a", [str(item) for item in good]])
    if kind == "integer":
        return rng.choice([str(good), float(good), good + 0.5, True])
    if kind == "float":
        return rng.choice([str(good), True])
    return rng.choice([1, "true"] if kind == "boolean" else [5, ["Paris"]])


def _mutate(rng: random.Random, parameter: Parameter) -> None:
    options = [option for option in parameter.options if option != ""]
    good = rng.choice(options)
    kind = parameter.schema["type"]
    mutation = rng.choices(["good", "wrong", "type", "omit", "special"], weights=[6, 2, 2, 1, 2])[0]
    parameter.value = _cosmetic(rng, good) if mutation == "good" else good
    if mutation == "good" and parameter.value not in parameter.schema.get(
        "enum", [parameter.value]
    ):
        parameter.tags.add("enum-variant")
    elif mutation == "wrong":
        parameter.value = _wrong(rng, parameter, good)
    elif mutation == "type":
        parameter.value = _wrong_type(rng, parameter, good)
    elif mutation == "omit":
        parameter.omitted = True
    elif mutation == "special" and kind == "float" and good != 0:
        parameter.value = good * (1 + 1e-12)
        parameter.tags.add("nudged-float")
    elif mutation == "special" and kind == "float" and good.is_integer():
        parameter.value = int(good)  # an int where a float is expected: both accept
    elif mutation == "special" and kind == "array":
        parameter.value = []
        if [] not in parameter.options and "" in parameter.options:
            parameter.tags.add("empty-optional-array")
    elif mutation == "special" and kind == "dict" and len(good["theme"]) > 1:
        parameter.value = {**good, "theme": good["theme"]}  # the list of options as a value


KINDS = ["string", "integer", "float", "boolean", "strings", "integers", "dict"]


def schema_pool(rng: random.Random, size: int = 60) -> list[dict[str, Any]]:
    # Few distinct tools, as in a suite: the checker caches each schema's check.
    pool = []
    for index in range(size):
        count = rng.randint(1, 4)
        properties = {f"p{i}": _new_schema(rng, rng.choice(KINDS)) for i in range(count)}
        required = [name for name in properties if rng.random() < 0.6]
        pool.append({**function(properties, required), "name": f"f{index}"})
    return pool


def generated_case(
    rng: random.Random, described: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    """A possible answer for ``described``, a call made from it, and the exceptions in play."""
    required = described["parameters"]["required"]
    parameters = {}
    for name, schema in described["parameters"]["properties"].items():
        parameter = Parameter(schema, _options(rng, schema))
        if name not in required:
            parameter.options.append("")
        _mutate(rng, parameter)
        parameters[name] = parameter
    arguments = {name: p.value for name, p in parameters.items() if not p.omitted}
    if rng.random() < 0.05:
        arguments["unexpected"] = 1
    answer = {name: p.options for name, p in parameters.items()}
    tags = set().union(*(p.tags for p in parameters.values()))
    return answer, json.loads(json.dumps(arguments)), tags


def _misnamed(rng: random.Random, name: str) -> str:
    # A tool that was not offered: an unknown name, or a near miss BFCL does not forgive.
    return rng.choice(["g", name.upper(), f"{name}_v2", name.replace("f", "get_f")])


def generated_calls(
    rng: random.Random, pool: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], Calls, Calls, set[str]]:
    """Offered tools, the calls made and the possible answers, with the mutations reached.

    One call in three cases is parallel (2-3 distinct tools, calls shuffled, now and
    then one dropped or repeated): with distinct names the pairing is unambiguous,
    so BFCL's first-passing pairing and our optimal one give the same verdict.
    """
    offered = rng.sample(pool, rng.randint(2, 3)) if rng.random() < 1 / 3 else [rng.choice(pool)]
    calls: Calls = []
    answers: Calls = []
    reached: set[str] = set()
    for described in offered:
        answer, arguments, tags = generated_case(rng, described)
        name = described["name"]
        if rng.random() < 0.05:
            name = _misnamed(rng, name)
            reached.add("wrong-name")
        calls.append((name, arguments))
        answers.append((described["name"], answer))
        reached |= tags
    if len(offered) > 1:
        rng.shuffle(calls)
        reached.add("parallel-shuffled")
        if rng.random() < 0.1:
            calls.pop() if rng.random() < 0.5 else calls.append(calls[0])
    return offered, calls, answers, reached


Calls = list[tuple[str, dict[str, Any]]]


def test_generated_calls_get_bfcls_verdicts(bfcl: Bfcl) -> None:
    rng = random.Random(41)
    pool = schema_pool(rng)
    verdicts: Counter[tuple[bool, str]] = Counter()
    calls_checked = 0
    for _ in range(CASES):
        offered, calls, answers, reached = generated_calls(rng, pool)
        theirs = bfcl.parallel_ok(offered, calls, answers)
        mine = ours(offered, calls, answers)
        assert mine is theirs, (offered, answers, calls, mine, theirs)
        calls_checked += len(calls)
        verdicts[theirs, "bfcl"] += 1
        for tag in reached:
            verdicts[theirs, tag] += 1
    assert calls_checked >= 2500
    # The generator reaches both verdicts and every mutation it is meant to.
    assert verdicts[True, "bfcl"] > CASES // 10
    assert verdicts[False, "bfcl"] > CASES // 5
    for tag, verdict in REACHED.items():
        assert verdicts[verdict, tag] > 0, tag
