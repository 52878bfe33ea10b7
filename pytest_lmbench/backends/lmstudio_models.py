"""Parsing LM Studio's model lists (v1 and v0 shapes) into :class:`ModelInfo`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pytest_lmbench.backends.base import JSON, ModelInfo, ModelKind
from pytest_lmbench.backends.stream import as_int


def model_from_v1(raw: JSON) -> ModelInfo:
    quant = raw.get("quantization") or {}
    caps = raw.get("capabilities") or {}
    kind: ModelKind = "embedding" if raw.get("type") == "embedding" else "llm"
    return ModelInfo(
        key=str(raw.get("key", "")),
        kind=kind,
        display_name=raw.get("display_name"),
        architecture=raw.get("architecture"),
        quantization=quant.get("name") if isinstance(quant, dict) else None,
        bits_per_weight=_num(quant.get("bits_per_weight")) if isinstance(quant, dict) else None,
        size_bytes=as_int(raw.get("size_bytes")),
        params_string=raw.get("params_string"),
        max_context_length=as_int(raw.get("max_context_length")),
        format=raw.get("format"),
        vision=_bool(caps.get("vision")) if kind != "embedding" else False,
        tool_use=_bool(caps.get("trained_for_tool_use")) if kind != "embedding" else False,
        loaded_instances=tuple(
            str(i.get("id")) for i in raw.get("loaded_instances") or [] if isinstance(i, dict)
        ),
        variants=tuple(str(v) for v in raw.get("variants") or []),
        selected_variant=_str(raw.get("selected_variant")),
    )


def variant_info(info: ModelInfo, key: str) -> ModelInfo:
    """The metadata of ``key@quant`` from its base entry ``info``.

    The base entry describes its selected variant (fact sheet §1.1, §4): its
    quantization, bits and size belong to that variant only. Another variant's
    quantization is the ``@quant`` suffix, written as the server's own name when
    it is that same quantization; its bits and size are unknown.
    """
    if "@" not in key or key == info.selected_variant:
        return info
    quant = key.split("@", 1)[1]
    if info.quantization and info.quantization.lower() == quant.lower():
        return info
    return replace(info, quantization=quant or None, bits_per_weight=None, size_bytes=None)


def find_variant(infos: Mapping[str, ModelInfo], key: str) -> ModelInfo | None:
    """Exact key, else the base of ``key@quant`` when the server lists that variant.

    A variant gets its own quantization (see :func:`variant_info`), not the one of
    the base entry's selected variant.
    """
    if key in infos:
        return infos[key]
    base = key.split("@", 1)[0]
    info = infos.get(base)
    if info is not None and (not info.variants or key in info.variants):
        return variant_info(info, key)
    return None


def model_from_v0(raw: JSON) -> ModelInfo:
    mtype = raw.get("type")
    kind: ModelKind = "embedding" if mtype == "embeddings" else "vlm" if mtype == "vlm" else "llm"
    caps = raw.get("capabilities")
    return ModelInfo(
        key=str(raw.get("id", "")),
        kind=kind,
        architecture=raw.get("arch"),
        quantization=raw.get("quantization"),
        max_context_length=as_int(raw.get("max_context_length")),
        format=raw.get("compatibility_type"),
        vision=kind == "vlm",
        # The capabilities array can be missing entirely: then we do not know.
        tool_use=("tool_use" in caps) if isinstance(caps, list) and kind != "embedding" else None,
        loaded_instances=(str(raw.get("id")),) if raw.get("state") == "loaded" else (),
    )


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None
