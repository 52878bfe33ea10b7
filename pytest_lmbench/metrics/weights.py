"""How the metrics of each task weigh in its ``quality_score``, read from the metric registry.

The defaults, the check of the ``weights`` section of ``--lm-config`` and the
README's table of default weights (:func:`markdown_table`; a test keeps the two
equal) all come from the registry, so a registered metric is weighable at once.
Kept apart from :mod:`pytest_lmbench.metrics.scoring` so option checking at
pytest start stays cheap (neither imports the scorers' rouge-score/scipy stack
until a case is scored).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError, create_model, model_validator
from pydantic_core import PydanticCustomError

from pytest_lmbench.config.options import Settings
from pytest_lmbench.config.sections import Strict, describe, fields_at, optional, validated
from pytest_lmbench.metrics.registry import ALL_TASKS, default_weights, weighable_metrics
from pytest_lmbench.vocabulary import TASKS

__all__ = [
    "DEFAULT_WEIGHTS",
    "check_settings",
    "check_weights",
    "markdown_table",
    "weighable_metrics",
]

Weight = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class _DefaultWeights(Mapping[str, dict[str, float]]):
    """task -> {metric: default weight}, read from the registry on every access.

    A view rather than a dict built once, so a metric registered later (by a
    conftest, a plugin or a test) weighs in as soon as it is registered.
    """

    def __getitem__(self, task: str) -> dict[str, float]:
        if task not in ALL_TASKS:
            raise KeyError(task)
        return default_weights(task)

    def __iter__(self) -> Iterator[str]:
        return iter(ALL_TASKS)

    def __len__(self) -> int:
        return len(ALL_TASKS)


DEFAULT_WEIGHTS: Mapping[str, dict[str, float]] = _DefaultWeights()


def markdown_table() -> list[str]:
    """The README table of default weights, one row per task in capability order."""
    lines = [
        "| capability | task | default weights | other metrics you may weight |",
        "|---|---|---|---|",
    ]
    for capability, tasks in TASKS.items():
        for task in tasks:
            defaults = DEFAULT_WEIGHTS[task]
            weights = ", ".join(f"`{m}` {w:g}" for m, w in defaults.items())
            unweighted = [m for m in weighable_metrics(task) if m not in defaults]
            others = ", ".join(f"`{m}`" for m in unweighted) or "—"
            lines.append(f"| {capability} | {task} | {weights} | {others} |")
    return lines


class _TaskWeights(Strict):
    @model_validator(mode="after")
    def _one_positive(self) -> _TaskWeights:
        # All zero would leave quality_score None, so every item would fail as "n/a".
        if not any(value for value in self.model_dump().values()):
            raise PydanticCustomError("no_positive_weight", "needs at least one weight above 0")
        return self


def weights_model() -> type[BaseModel]:
    """The ``weights`` section's model, built from the metrics registered now."""
    tasks = {
        task: create_model(
            f"{task}_weights",
            __base__=_TaskWeights,
            **optional(dict.fromkeys(weighable_metrics(task), Weight)),
        )
        for task in ALL_TASKS
    }
    return create_model("weights", __base__=Strict, **optional(tasks))


def check_weights(sections: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``sections`` with ``weights`` validated against the registry and unset keys dropped.

    ``where`` names the file (``--lm-config: PATH``); a problem raises a one-line
    ``pytest.UsageError`` naming it, the key path and what is wrong.
    """
    checked = dict(sections)
    if sections.get("weights") is None:
        checked.pop("weights", None)
        return checked
    checked["weights"] = validated(
        "weights", weights_model(), sections["weights"], where, _describe
    )
    return checked


def check_settings(settings: Settings) -> Settings:
    """``settings`` with the ``weights`` of its ``--lm-config`` checked (see :func:`check_weights`).

    Called once settings are resolved: the config layer cannot see the registry.
    """
    if "weights" not in settings.sections:
        return settings
    sections = check_weights(settings.sections, f"--lm-config: {settings.lm_config}")
    return replace(settings, sections=sections)


def _describe(section: str, model: type[BaseModel], exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    if error["type"] != "extra_forbidden":
        return describe(section, model, exc)
    key, known = loc[-1], ", ".join(fields_at(model, loc[:-1]))
    path = ".".join(str(part) for part in (section, *loc))
    if len(loc) > 1:
        return f"{path}: unknown metric {key!r} for {loc[0]}; choose from {known}"
    if key in TASKS:
        return (
            f"{path}: weights are per task, not per capability: {key} has {', '.join(TASKS[key])}"
        )
    return f"{path}: unknown task {key!r}; choose from {known}"
