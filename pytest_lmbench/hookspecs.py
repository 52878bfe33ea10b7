"""Hooks pytest-lmbench calls, for plugins and ``conftest.py`` files to implement.

Registered by ``pytest_addhooks`` in :mod:`pytest_lmbench.plugin`.
"""

from __future__ import annotations

import pytest

from pytest_lmbench.backends.base import Backend, BackendOptions


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
