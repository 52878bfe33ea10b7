"""Installing the example third-party distribution (``echo_dist``) without pip.

``importlib.metadata`` finds a distribution by a ``*.dist-info`` folder on
``sys.path``; its ``entry_points.txt`` is what pip would write from the
``pyproject.toml``. So a temporary site folder with the module and that
metadata, put on ``sys.path``, is an installed distribution for pytest-lmbench.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from pytest_lmbench.testing.doubles import DOUBLES, BackendDouble
from pytest_lmbench.vocabulary import BACKEND_ENTRY_POINT_GROUP

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest depends on tomli before Python 3.11
    import tomli as tomllib

DIST = Path(__file__).resolve().parent / "echo_dist"
MODULE = "lmbench_echo_backend"


def install(
    site: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    backends: Mapping[str, str],
    modules: tuple[Path, ...] = (),
) -> None:
    """Install a distribution declaring ``backends`` (entry point name -> value) into ``site``."""
    info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    lines = [f"[{BACKEND_ENTRY_POINT_GROUP}]", *(f"{k} = {v}" for k, v in backends.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module in modules:
        shutil.copy(module, site / module.name)
    monkeypatch.syspath_prepend(str(site))


def echo_entry_points() -> dict[str, str]:
    """The entry points echo_dist's pyproject.toml declares, as pip would install them."""
    project = tomllib.loads((DIST / "pyproject.toml").read_text())["project"]
    declared: dict[str, str] = project["entry-points"][BACKEND_ENTRY_POINT_GROUP]
    return declared


@pytest.fixture
def echo_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """echo_dist, installed into a temporary site folder on ``sys.path``."""
    site = tmp_path / "site"
    install(
        site,
        monkeypatch,
        "lmbench-echo-backend",
        echo_entry_points(),
        (DIST / f"{MODULE}.py",),
    )
    yield site
    # The next test installs it afresh (or not at all): forget this copy.
    sys.modules.pop(MODULE, None)


@pytest.fixture
def openai_double() -> Iterator[BackendDouble]:
    """The LM Studio test server's ``/v1`` routes, fast."""
    double = DOUBLES["openai"]()
    double.server.engine.script.ttft_s = 0.001
    double.server.engine.script.token_interval_s = 0.0002
    with double.server:
        yield double
    assert not double.server.errors, double.server.errors
