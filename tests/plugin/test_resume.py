"""``--lm-skip-tested``: an interrupted run of every model resumes where it stopped (issue 14)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_lmbench.testing import LMStudioTestServer
from pytest_lmbench.testing.models import installed_models
from pytest_lmbench.testing.oracle import oracle_rules

from .conftest import write_suite

# Discovery order is the key order: the third model is where the first run stops.
THIRD = "llama-3.2-1b-instruct@q4_k_m"
STOP_AT_THIRD = f"""
def pytest_runtest_setup(item):
    if "[{THIRD}]" in item.nodeid:
        raise KeyboardInterrupt
"""


@pytest.fixture
def lms() -> Iterator[LMStudioTestServer]:
    with LMStudioTestServer(installed_models()) as server:
        server.engine.script.ttft_s = 0.001
        server.engine.script.token_interval_s = 0.0002
        yield server


def run(
    pytester: pytest.Pytester, server: LMStudioTestServer, *args: str, interrupted: bool = False
) -> pytest.RunResult:
    suite = pytester.path / "suite"
    if not suite.exists():
        write_suite(suite)
    server.engine.answers[:] = oracle_rules([suite])
    return pytester.runpytest(
        f"--lm-suite-dir={suite}",
        f"--lm-base-url={server.base_url}",
        f"--lm-output-dir={pytester.path / 'out'}",
        f"--lm-db=sqlite:///{pytester.path / 'r.db'}",
        "--lm-model=all",
        "--lm-preset=quick",
        "--lm-max-tests=1",
        "-p",
        "no:cacheprovider",
        *args,
        no_reraise_ctrlc=interrupted,  # in process: the Ctrl-C must not stop this session
    )


def stored(pytester: pytest.Pytester) -> list[tuple[str, str, str]]:
    """(nodeid, outcome, run status) of every stored result."""
    connection = sqlite3.connect(pytester.path / "r.db")
    try:
        query = (
            "SELECT results.nodeid, results.outcome, runs.status FROM results "
            "JOIN runs ON runs.id = results.run_id"
        )
        return [tuple(row) for row in connection.execute(query)]
    finally:
        connection.close()


def loaded(server: LMStudioTestServer) -> list[str]:
    return [r.json["model"] for r in server.engine.requests if r.path == "/api/v1/models/load"]


def test_an_interrupted_run_resumes_with_the_remaining_models(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    conftest = pytester.makeconftest(STOP_AT_THIRD)
    first = run(pytester, lms, interrupted=True)
    assert first.ret == pytest.ExitCode.INTERRUPTED
    assert loaded(lms) == ["google/gemma-3-4b", "ibm/granite-3.3-8b"]
    done = stored(pytester)
    assert len(done) == 6  # qa, math and throughput of the first two models
    assert {status for _, _, status in done} == {"interrupted"}
    conftest.unlink()
    lms.engine.requests.clear()

    second = run(pytester, lms, "--lm-skip-tested")
    second.stdout.fnmatch_lines(
        ["lmbench: 6 items skipped, already in the store from a finished run (--lm-skip-tested*"]
    )
    # 6 left out by the resume, 6 by --lm-max-tests=1; the embedding model has no chat.
    second.assert_outcomes(passed=9, skipped=3, deselected=12)
    assert loaded(lms) == [THIRD, "llama-3.2-1b-instruct@q8_0", "qwen/qwen3-4b"]
    nodeids = [nodeid for nodeid, _, _ in stored(pytester)]
    assert len(nodeids) == len(set(nodeids)) == 18  # one result per item


def test_retest_and_other_settings_run_everything_again(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    only = "--lm-include=qwen"  # 3 items, and 1 --lm-max-tests=1 leaves out
    run(pytester, lms, only).assert_outcomes(passed=3, deselected=1)
    run(pytester, lms, only, "--lm-skip-tested").assert_outcomes(deselected=4)
    again = run(pytester, lms, only, "--lm-skip-tested", "--lm-retest")
    again.assert_outcomes(passed=3, deselected=1)
    # Another temperature is another measurement: nothing is done yet.
    changed = run(pytester, lms, only, "--lm-skip-tested", "--lm-temperature=0.5")
    changed.assert_outcomes(passed=3, deselected=1)


def test_errors_do_not_count_as_tested(pytester: pytest.Pytester, lms: LMStudioTestServer) -> None:
    from pytest_lmbench.testing import Fault

    lms.engine.faults.append(Fault("http_error", match="France", status=500))
    only = ("--lm-include=qwen", "-k", "capital")
    run(pytester, lms, *only).assert_outcomes(errors=1, deselected=3)
    lms.engine.faults.clear()
    run(pytester, lms, *only, "--lm-skip-tested").assert_outcomes(passed=1, deselected=3)


def test_a_resume_key_is_stored_with_every_result(
    pytester: pytest.Pytester, lms: LMStudioTestServer, tmp_path: Path
) -> None:
    run(pytester, lms, "--lm-include=qwen").assert_outcomes(passed=3, deselected=1)
    connection = sqlite3.connect(pytester.path / "r.db")
    try:
        flags = [row[0] for row in connection.execute("SELECT flags FROM results")]
    finally:
        connection.close()
    assert len(flags) == 3
    keys = [json.loads(text)["resume_key"] for text in flags]
    assert all(len(key) == 16 for key in keys)
    assert len(set(keys)) == 3
