"""Shared test setup.

pytester's in-process runs restore ``sys.modules`` afterwards; C extensions such
as numpy cannot be imported a second time, and httpx maps the exceptions of the
httpcore copy it saw first. So everything the plugin imports lazily is imported
here once, before any inner run, and one failed connection warms httpx up.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import httpx

import pytest_lmbench.backends.lmstudio
import pytest_lmbench.backends.ollama
import pytest_lmbench.backends.openai
import pytest_lmbench.metrics.scoring
import pytest_lmbench.metrics.stats
import pytest_lmbench.metrics.tools
import pytest_lmbench.reporting.html_report
import pytest_lmbench.runners.capability
import pytest_lmbench.runners.throughput
import pytest_lmbench.sampling  # noqa: F401
from pytest_lmbench.storage.store import open_store


def _warm_httpx() -> None:
    with httpx.Client(timeout=1) as client, contextlib.suppress(httpx.TransportError):
        client.get("http://127.0.0.1:9/")


_warm_httpx()


def _warm_store() -> None:
    # Opening a store imports SQLAlchemy's dialect and Alembic's runtime lazily.
    with tempfile.TemporaryDirectory() as folder:
        open_store(f"sqlite:///{Path(folder) / 'warm.db'}").close()


_warm_store()
