"""The run's live progress, as the store's run row records it for the dashboard.

Without xdist the session knows its items in the order they run, so the item
after a finished one is the one running now. The controller of an xdist run
learns the items from the workers' collection: it records how many, but no
current item (several run at once).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pytest_lmbench.records import ResultEntry
from pytest_lmbench.storage.progress import RunProgress

__all__ = ["LiveProgress"]

# ResultEntry.outcome -> the run row's count.
_COUNTED = {
    "passed": "items_passed",
    "failed": "items_failed",
    "error": "items_errored",
    "skipped": "items_skipped",
}


class LiveProgress:
    def __init__(self) -> None:
        self._plan: Sequence[tuple[str, str]] = ()
        self._next: dict[str, int] = {}
        self._done = 0
        self._counts: Counter[str] = Counter()

    @property
    def planned(self) -> bool:
        return bool(self._plan)

    def plan(self, planned: Sequence[tuple[str, str]], *, in_order: bool = True) -> RunProgress:
        """``planned``: (nodeid, model) of each item that stores a result.

        ``in_order``: they run one after another in this order, so the item after
        the last finished one is the current one.
        """
        self._plan = planned
        if in_order:
            self._next = {nodeid: i + 1 for i, (nodeid, _model) in enumerate(planned)}
        return self._now(0 if in_order else None)

    def result(self, entry: ResultEntry) -> RunProgress:
        self._done += 1
        self._counts[_COUNTED.get(entry.outcome, "items_errored")] += 1
        return self._now(self._next.get(entry.nodeid))

    def _now(self, position: int | None) -> RunProgress:
        current = None
        if position is not None and position < len(self._plan):
            current = self._plan[position]
        return RunProgress(
            items_selected=len(self._plan) if self._plan else None,
            items_done=self._done,
            current_item=current[0] if current else None,
            current_model=current[1] if current else None,
            items_passed=self._counts["items_passed"],
            items_failed=self._counts["items_failed"],
            items_errored=self._counts["items_errored"],
            items_skipped=self._counts["items_skipped"],
        )
