"""Value parsers for options; each raises ``ValueError`` with a short reason."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pytest_lmbench.vocabulary import CAPABILITIES, FORMATS, MAX_CONCURRENCY


def _items(value: Any) -> list[str]:
    """Accept a string ("a,b" or lines), or a list of such strings (repeated flags, YAML)."""
    raw: Iterable[Any] = value if isinstance(value, (list, tuple)) else [value]
    out: list[str] = []
    for item in raw:
        for part in str(item).replace(",", "\n").splitlines():
            if part.strip():
                out.append(part.strip())
    return out


def as_str(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def as_strings(value: Any) -> tuple[str, ...]:
    # Model keys never contain commas, so "a,b" and repeated flags both work.
    return tuple(dict.fromkeys(_items(value)))


def as_stop(value: Any) -> tuple[str, ...]:
    """Stop strings, one per flag (commas kept); ``\\n`` and ``\\t`` are a newline and a tab."""
    raw = value if isinstance(value, (list, tuple)) else [value]
    found = [str(v).replace("\\n", "\n").replace("\\t", "\t") for v in raw]
    if any(not text for text in found):
        raise ValueError("a stop string must not be empty")
    return tuple(dict.fromkeys(found))


def as_regex(value: Any) -> str:
    """A regular expression, checked now (matched with ``re.search`` on model keys)."""
    text = as_str(value)
    try:
        re.compile(text)
    except re.error as exc:
        raise ValueError(f"not a regular expression ({exc}): {value!r}") from None
    return text


def as_lower_strings(value: Any) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.lower() for n in _items(value)))
    if not names:
        raise ValueError(f"expected a comma list, got {value!r}")
    return names


_BOUND = re.compile(r"(>=|<=|>|<|=)?\s*(\d+(?:\.\d+)?)\s*([bmk]?)", re.IGNORECASE)
_SCALE = {"b": 1.0, "m": 1e-3, "k": 1e-6, "": 1.0}


def as_param_bounds(value: Any) -> tuple[tuple[str, float], ...]:
    """``>=3B,<=14B``: bounds on a model's parameter count, in billions."""
    bounds = []
    for item in _items(value):
        found = _BOUND.fullmatch(item.strip())
        if found is None:
            raise ValueError(f"expected bounds like >=3B,<=14B, got {item!r}")
        op, number, unit = found.group(1) or "=", float(found.group(2)), found.group(3).lower()
        bounds.append((op, number * _SCALE[unit]))
    if not bounds:
        raise ValueError(f"expected bounds like >=3B,<=14B, got {value!r}")
    return tuple(bounds)


def as_dirs(value: Any) -> tuple[str, ...]:
    """Existing folders; checked now so a typo is not a late "module not found"."""
    folders = as_strings(value)
    for folder in folders:
        path = Path(folder)
        if not path.exists():
            raise ValueError(f"{folder}: no such directory")
        if not path.is_dir():
            raise ValueError(f"{folder}: not a directory")
    return folders


def as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {value!r}")
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"expected a whole number, got {value!r}") from None


def as_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def as_choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return text

    return parse


def as_url(value: Any) -> str:
    text = str(value).strip().rstrip("/")
    if not text.startswith(("http://", "https://")) or len(text.split("://", 1)[1]) == 0:
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (a port that is no number raises here)
    except ValueError as exc:
        raise ValueError(f"{exc} in {value!r}") from None
    if not parts.hostname:
        raise ValueError(f"no host in {value!r}")
    return text


_SERVER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)=([A-Za-z0-9][A-Za-z0-9_.-]*)@(.+)$")


def split_server(text: str) -> tuple[str, str, str]:
    """``NAME=BACKEND@URL`` as (name, backend, URL); ValueError naming what is wrong."""
    match = _SERVER.match(text.strip())
    if match is None:
        raise ValueError(
            f"expected NAME=BACKEND@URL (e.g. oll=ollama@http://localhost:11434), got {text!r}"
        )
    name, backend, target = match.groups()
    if not target.startswith(("http://", "https://")):
        # A GGUF path would need a managed server per entry: not supported yet.
        raise ValueError(f"{name}: expected the URL of a running server, got {target!r}")
    return name, backend, as_url(target)


def as_servers(value: Any) -> tuple[str, ...]:
    """Repeated ``NAME=BACKEND@URL``; names unique (they prefix the model keys)."""
    servers = []
    names: set[str] = set()
    for item in _items(value):
        name, backend, url = split_server(item)
        if name in names:
            raise ValueError(f"server name {name!r} is given twice")
        names.add(name)
        servers.append(f"{name}={backend}@{url}")
    return tuple(servers)


