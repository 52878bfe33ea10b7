"""The ``thresholds`` section of ``--lm-config``, checked at configure time; shared helpers.

Capability and limit names come from the code's own tables, so a misspelt name
stops pytest with one line instead of silently failing every item. Values are
strict: ``"0.5"`` is not a number. The ``weights`` section names metrics, which
only the metrics layer knows (plugins register more), so
:mod:`pytest_lmbench.metrics.weights` checks it with the helpers here; the
``gates`` section is checked by :mod:`pytest_lmbench.gates.keeper`.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Mapping, Sequence
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_core import ErrorDetails

from pytest_lmbench.vocabulary import CAPABILITIES, THROUGHPUT_LIMITS

__all__ = [
    "THRESHOLDS",
    "Strict",
    "check_sections",
    "describe",
    "fields_at",
    "optional",
    "validated",
]

Quality = Annotated[float, Field(ge=0.0, le=1.0)]
Limit = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
_QUALITY = {"min_quality": Quality}
# ``key.path: problem`` for a section's first validation error.
Describe = Callable[[str, type[BaseModel], ValidationError], str]


class Strict(BaseModel):
    """A section's mapping: unknown keys are errors, numbers must be numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def optional(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``create_model`` fields that may be left out (and are dropped when they are)."""
    return {name: (kind | None, None) for name, kind in fields.items()}


def _thresholds_model() -> type[BaseModel]:
    limits = dict.fromkeys(THROUGHPUT_LIMITS, Limit)
    quality = create_model("capability_thresholds", __base__=Strict, **optional(_QUALITY))
    throughput = create_model("throughput_thresholds", __base__=Strict, **optional(limits))
    capabilities = {cap: throughput if cap == "throughput" else quality for cap in CAPABILITIES}
    per_model = create_model("model_thresholds", __base__=Strict, **optional(capabilities))
    models = dict[str, per_model]  # type: ignore[valid-type]
    # Top-level numbers apply to every capability that reads them (runners.thresholds).
    top = {"models": models, **_QUALITY, **limits, **capabilities}
    return create_model("thresholds", __base__=Strict, **optional(top))


THRESHOLDS = _thresholds_model()


def check_sections(sections: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``sections`` with ``thresholds`` validated and empty ``weights``/``thresholds`` dropped.

    ``where`` names the file (``--lm-config: PATH``); a problem raises a one-line
    ``pytest.UsageError`` naming it, the key path and what is wrong. ``weights``
    is left as it is, for :func:`pytest_lmbench.metrics.weights.check_weights`.
    """
    checked = {
        name: data
        for name, data in sections.items()
        if data is not None or name not in ("weights", "thresholds")
    }
    if "thresholds" in checked:
        checked["thresholds"] = validated("thresholds", THRESHOLDS, checked["thresholds"], where)
    return checked


def validated(
    section: str, model: type[BaseModel], data: Any, where: str, describer: Describe | None = None
) -> dict[str, Any]:
    """``data`` checked by ``model``, keys left unset dropped; else a one-line ``UsageError``."""
    try:
        result = model.model_validate(data)
    except ValidationError as exc:
        message = (describer or describe)(section, model, exc)
        raise pytest.UsageError(f"{where}: {message}") from None
    return result.model_dump(exclude_none=True)


def describe(section: str, model: type[BaseModel], exc: ValidationError) -> str:
    """``key.path: problem`` for the first error, in words a config author knows."""
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    path = ".".join(str(part) for part in (section, *loc))
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{path}: {_unknown(loc, model)}"
    if kind in ("model_type", "dict_type"):
        return f"{path}: expected a mapping, got {_shown(error)}"
    return f"{path}: {error['msg']}, got {_shown(error)}"


def _unknown(loc: Sequence[Any], root: type[BaseModel]) -> str:
    known = ", ".join(fields_at(root, loc[:-1]))
    return f"unknown key {loc[-1]!r}; choose from {known}"


def fields_at(root: type[BaseModel], loc: Sequence[Any]) -> list[str]:
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


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 50
_SHORT.maxlist = _SHORT.maxdict = 4
_SHORT.maxlevel = 2


def _shown(error: ErrorDetails) -> str:
    # reprlib stops early: a huge value is never turned into text whole first.
    text = _SHORT.repr(error["input"])
    return text if len(text) <= 60 else text[:57] + "..."
