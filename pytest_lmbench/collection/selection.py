"""After collection: filter by capability, cap per capability, skip, group by model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import pytest

from pytest_lmbench.backends.base import ModelInfo
from pytest_lmbench.collection.items import SPEC_KEY
from pytest_lmbench.config.options import Settings


def model_of(item: pytest.Item) -> str | None:
    spec = item.stash.get(SPEC_KEY, None)
    if spec is not None:
        return spec.model
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get("lm_model_key") if callspec is not None else None
    return str(value) if value is not None else None


def organize(
    config: pytest.Config,
    items: list[pytest.Item],
    settings: Settings,
    infos: Mapping[str, ModelInfo | None],
    models: Sequence[str],
) -> None:
    kept, deselected = _filter(items, settings)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    for item in kept:
        _maybe_skip(item, settings, infos)
    order = {key: index for index, key in enumerate(models)}
    # Stable sort: every item of one model runs together, so each model loads once.
    kept.sort(key=lambda it: order.get(model_of(it) or "", -1))
    items[:] = kept


def _filter(
    items: list[pytest.Item], settings: Settings
) -> tuple[list[pytest.Item], list[pytest.Item]]:
    kept: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    seen: Counter[tuple[str, str]] = Counter()
    for item in items:
        spec = item.stash.get(SPEC_KEY, None)
        if spec is None:
            kept.append(item)
            continue
        if settings.lm_capabilities is not None and spec.capability not in settings.lm_capabilities:
            deselected.append(item)
            continue
        seen[(spec.model, spec.capability)] += 1
        if (
            settings.lm_max_tests is not None
            and seen[(spec.model, spec.capability)] > settings.lm_max_tests
        ):
            deselected.append(item)
            continue
        kept.append(item)
    return kept, deselected


def _maybe_skip(
    item: pytest.Item, settings: Settings, infos: Mapping[str, ModelInfo | None]
) -> None:
    spec = item.stash.get(SPEC_KEY, None)
    info = infos.get(spec.model) if spec is not None else None
    if spec is None or info is None or settings.lm_force_capabilities:
        return
    if info.kind == "embedding" and spec.embedding_case is None:
        item.add_marker(
            pytest.mark.skip(
                reason=f"{spec.model} is an embedding model (the server lists it so): no chat"
            )
        )
        return
    if spec.capability not in ("vision", "tooling", "agentic"):
        return
    if settings.lm_capabilities is not None:
        return  # the user said which capabilities to run: that overrides the model list
    if spec.capability == "vision" and info.vision is False:
        item.add_marker(
            pytest.mark.skip(
                reason=f"{spec.model} lacks the vision capability (capabilities.vision is false)"
            )
        )
    if spec.capability in ("tooling", "agentic") and info.tool_use is False:
        item.add_marker(
            pytest.mark.skip(
                reason=f"{spec.model} lacks the tool-use capability (not trained_for_tool_use)"
            )
        )
