"""``--lm-reference FILE``: speeds published elsewhere, shown beside this run's own.

The file is the YAML of seed 004's ``published.yaml``, per model and server::

    qwen/qwen3-4b:
      lm_studio:
        toks_per_sec: 18.2        # decode tokens per second
        ttft_sec: 2.1             # time to first token
        source: "where the figure comes from"
        hardware: "the machine it was measured on"
        prompt_tokens: 512        # optional: the grid point it was measured at
        gen_tokens: 128
        concurrency: 1

A published figure is context, not a measurement: the report shows it with its
source and hardware and the measured difference in percent.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pytest_lmbench.config.yamlfile import read_yaml
from pytest_lmbench.errors import first_problem
from pytest_lmbench.records import PublishedFigure

OPTION = "--lm-reference"
# The file's names -> this project's field names.
_RENAMED = {"toks_per_sec": "decode_tps", "ttft_sec": "ttft_s"}


def read_references(path: Path) -> dict[str, list[PublishedFigure]]:
    """The file's figures per model key; ``pytest.UsageError`` naming the entry at fault."""
    data = read_yaml(path, OPTION)
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise pytest.UsageError(f"{OPTION}: {path}: expected a mapping of model -> server")
    found: dict[str, list[PublishedFigure]] = {}
    for model, servers in data.items():
        if not isinstance(servers, Mapping):
            raise pytest.UsageError(f"{OPTION}: {path}: {model}: expected a mapping of servers")
        found[str(model)] = [
            _figure(path, str(model), str(server), fields) for server, fields in servers.items()
        ]
    return found


def _figure(path: Path, model: str, server: str, fields: Any) -> PublishedFigure:
    where = f"{OPTION}: {path}: {model}.{server}"
    if not isinstance(fields, Mapping):
        raise pytest.UsageError(f"{where}: expected a mapping of figures")
    renamed = {_RENAMED.get(str(k), str(k)): v for k, v in fields.items()}
    if "server" in renamed:
        raise pytest.UsageError(f"{where}: unknown field 'server'")
    try:
        return PublishedFigure.model_validate({"server": server, **renamed})
    except ValidationError as exc:
        field, problem = first_problem(exc)
        original = {v: k for k, v in _RENAMED.items()}.get(field, field)
        raise pytest.UsageError(f"{where}: {original}: {problem}") from None


def figures_for(references: Mapping[str, list[PublishedFigure]], key: str) -> list[PublishedFigure]:
    """A model's figures: its key as written, else ignoring case."""
    if key in references:
        return references[key]
    lowered = {name.lower(): figures for name, figures in references.items()}
    return lowered.get(key.lower(), [])
