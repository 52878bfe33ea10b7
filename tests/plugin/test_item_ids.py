"""Item ids do not depend on where the suites are installed (a tox env, a checkout)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_lmbench.cli import main
from pytest_lmbench.storage.store import open_store
from pytest_lmbench.suites.loader import bundled_root
from pytest_lmbench.testing import LMStudioTestServer

from .conftest import lmbench_args

MODEL = "qwen/qwen3-4b"


def _installed_copy(root: Path) -> Path:
    """The bundled suites as tox installs them, inside the folder pytest runs from."""
    target = root / ".tox" / "demo" / "lib" / "python3.11" / "site-packages" / "capability_suites"
    target.mkdir(parents=True)
    shutil.copy(bundled_root() / "__init__.py", target)
    shutil.copytree(bundled_root() / "reasoning", target / "reasoning")
    return target


def _ids(pytester: pytest.Pytester) -> list[str]:
    report = json.loads((pytester.path / "out" / "latest.json").read_text())
    return [r["nodeid"] for r in report["results"]]


def test_a_tox_install_and_a_checkout_give_the_same_ids_and_compare_pairs_them(
    pytester: pytest.Pytester, lms: LMStudioTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    common = (
        "-k",
        "math_001",
        f"--lm-model={MODEL}",
        "--lm-min-quality=0",
        "--import-mode=importlib",
    )
    installed = pytester.runpytest(
        str(_installed_copy(pytester.path)), *common, *lmbench_args(lms, pytester.path)
    )
    installed.assert_outcomes(passed=1)
    from_tox = _ids(pytester)
    checkout = pytester.runpytest(
        "--pyargs", "capability_suites", *common, *lmbench_args(lms, pytester.path)
    )
    checkout.assert_outcomes(passed=1)
    assert from_tox == _ids(pytester) == [f"reasoning/math.json::math_001[{MODEL}]"]
    assert ".tox" not in installed.stdout.str()

    db = f"sqlite:///{pytester.path / 'results.db'}"
    with open_store(db) as store:
        runs = [run.id for run in reversed(store.list_runs())]
        stored = [r.nodeid for run in runs for r in store.load_report(run).results]
    assert stored == from_tox * 2
    capsys.readouterr()
    assert main(["compare", *runs, "--db", db]) == 0
    out = capsys.readouterr().out
    assert "1 items in both; 0 only in A, 0 only in B" in out


def test_two_suite_roots_with_the_same_file_keep_distinct_ids(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    mine = pytester.path / "my_suites"
    shutil.copytree(bundled_root() / "reasoning", mine / "reasoning")
    result = pytester.runpytest(
        "--pyargs",
        "capability_suites",
        f"--lm-suite-dir={mine}",
        f"--lm-model={MODEL}",
        "-k",
        "math_001",
        "--collect-only",
        "-q",
        *lmbench_args(lms, pytester.path),
    )
    ids = [line for line in result.outlines if "::" in line]
    assert sorted(ids) == [
        f"my_suites/reasoning/math.json::math_001[{MODEL}]",
        f"reasoning/math.json::math_001[{MODEL}]",
    ]
