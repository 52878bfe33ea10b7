"""Hooks pytest-lmbench calls, for plugins and ``conftest.py`` files to implement.

Registered by ``pytest_addhooks`` in :mod:`pytest_lmbench.plugin`. Like
pytest-benchmark's ``pytest_benchmark_update_json``, they let a team add its own
server type, facts or metrics without forking the plugin.
"""

from __future__ import annotations

import pytest

from pytest_lmbench.backends.base import Backend, BackendOptions
from pytest_lmbench.records import Report, ResultEntry


@pytest.hookspec(firstresult=True)
def pytest_lmbench_make_backend(
    name: str, options: BackendOptions, config: pytest.Config
) -> Backend | None:
    """Make the backend for ``--lm-backend=name``, or return None to pass.

    Called once per session (per xdist worker), before the built-in and
    installed server types are looked up, so an implementation may also wrap or
    replace a built-in one; the first non-None result is used, and the session
    closes it. Only plugins and conftest files loaded when the session starts
    (the rootdir's, or those of the given test paths) are asked.
    """


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
