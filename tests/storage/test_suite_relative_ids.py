"""Revision 0003: stored nodeids lose the folder the suites were installed in."""

from __future__ import annotations

from typing import Any

from pytest_lmbench.storage.store import Store, migrate, open_store
from pytest_lmbench.storage.url import check_url, create_store_engine

TOX = ".tox/demo/lib/python3.11/site-packages/capability_suites"
OLD_IDS = (
    f"{TOX}/reasoning/math.json::math_003[m]",
    "capability_suites/general_text/qa.json::qa_001[m]",
    "tests/test_mine.py::test_speed[m]",  # not a suite item: unchanged
    # Two suite roots with the same capability file in one run: only one can be renamed.
    "capability_suites/vision/ocr.json::ocr_001[m]",
    "my_suites/vision/ocr.json::ocr_001[m]",
)


def _store_at_0002(url: str) -> Store:
    """A store whose schema an older pytest-lmbench left at revision 0002."""
    migrate(url, "0002")
    parsed = check_url(url)
    return Store(create_store_engine(parsed), parsed)


def test_an_old_store_pairs_with_new_runs_after_the_upgrade(store_url: str, make: Any) -> None:
    with _store_at_0002(store_url) as old:
        old.begin_run(make.run("old"))
        for nodeid in OLD_IDS:
            old.add_result("old", make.capability(nodeid=nodeid, model="m"))
        old.finish_run("old", "completed", make.iso(60))
    with open_store(store_url) as store:
        assert [r.nodeid for r in store.load_report("old").results] == [
            "reasoning/math.json::math_003[m]",
            "general_text/qa.json::qa_001[m]",
            "tests/test_mine.py::test_speed[m]",
            "vision/ocr.json::ocr_001[m]",
            "my_suites/vision/ocr.json::ocr_001[m]",
        ]
        store.begin_run(make.run("new", offset_s=100))
        store.add_result(
            "new", make.capability(nodeid="reasoning/math.json::math_003[m]", model="m")
        )
        found = store.previous_result("m", "reasoning/math.json::math_003[m]", None, "new")
        assert found is not None
        assert found.nodeid == "reasoning/math.json::math_003[m]"
