"""Ctrl-C mid-session: the in-flight request is abandoned, what finished is kept.

A real ``pytest`` process runs against the test server; the third item stalls
for a minute, and once the first two results are in the store the process gets
SIGINT (what Ctrl-C sends) or SIGTERM (what a cancelled CI job gets). It must
stop at once, keep both finished results in the store and the reports, mark the
run ``interrupted`` and unload the model.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_lmbench.testing import Fault, LMStudioTestServer

from .conftest import (
    QWEN,
    answer_suite,
    db_path,
    lmbench_args,
    mark,
    read_report,
    spawn_pytest,
    stored_runs,
    write_suite,
)


def stored_results(path: Path) -> int:
    """Results committed so far (0 while the other process has not created the file)."""
    if not path.exists():
        return 0
    try:
        connection = sqlite3.connect(path, timeout=1)
        try:
            return int(connection.execute("SELECT count(*) FROM results").fetchone()[0])
        finally:
            connection.close()
    except sqlite3.Error:  # tables not created yet
        return 0


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def interrupt_when(
    process: subprocess.Popen[str],
    ready: Callable[[], bool],
    what: str,
    signum: signal.Signals = signal.SIGINT,
) -> str:
    """Send ``signum`` once ``ready()`` holds; the process's whole output."""
    try:
        wait_for(ready, 60, what)
        process.send_signal(signum)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return output


def requested(server: LMStudioTestServer, path: str) -> bool:
    return any(r.path == path for r in server.engine.requests)


def unloading(server: LMStudioTestServer) -> bool:
    return requested(server, "/api/v1/models/unload")


def asked(server: LMStudioTestServer, case_id: str) -> bool:
    return any(mark(case_id) in json.dumps(r.json) for r in server.engine.requests)


# SIGINT is Ctrl-C; SIGTERM is a cancelled CI job, ``docker stop`` or Kubernetes.
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_keeps_finished_results_unloads_and_marks_the_run_interrupted(
    pytester: pytest.Pytester, lms: LMStudioTestServer, signum: signal.Signals
) -> None:
    root = write_suite(pytester.path / "suite", ("q01", "q02", "q03", "q04"))
    answer_suite(lms, root)
    lms.engine.faults.append(Fault("stall", match=mark("q03"), after_tokens=1, seconds=60))
    args = [f"--lm-suite-dir={root}", f"--lm-model={QWEN}", *lmbench_args(lms, pytester.path)]
    process = spawn_pytest([*args, "--lm-timeout=60", "--lm-formats=json,html,csv"], pytester.path)
    try:
        wait_for(lambda: stored_results(db_path(pytester.path)) >= 2, 60, "the first results")
        wait_for(lambda: asked(lms, "q03"), 30, "the stalled request")
        interrupted_ns = time.perf_counter_ns()  # the test server stamps requests on this clock
        process.send_signal(signum)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # Stopped at once: the 60 s stall (and the 60 s timeout) were abandoned.
    assert (time.perf_counter_ns() - interrupted_ns) / 1e9 < 15
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output

    report = read_report(pytester.path)
    assert report["run"]["status"] == "interrupted"
    assert [(r["case_id"], r["outcome"]) for r in report["results"]] == [
        ("q01", "passed"),
        ("q02", "passed"),
    ]
    for fmt in ("html", "csv"):
        assert (pytester.path / "out" / f"latest.{fmt}").is_file()
    assert "(interrupted" in output  # the terminal summary of what finished

    (run,) = stored_runs(db_path(pytester.path)).values()
    assert run.status == "interrupted"
    assert sorted(run.outcomes.items()) == [
        (r["nodeid"], "passed") for r in sorted(report["results"], key=lambda r: r["nodeid"])
    ]

    unloads = [r for r in lms.engine.requests if r.path == "/api/v1/models/unload"]
    assert [r.json for r in unloads] == [{"instance_id": QWEN}]
    assert unloads[0].received_ns > interrupted_ns
    assert lms.engine.loaded == {}


def test_ctrl_c_while_unloading_after_the_last_item_keeps_that_items_result(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    root = write_suite(pytester.path / "suite", ("q01", "q02"))
    answer_suite(lms, root)
    lms.engine.faults.append(Fault("stall", route="/api/v1/models/unload", seconds=60))
    args = [f"--lm-suite-dir={root}", f"--lm-model={QWEN}", *lmbench_args(lms, pytester.path)]
    process = spawn_pytest([*args, "--lm-timeout=60"], pytester.path)
    output = interrupt_when(process, lambda: unloading(lms), "the unload after the last item")
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    report = read_report(pytester.path)
    assert report["run"]["status"] == "interrupted"
    assert [(r["case_id"], r["outcome"]) for r in report["results"]] == [
        ("q01", "passed"),
        ("q02", "passed"),
    ]
    (run,) = stored_runs(db_path(pytester.path)).values()
    assert len(run.outcomes) == 2


def test_ctrl_c_during_a_load_unloads_the_model_or_says_it_may_still_be_loading(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    root = write_suite(pytester.path / "suite", ("q01",))
    answer_suite(lms, root)
    lms.engine.script.load_delay_s = 60
    args = [f"--lm-suite-dir={root}", f"--lm-model={QWEN}", *lmbench_args(lms, pytester.path)]
    process = spawn_pytest([*args, "--lm-timeout=90"], pytester.path)
    loading = lambda: requested(lms, "/api/v1/models/load")  # noqa: E731
    output = interrupt_when(process, loading, "the load request")
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    unloads = [r for r in lms.engine.requests if r.path == "/api/v1/models/unload"]
    assert [r.json for r in unloads] == [{"instance_id": QWEN}] or "may still be loading" in output
    assert read_report(pytester.path)["run"]["status"] == "interrupted"
