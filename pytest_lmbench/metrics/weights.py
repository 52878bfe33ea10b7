"""How the metrics of each task weigh in its ``quality_score``, read from the metric registry.

Kept apart from :mod:`pytest_lmbench.metrics.scoring` so option checking at
pytest start stays cheap (neither imports the scorers' rouge-score/scipy stack
until a case is scored). The README's table of default weights is
:func:`markdown_table`; a test keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pytest_lmbench.metrics.registry import ALL_TASKS, default_weights, weighable_metrics
from pytest_lmbench.vocabulary import TASKS

__all__ = ["DEFAULT_WEIGHTS", "markdown_table", "weighable_metrics"]


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
