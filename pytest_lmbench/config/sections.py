"""The ``weights`` and ``thresholds`` sections of ``--lm-config``, checked at configure time.

Task, capability, metric and limit names come from the code's own tables, so a
misspelt name stops pytest with one line instead of silently scoring with the
defaults (or failing every item). Values are strict: ``"0.5"`` is not a number.
The ``gates`` section is checked by :mod:`pytest_lmbench.gates.keeper`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from pytest_lmbench.vocabulary import (
    CAPABILITIES,
    TASK_METRICS,
    TASKS,
    THROUGHPUT_LIMITS,
    weighable_metrics,
)

__all__ = ["THRESHOLDS", "WEIGHTS", "check_sections"]

Weight = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Quality = Annotated[float, Field(ge=0.0, le=1.0)]
Limit = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
_QUALITY = {"min_quality": Quality}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _TaskWeights(_Strict):
    @model_validator(mode="after")
    def _one_positive(self) -> _TaskWeights:
        # All zero would leave quality_score None, so every item would fail as "n/a".
        if not any(value for value in self.model_dump().values()):
            raise PydanticCustomError("no_positive_weight", "needs at least one weight above 0")
        return self


def _optional(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {name: (kind | None, None) for name, kind in fields.items()}


def _weights_model() -> type[BaseModel]:
    tasks = {
        task: create_model(
            f"{task}_weights",
            __base__=_TaskWeights,
            **_optional(dict.fromkeys(weighable_metrics(task), Weight)),
        )
        for task in TASK_METRICS
    }
    return create_model("weights", __base__=_Strict, **_optional(tasks))


def _thresholds_model() -> type[BaseModel]:
    limits = dict.fromkeys(THROUGHPUT_LIMITS, Limit)
    quality = create_model("capability_thresholds", __base__=_Strict, **_optional(_QUALITY))
    throughput = create_model("throughput_thresholds", __base__=_Strict, **_optional(limits))
    capabilities = {cap: throughput if cap == "throughput" else quality for cap in CAPABILITIES}
    per_model = create_model("model_thresholds", __base__=_Strict, **_optional(capabilities))
    models = dict[str, per_model]  # type: ignore[valid-type]
    # Top-level numbers apply to every capability that reads them (runners.thresholds).
    top = {"models": models, **_QUALITY, **limits, **capabilities}
    return create_model("thresholds", __base__=_Strict, **_optional(top))


WEIGHTS = _weights_model()
THRESHOLDS = _thresholds_model()
_SECTIONS: dict[str, type[BaseModel]] = {"weights": WEIGHTS, "thresholds": THRESHOLDS}


def check_sections(sections: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``sections`` with ``weights`` and ``thresholds`` validated and unset keys dropped.

    ``where`` names the file (``--lm-config: PATH``); a problem raises a one-line
    ``pytest.UsageError`` naming it, the key path and what is wrong.
    """
    checked = dict(sections)
    for name, model in _SECTIONS.items():
        data = sections.get(name)
        if data is None:
            checked.pop(name, None)
            continue
        try:
            validated = model.model_validate(data)
        except ValidationError as exc:
            raise pytest.UsageError(f"{where}: {describe(name, model, exc)}") from None
        checked[name] = validated.model_dump(exclude_none=True)
    return checked


def describe(section: str, model: type[BaseModel], exc: ValidationError) -> str:
    """``key.path: problem`` for the first error, in words a config author knows."""
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    path = ".".join(str(part) for part in (section, *loc))
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{path}: {_unknown(section, loc, model)}"
    if kind in ("model_type", "dict_type"):
        return f"{path}: expected a mapping, got {_shown(error)}"
    return f"{path}: {error['msg']}, got {_shown(error)}"


def _unknown(section: str, loc: Sequence[Any], root: type[BaseModel]) -> str:
    key = loc[-1]
    known = ", ".join(_fields_at(root, loc[:-1]))
    if section == "weights" and len(loc) == 1:
        if key in TASKS:
            return f"weights are per task, not per capability: {key} has {', '.join(TASKS[key])}"
        return f"unknown task {key!r}; choose from {known}"
    if section == "weights":
        return f"unknown metric {key!r} for {loc[0]}; choose from {known}"
    return f"unknown key {key!r}; choose from {known}"


def _fields_at(root: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The field names of the model at ``loc`` (dict keys are stepped over)."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if get_origin(current) is dict:
            current = get_args(current)[1]
        elif isinstance(current, type) and issubclass(current, BaseModel):
            current = current.model_fields[str(part)].annotation
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    if get_origin(annotation) in (Union, UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        return members[0] if len(members) == 1 else annotation
    return annotation


def _shown(error: ErrorDetails) -> str:
    text = repr(error["input"])
    return text if len(text) <= 60 else text[:57] + "..."
