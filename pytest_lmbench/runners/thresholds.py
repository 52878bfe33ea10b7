"""Where limits come from: the case, the suite file, the YAML config and the options.

The YAML ``thresholds`` section::

    thresholds:
      min_quality: 0.5                 # every capability
      reasoning: {min_quality: 0.7}    # one capability
      throughput: {min_decode_tps: 20, max_ttft_p95_s: 1.5}
      models:
        qwen/qwen3-4b: {reasoning: {min_quality: 0.8}}

The section is checked against these names when pytest starts
(:mod:`pytest_lmbench.config.sections`), so every value read here is a number.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pytest_lmbench.suites.schema import ThroughputCase
from pytest_lmbench.vocabulary import THROUGHPUT_LIMITS

if TYPE_CHECKING:
    from pytest_lmbench.runners.common import ItemContext

DEFAULT_MIN_QUALITY = 0.5


def _section(sections: Mapping[str, Any], model: str, capability: str) -> dict[str, Any]:
    table = sections.get("thresholds") or {}
    merged: dict[str, Any] = {k: v for k, v in table.items() if not isinstance(v, dict)}
    merged.update(table.get(capability) or {})
    merged.update(((table.get("models") or {}).get(model) or {}).get(capability) or {})
    return merged


def min_quality(ctx: ItemContext, capability: str, *declared: float | None) -> float:
    """Case and suite file first, then --lm-min-quality, then the config, then 0.5."""
    for value in declared:
        if value is not None:
            return value
    if ctx.settings.lm_min_quality is not None:
        return ctx.settings.lm_min_quality
    value = _section(ctx.settings.sections, ctx.model.key, capability).get("min_quality")
    return float(value) if value is not None else DEFAULT_MIN_QUALITY


def throughput_limits(
    ctx: ItemContext, case: ThroughputCase
) -> Iterator[tuple[str, str, float, str]]:
    configured = _section(ctx.settings.sections, ctx.model.key, "throughput")
    for name, (metric, stat, bound) in THROUGHPUT_LIMITS.items():
        value = getattr(case, name, None)
        if value is None:
            value = configured.get(name)
        if value is not None:
            yield metric, stat, float(value), bound
