"""``--lm-preset``: named sets of option values, built in or from the YAML ``presets`` section.

A preset fills only options no source set: the command line, the environment,
the YAML file's own keys and the ini file all override it. Its values go
through the same parsers as the options they set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_lmbench.config.table import SPEC_BY_NAME

# The options a built-in preset sets; the README table shows them in this order.
PRESET_OPTIONS = (
    "lm_runs",
    "lm_warmup",
    "lm_concurrency",
    "lm_max_tests",
    "lm_context_length",
    "lm_sample_interval",
)
# None: the preset leaves that option alone (the suite's grid, every case, the
# server's context length).
BUILTIN_PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "lm_runs": 1,
        "lm_warmup": 0,
        "lm_concurrency": "1",
        "lm_max_tests": 3,
        "lm_context_length": 4096,
        "lm_sample_interval": 0.5,
    },
    "standard": {
        "lm_runs": 3,
        "lm_warmup": 1,
        "lm_concurrency": None,
        "lm_max_tests": 10,
        "lm_context_length": None,
        "lm_sample_interval": 0.2,
    },
    "thorough": {
        "lm_runs": 10,
        "lm_warmup": 2,
        "lm_concurrency": "1,2,4,8,16",
        "lm_max_tests": None,
        "lm_context_length": None,
        "lm_sample_interval": 0.1,
    },
    "resource-limited": {
        "lm_runs": 2,
        "lm_warmup": 1,
        "lm_concurrency": "1",
        "lm_max_tests": 5,
        "lm_context_length": 2048,
        "lm_sample_interval": 1.0,
    },
}
# Options a preset cannot set: which preset, which file, and the secret.
NOT_IN_PRESETS = frozenset({"lm_preset", "lm_config", "lm_api_token"})
_UNSET_CELL = {
    "lm_concurrency": "the suite's grid",
    "lm_max_tests": "every case",
    "lm_context_length": "the server's",
}


class PresetError(ValueError):
    """A preset that does not exist or holds a key that is no option."""


def user_presets(section: Any, where: str) -> dict[str, dict[str, Any]]:
    """The YAML ``presets`` section, keys normalised to option names; raises PresetError."""
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise PresetError(f"{where}: presets must be a mapping of preset names")
    found: dict[str, dict[str, Any]] = {}
    for name, values in section.items():
        label = str(name)
        if label in BUILTIN_PRESETS:
            raise PresetError(f"{where}: presets.{label}: {label!r} is a built-in preset name")
        if not isinstance(values, Mapping):
            raise PresetError(f"{where}: presets.{label} must be a mapping of option keys")
        found[label] = {_option(key, f"{where}: presets.{label}"): v for key, v in values.items()}
    return found


def _option(key: Any, where: str) -> str:
    name = str(key).replace("-", "_")
    full = name if name.startswith("lm_") else "lm_" + name
    if full not in SPEC_BY_NAME or full in NOT_IN_PRESETS:
        raise PresetError(f"{where}: unknown key {key!r}")
    return full


def preset_values(name: str, users: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The option values ``name`` sets (None values dropped); raises PresetError."""
    found = BUILTIN_PRESETS.get(name) or users.get(name)
    if found is None:
        known = ", ".join([*BUILTIN_PRESETS, *users])
        raise PresetError(f"no preset {name!r}; choose from {known}")
    return {k: v for k, v in found.items() if v is not None}


def markdown_table() -> list[str]:
    """The README's table of built-in presets (a test keeps the two equal)."""
    flags = [SPEC_BY_NAME[name].flag for name in PRESET_OPTIONS]
    lines = ["| preset | " + " | ".join(f"`{f}`" for f in flags) + " |"]
    lines.append("|---" * (len(flags) + 1) + "|")
    for preset, values in BUILTIN_PRESETS.items():
        cells = [_cell(name, values.get(name)) for name in PRESET_OPTIONS]
        lines.append(f"| `{preset}` | " + " | ".join(cells) + " |")
    return lines


def _cell(name: str, value: Any) -> str:
    return _UNSET_CELL.get(name, "—") if value is None else f"`{value}`"
