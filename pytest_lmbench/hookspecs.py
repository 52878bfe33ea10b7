"""Hooks pytest-lmbench calls, for a ``conftest.py`` or a plugin to implement.

Like pytest-benchmark's ``pytest_benchmark_update_json``: they let a team add
its own facts (a CI job id, a metric of its own) without forking the plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_lmbench.records import Report, ResultEntry


@pytest.hookspec
def pytest_lmbench_result(record: ResultEntry, item: pytest.Item) -> None:
    """An item's finished result, before it is stored and reported.

    Add to its ``metrics``, ``flags``, ``timing``, ``server_stats`` or
    ``hardware``. Called where the item ran (on the xdist worker under ``-n``).
    An exception makes the item an error naming the hook; the run goes on.
    """


@pytest.hookspec
def pytest_lmbench_report(report: Report, config: pytest.Config) -> None:
    """The session's report, its ``summary`` filled, before the JSON/HTML/CSV files are written.

    Called once, where the reports are written (the xdist controller under ``-n``).
    """
