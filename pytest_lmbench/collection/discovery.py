"""``--lm-model=all`` and globs: the server's installed models, filtered, at collection.

A model is kept by a filter only when the server's own metadata says it passes:
an unknown fact (a server that lists bare ids) drops it, with that as the reason.
What was dropped is kept with one reason each, for the header and ``-v``.
"""

from __future__ import annotations

import fnmatch
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pytest_lmbench.backends.base import ModelInfo
from pytest_lmbench.config.options import Settings

ALL = "all"
_GLOB = re.compile(r"[*?\[]")
_PARAMS = re.compile(r"(?:(\d+)x)?(\d+(?:\.\d+)?)\s*([bmk])", re.IGNORECASE)
_SCALE = {"b": 1.0, "m": 1e-3, "k": 1e-6}
_COMPARE: Mapping[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "=": lambda a, b: a == b,
}
Find = Callable[[Mapping[str, ModelInfo], str], "ModelInfo | None"]
# A filter: the reason a model is dropped, or None when it is kept.
Check = Callable[[str, "ModelInfo | None"], "str | None"]


@dataclass
class Discovery:
    keys: tuple[str, ...]
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (key, why)
    listed: int = 0  # candidates before filtering

    def header_lines(self, verbose: bool) -> list[str]:
        if not self.dropped:
            return []
        lines = [
            f"lmbench models: {len(self.keys)} of {self.listed} kept, {len(self.dropped)} "
            "filtered out" + ("" if verbose else " (-v: why)")
        ]
        if verbose:
            lines += [f"lmbench filtered out {key}: {why}" for key, why in self.dropped]
        return lines


def is_pattern(key: str) -> bool:
    return key == ALL or _GLOB.search(key) is not None


def filtering(settings: Settings) -> bool:
    """True when any model filter is set (they apply to named keys as well)."""
    return any(_checks(settings)) or settings.lm_limit is not None or settings.lm_random is not None


def discover(settings: Settings, infos: Mapping[str, ModelInfo], find: Find) -> Discovery:
    """The model keys to benchmark: ``--lm-model`` expanded, then filtered."""
    candidates = _expand(settings.lm_model, infos)
    found = Discovery(keys=(), listed=len(candidates))
    kept: list[str] = []
    for key in candidates:
        info = find(infos, key)
        why = next((r for check in _checks(settings) if (r := check(key, info))), None)
        if why is None:
            kept.append(key)
        else:
            found.dropped.append((key, why))
    kept = _limited(settings, kept, infos, find, found.dropped)
    found.keys = tuple(kept)
    return found


def _expand(wanted: Sequence[str], infos: Mapping[str, ModelInfo]) -> list[str]:
    """Each pattern as the listed keys it matches (each variant of a model on its own)."""
    listed: list[str] = []
    for key in sorted(infos):
        variants = infos[key].variants
        listed += list(variants) if len(variants) > 1 else [key]
    out: list[str] = []
    for item in wanted:
        if item == ALL:
            matches = listed
        elif is_pattern(item):
            matches = [k for k in listed if fnmatch.fnmatchcase(k, item)]
        else:
            matches = [item]
        out += [k for k in matches if k not in out]
    return out


def _checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    if settings.lm_include is not None:
        include = re.compile(settings.lm_include)
        checks.append(
            lambda k, _: (
                None if include.search(k) else f"no match for --lm-include {include.pattern}"
            )
        )
    if settings.lm_exclude is not None:
        exclude = re.compile(settings.lm_exclude)
        checks.append(
            lambda k, _: f"matches --lm-exclude {exclude.pattern}" if exclude.search(k) else None
        )
    if settings.lm_only_vision:
        checks.append(lambda _, i: _flag(i.vision if i else None, "vision"))
    if settings.lm_only_tools:
        checks.append(lambda _, i: _flag(i.tool_use if i else None, "tool use"))
    if settings.lm_quant is not None:
        checks.append(_one_of("quantization", settings.lm_quant, lambda i: i.quantization))
    if settings.lm_arch is not None:
        checks.append(_one_of("architecture", settings.lm_arch, lambda i: i.architecture))
    if settings.lm_params is not None:
        checks.append(_params_within(settings.lm_params))
    if settings.lm_max_size_gb is not None:
        checks.append(_size_at_most(settings.lm_max_size_gb))
    if settings.lm_min_context is not None:
        checks.append(_context_at_least(settings.lm_min_context))
    return checks


def _flag(value: bool | None, what: str) -> str | None:
    if value is None:
        return f"the server does not say whether it has {what}"
    return None if value else f"the server says it has no {what}"


def _one_of(what: str, allowed: tuple[str, ...], read: Callable[[ModelInfo], str | None]) -> Check:
    def check(_: str, info: ModelInfo | None) -> str | None:
        value = read(info) if info is not None else None
        if value is None:
            return f"the server does not say its {what}"
        return None if value.lower() in allowed else f"{what} {value} is not {','.join(allowed)}"

    return check


def billions(params: str | None) -> float | None:
    """``7B``, ``4.3B``, ``135M``, ``26B-A4B`` (total), ``8x7B``: parameters in billions."""
    found = _PARAMS.search(params or "")
    if found is None:
        return None
    experts = int(found.group(1)) if found.group(1) else 1
    return experts * float(found.group(2)) * _SCALE[found.group(3).lower()]


def _params_within(bounds: tuple[tuple[str, float], ...]) -> Check:
    def check(_: str, info: ModelInfo | None) -> str | None:
        count = billions(info.params_string) if info is not None else None
        if count is None:
            return "the server does not say its parameter count"
        for op, limit in bounds:
            if not _COMPARE[op](count, limit):
                return f"{count:g}B parameters is not {op}{limit:g}B"
        return None

    return check


def _size_at_most(limit_gb: float) -> Check:
    def check(_: str, info: ModelInfo | None) -> str | None:
        size = info.size_bytes if info is not None else None
        if size is None:
            return "the server does not say its size"
        return None if size <= limit_gb * 1e9 else f"{size / 1e9:.2f} GB is over {limit_gb:g} GB"

    return check


def _context_at_least(minimum: int) -> Check:
    def check(_: str, info: ModelInfo | None) -> str | None:
        context = info.max_context_length if info is not None else None
        if context is None:
            return "the server does not say its trained context length"
        return None if context >= minimum else f"trained context {context} is under {minimum}"

    return check


def _limited(
    settings: Settings,
    keys: list[str],
    infos: Mapping[str, ModelInfo],
    find: Find,
    dropped: list[tuple[str, str]],
) -> list[str]:
    if settings.lm_limit is not None:

        def size(key: str) -> float:
            info = find(infos, key)
            known = info.size_bytes if info is not None else None
            return float("inf") if known is None else float(known)  # unknown sizes last

        ordered = sorted(keys, key=size)
        dropped += [
            (k, f"beyond --lm-limit {settings.lm_limit}") for k in ordered[settings.lm_limit :]
        ]
        keys = ordered[: settings.lm_limit]
    if settings.lm_random is not None and settings.lm_random < len(keys):
        drawn = set(random.Random(settings.lm_seed or 0).sample(keys, settings.lm_random))
        dropped += [
            (k, f"not drawn by --lm-random {settings.lm_random}") for k in keys if k not in drawn
        ]
        keys = [k for k in keys if k in drawn]
    return keys
