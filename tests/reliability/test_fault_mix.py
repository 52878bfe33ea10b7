"""Acceptance: 12 items, faults on 5 of them, in a real pytest process.

Capability and throughput items mixed; it completes within a bounded time,
stores all 12 results (JSON and database), and exits 1; each faulty item says
what happened in one line.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pytest

from pytest_lmbench.testing import Fault, LMStudioTestServer

from .conftest import (
    GEMMA,
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

QA = tuple(f"q{i:02d}" for i in range(1, 10))  # with two tooling and one throughput: 12
FAULTS = {
    "q02": (Fault("cut", after_tokens=2), "LM Studio closed the stream mid-response"),
    "q04": (Fault("stall", after_tokens=1, seconds=30), "longer than the timeout"),
    "q06": (
        Fault("http_error", status=500, body={"error": {"type": "internal_error", "message": "x"}}),
        "LM Studio chat failed (HTTP 500, internal_error): x",
    ),
    "q08": (Fault("malformed", after_tokens=1), "LM Studio sent malformed JSON in the stream"),
    "t01": (Fault("wrong_model", model=GEMMA), f"but {GEMMA} answered"),
}
KINDS = {"q02": "stream", "q04": "timeout", "q06": "http", "q08": "stream", "t01": "model_mismatch"}


def test_twelve_items_five_faults_bounded_all_stored_exit_1(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    root = write_suite(pytester.path / "suite", QA, tooling=("t01", "t02"), throughput=True)
    answer_suite(lms, root)
    for case_id, (fault, _) in FAULTS.items():
        fault.match = mark(case_id)
        lms.engine.faults.append(fault)
    junit = pytester.path / "junit.xml"
    args = [f"--lm-suite-dir={root}", f"--lm-model={QWEN}", "-rfE", f"--junitxml={junit}"]
    started = time.monotonic()
    process = spawn_pytest(
        [*args, *lmbench_args(lms, pytester.path), "--lm-timeout=1"], pytester.path
    )
    try:
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    elapsed = time.monotonic() - started

    assert elapsed < 30, elapsed
    assert process.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert "7 passed, 5 errors" in output

    report = read_report(pytester.path)
    assert len(report["results"]) == 12
    assert report["run"]["status"] == "completed"
    for record in report["results"]:
        if record["case_id"] in FAULTS:
            assert record["outcome"] == "error"  # a fault, not a low score
            assert record["error_kind"] == KINDS[record["case_id"]]
            assert FAULTS[record["case_id"]][1] in record["error"]
            assert "\n" not in record["error"]
            # Bounded by --lm-timeout=1, not by the server's 30 s stall.
            assert record["duration_s"] < 3.5, record
        else:
            assert record["outcome"] == "passed", record

    # JUnit XML says the same as the terminal: five errors, not five failures.
    suite_xml = ET.parse(junit).getroot().find("testsuite")
    assert suite_xml is not None
    assert (suite_xml.get("errors"), suite_xml.get("failures")) == ("5", "0")
    assert len(suite_xml.findall("testcase/error")) == 5

    (run,) = stored_runs(db_path(pytester.path)).values()
    assert run.status == "completed"
    assert run.outcomes == {r["nodeid"]: r["outcome"] for r in report["results"]}
    assert run.errors == {r["nodeid"]: r["error"] for r in report["results"]}
