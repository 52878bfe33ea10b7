"""Parsing Ollama's model list (``/api/tags`` with ``/api/show``) into :class:`ModelInfo`."""

from __future__ import annotations

from typing import Any

from pytest_lmbench.backends.base import JSON, ModelInfo, ModelKind
from pytest_lmbench.backends.stream import as_int


def model_from_tag(raw: JSON, show: JSON | None, loaded: tuple[str, ...]) -> ModelInfo:
    """One /api/tags row, with /api/show facts when the server gave them."""
    found = raw.get("details")
    details: JSON = found if isinstance(found, dict) else {}
    listed = show.get("capabilities") if show else None
    # No capabilities list (older servers, failed /api/show) means "unknown", not "no".
    caps: list[Any] | None = listed if isinstance(listed, list) else None
    kind: ModelKind = "llm"
    if caps is not None and "embedding" in caps and "completion" not in caps:
        kind = "embedding"
    elif caps is not None and "vision" in caps:
        kind = "vlm"
    return ModelInfo(
        key=tag_name(raw),
        kind=kind,
        display_name=tag_name(raw),
        architecture=details.get("family"),
        quantization=details.get("quantization_level"),
        size_bytes=as_int(raw.get("size")),
        params_string=details.get("parameter_size"),
        max_context_length=_show_context(show),
        format=details.get("format"),
        vision=("vision" in caps) if caps is not None else None,
        tool_use=("tools" in caps) if caps is not None else None,
        loaded_instances=loaded,
        digest=raw.get("digest") if isinstance(raw.get("digest"), str) else None,
    )


def _show_context(show: JSON | None) -> int | None:
    info = show.get("model_info") if show else None
    if not isinstance(info, dict):
        return None
    arch = info.get("general.architecture")
    return as_int(info.get(f"{arch}.context_length")) if arch else None


def block_count(show: JSON | None) -> int | None:
    """The model's layer count (``<arch>.block_count`` of ``/api/show``), or None."""
    info = show.get("model_info") if show else None
    if not isinstance(info, dict):
        return None
    arch = info.get("general.architecture")
    return as_int(info.get(f"{arch}.block_count")) if arch else None


def tag_name(raw: JSON) -> str:
    return str(raw.get("name") or raw.get("model") or "")
