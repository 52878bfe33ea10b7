"""Every named exception of the parity tests is stated in the README, and only those."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PARITY = Path(__file__).resolve().parent
README = PARITY.parents[1] / "README.md"
SECTION = "**Metric parity.**"
ENTRY = re.compile(r"^- `([a-z0-9-]+)`: \S")


def named_exceptions() -> dict[str, str]:
    """The ``EXCEPTIONS`` dicts of the parity modules, read without importing them."""
    found: dict[str, str] = {}
    for module in sorted(PARITY.glob("test_*.py")):
        for node in ast.parse(module.read_text(encoding="utf-8")).body:
            targets = (
                node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            )
            if any(isinstance(t, ast.Name) and t.id == "EXCEPTIONS" for t in targets):
                value = getattr(node, "value", None)
                assert isinstance(value, ast.Dict), module.name
                for key, reason in zip(value.keys, value.values, strict=True):
                    assert key is not None, module.name
                    found[ast.literal_eval(key)] = ast.literal_eval(reason)
    return found


def readme_entries() -> list[str]:
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(SECTION))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("**"))
    return [m.group(1) for line in lines[start:end] if (m := ENTRY.match(line))]


def test_parity_modules_name_their_exceptions() -> None:
    exceptions = named_exceptions()
    assert len(exceptions) >= 10
    assert all(len(reason) > 20 for reason in exceptions.values())


def test_readme_lists_every_named_exception_once() -> None:
    entries = readme_entries()
    assert len(entries) == len(set(entries)), "a difference is listed twice"
    assert set(entries) == set(named_exceptions())
