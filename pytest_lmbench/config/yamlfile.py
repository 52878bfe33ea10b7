"""Reading the YAML files users give (``--lm-config``, ``--lm-gates``): one line per problem.

Anchors and aliases are refused: nothing in these files needs them, and a few
hundred bytes of nested aliases (a "billion laughs" file) expand to gigabytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from yaml.composer import ComposerError
from yaml.nodes import Node


class _NoAliases(yaml.SafeLoader):
    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise ComposerError(
                None, None, "YAML aliases (*name) are not accepted", event.start_mark
            )
        return super().compose_node(parent, index)


def read_yaml(path: Path, option: str) -> Any:
    """The file's data; ``pytest.UsageError`` naming ``option``, the file and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise pytest.UsageError(f"{option}: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise pytest.UsageError(f"{option}: {path} is not UTF-8 text") from None
    try:
        return yaml.load(text, Loader=_NoAliases)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None)
        reason = f": {problem}" if problem == "YAML aliases (*name) are not accepted" else ""
        raise pytest.UsageError(f"{option}: {path} is not valid YAML{where}{reason}") from None
