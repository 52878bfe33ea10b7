"""A run's live progress: written with each result, read by the dashboard."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_lmbench.storage.progress import RunProgress
from pytest_lmbench.storage.store import Store, StoreError, open_store


def test_progress_is_written_with_the_result_and_read_back(store: Store, make: Any) -> None:
    store.begin_run(make.run("r1"))
    assert store.run_progress(["r1"])["r1"] == RunProgress()  # nothing recorded yet
    store.set_progress("r1", RunProgress(items_selected=3, current_item="a", current_model="m"))
    planned = store.run_progress(["r1"])["r1"]
    assert (planned.items_selected, planned.items_done, planned.current_item) == (3, 0, "a")
    assert planned.progress_at is not None

    after = RunProgress(items_selected=3, items_done=1, items_passed=1, current_item="b")
    store.add_result("r1", make.capability(), after)
    seen = store.run_progress(["r1", "unknown"])
    assert set(seen) == {"r1"}
    assert (seen["r1"].items_done, seen["r1"].items_passed, seen["r1"].current_item) == (
        1,
        1,
        "b",
    )
    assert seen["r1"].progress_at is not None
    assert seen["r1"].progress_at >= planned.progress_at


def test_a_failed_result_write_leaves_the_progress_as_it_was(store_url: str, make: Any) -> None:
    with open_store(store_url) as store:
        store.begin_run(make.run("r1"))
        store.add_result("r1", make.capability(), RunProgress(items_done=1))
        # Same nodeid again: the first write wins, and the progress still moves on.
        store.add_result("r1", make.capability(), RunProgress(items_done=2))
        assert store.run_progress(["r1"])["r1"].items_done == 2
        with pytest.raises(StoreError, match="no run nope"):
            store.add_result("nope", make.capability(), RunProgress(items_done=9))
        assert store.run_progress(["r1"])["r1"].items_done == 2
