"""Shared test setup.

pytester's in-process runs restore ``sys.modules`` afterwards; C extensions such
as numpy cannot be imported a second time, and httpx maps the exceptions of the
httpcore copy it saw first. So everything the plugin imports lazily is imported
here once, before any inner run, and one failed connection warms httpx up.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import settings as hypothesis_settings

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
from pytest_lmbench.backends import REGISTRY
from pytest_lmbench.storage.store import open_store
from pytest_lmbench.testing.doubles import DOUBLES, BackendDouble

# CI runs one fixed, derandomized set of examples (a failure reproduces exactly);
# locally each run tries new random ones, and more of them. A case a property test
# ever finds becomes a plain regression test.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, deadline=None)
hypothesis_settings.register_profile("dev", max_examples=300, deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")


def _warm_httpx() -> None:
    with httpx.Client(timeout=1) as client, contextlib.suppress(httpx.TransportError):
        client.get("http://127.0.0.1:9/")


_warm_httpx()


def _warm_store() -> None:
    # Opening a store imports SQLAlchemy's dialect and Alembic's runtime lazily.
    with tempfile.TemporaryDirectory() as folder:
        open_store(f"sqlite:///{Path(folder) / 'warm.db'}").close()


_warm_store()


# -- one integration test, three backends --------------------------------------------------


# Every backend of the registry, each against its double (pytest_lmbench.testing.doubles).
BACKEND_NAMES = tuple(REGISTRY)


@pytest.fixture(params=BACKEND_NAMES)
def backend_double(request: pytest.FixtureRequest) -> Iterator[BackendDouble]:
    """Each backend against its double; narrow it with ``indirect`` parametrization."""
    double = DOUBLES[request.param]()
    with double.server:
        yield double
    if double.server.errors:
        raise RuntimeError(f"the fake server raised inside a handler: {double.server.errors[0]!r}")


def run_throughput_case(
    pytester: pytest.Pytester, base_url: str, model: str, case: dict[str, int], *args: str
) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run one throughput case (a one-case grid) through the plugin; its JSON result."""
    folder = pytester.path / "suite" / "throughput"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "grid.json").write_text(json.dumps({"capability": "throughput", "cases": [case]}))
    result = pytester.runpytest(
        f"--lm-suite-dir={folder.parent}",
        f"--lm-model={model}",
        f"--lm-base-url={base_url}",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "-p",
        "no:cacheprovider",
        *args,
    )
    [item] = json.loads((pytester.path / "out" / "latest.json").read_text())["results"]
    return result, item