def as_groups(value: Any) -> tuple[tuple[str, ...], ...]:
    """Repeated comma lists of model keys, each a group of the same weights."""
    raw: Iterable[Any] = value if isinstance(value, (list, tuple)) else [value]
    groups = []
    for item in raw:
        keys = tuple(dict.fromkeys(k.strip() for k in str(item).split(",") if k.strip()))
        if len(keys) < 2:
            raise ValueError(f"a group names two models or more, got {item!r}")
        groups.append(keys)
    return tuple(groups)


def as_gpu_offload(value: Any) -> str:
    text = str(value).strip().lower()
    if text in ("max", "off", "auto"):
        return text
    try:
        ratio = as_float(text)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"expected a ratio from 0 to 1, max, off or auto, got {value!r}")
    return f"{ratio:g}"


def as_capabilities(value: Any) -> tuple[str, ...]:
    names = _items(value)
    unknown = [n for n in names if n not in CAPABILITIES]
    if unknown or not names:
        raise ValueError(
            f"unknown capability {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(CAPABILITIES)}"
        )
    return tuple(dict.fromkeys(names))


def as_formats(value: Any) -> tuple[str, ...]:
    names = [n.lower() for n in _items(value)]
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise ValueError(
            f"unknown format {', '.join(unknown) or '(none)'}; choose from {', '.join(FORMATS)}"
        )
    return tuple(dict.fromkeys(names))


SWEEP: Literal["sweep"] = "sweep"


def as_concurrency(value: Any) -> tuple[int, ...] | Literal["sweep"]:
    if _is_sweep(value):
        return SWEEP
    levels = tuple(dict.fromkeys(as_int(v) for v in _items(value)))
    if not levels or any(level <= 0 or level > MAX_CONCURRENCY for level in levels):
        raise ValueError(
            f"expected whole numbers from 1 to {MAX_CONCURRENCY} like 1,4,16, or sweep, "
            f"got {value!r}"
        )
    return levels


def as_rates(value: Any) -> tuple[float, ...] | Literal["sweep"]:
    """Requests per second like 1,2,4,8 (open loop), or ``sweep``."""
    if _is_sweep(value):
        return SWEEP
    rates = tuple(dict.fromkeys(as_float(v) for v in _items(value)))
    if not rates or any(rate <= 0 for rate in rates):
        raise ValueError(f"expected request rates per second like 1,2,4,8 or sweep, got {value!r}")
    return rates


def _is_sweep(value: Any) -> bool:
    return _items(value) == [SWEEP]


_SLO_KEY = re.compile(r"(ttft|itl|e2e)_p(50|90|95|99)")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s)?")


def as_slo(value: Any) -> dict[str, float]:
    """``ttft_p95=2s,itl_p95=100ms,e2e_p95=30s``: latency objectives, in seconds."""
    objectives: dict[str, float] = {}
    for item in _items(value):
        key, sep, limit = item.partition("=")
        key, limit = key.strip(), limit.strip()
        duration = _DURATION.fullmatch(limit)
        if not sep or not _SLO_KEY.fullmatch(key) or duration is None:
            raise ValueError(
                f"expected objectives like ttft_p95=2s,itl_p95=100ms,e2e_p95=30s, got {item!r}"
            )
        number = float(duration.group(1))
        seconds = number / 1000.0 if duration.group(2) == "ms" else number
        if seconds <= 0:
            raise ValueError(f"an objective must be above 0, got {item!r}")
        objectives[key] = seconds
    if not objectives:
        raise ValueError(f"expected objectives like ttft_p95=2s, got {value!r}")
    return objectives


def load_yaml_config(
    path: Path, specs: Mapping[str, Any], sections: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read ``--lm-config``: option keys (``lm_model`` or ``model``) plus named sections."""
    import pytest

    from pytest_lmbench.config.yamlfile import read_yaml

    data = read_yaml(path, "--lm-config")
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise pytest.UsageError(f"--lm-config: {path} must hold a mapping of option keys")
    values: dict[str, Any] = {}
    found_sections: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name in sections:
            found_sections[name] = value
            continue
        full = name if name.startswith("lm_") else "lm_" + name
        if full not in specs or full == "lm_config":
            raise pytest.UsageError(f"--lm-config: {path}: unknown key {key!r}")
        values[full] = value
    return values, found_sections
