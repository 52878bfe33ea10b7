"""One :class:`ResultEntry` per item, whatever happens to it.

The record is made at setup, filled by the runner, given its outcome from the
phase reports, and travels on the teardown report (so pytest-xdist carries it
to the controller, which alone writes the store and the reports).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import pytest

from pytest_lmbench.collection.distribution import plain_nodeid
from pytest_lmbench.collection.items import SPEC_KEY
from pytest_lmbench.errors import LmbenchError
from pytest_lmbench.records import ResultEntry, timing_figure
from pytest_lmbench.redaction import scrub
from pytest_lmbench.reporting import junit
from pytest_lmbench.runners.common import ItemFault

RECORD_KEY = pytest.StashKey[ResultEntry]()
RESUME_KEY = pytest.StashKey[str]()  # set at collection (session.resume)
_STARTED_KEY = pytest.StashKey[int]()
REPORT_ATTR = "lmbench_result"
MODEL_ATTR = "lmbench_model"
# On a call report: the item failed because of a fault, so it is counted as an error.
FAULT_ATTR = "lmbench_fault"


def teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
    """pytest counts a failed call as a failure; a faulted item is an error (``E``)."""
    if report.when == "call" and report.failed and getattr(report, FAULT_ATTR, False):
        return "error", "E", "ERROR"
    return None


# Small figures JUnit XML carries to CI dashboards (record_property).
PROPERTIES = ("quality_score",)


def start_record(item: pytest.Item) -> None:
    spec = item.stash.get(SPEC_KEY, None)
    if spec is None:
        return
    item.stash[_STARTED_KEY] = time.perf_counter_ns()
    item.stash[RECORD_KEY] = ResultEntry(
        nodeid=plain_nodeid(item),
        model=spec.model,
        kind=spec.kind,
        capability=spec.capability,
        case_id=spec.case_id,
        task=spec.task,
        outcome="passed",
    )
    if RESUME_KEY in item.stash:
        item.stash[RECORD_KEY].flags["resume_key"] = item.stash[RESUME_KEY]


def on_report(
    item: pytest.Item, call: pytest.CallInfo[Any], report: pytest.TestReport
) -> ResultEntry | None:
    record = item.stash.get(RECORD_KEY, None)
    if record is None:
        return None
    if report.when == "setup" and not report.passed:
        record.outcome = "skipped" if report.skipped else "error"
        record.error = reason(call, report)
        record.error_kind = None if report.skipped else error_kind(call)
    elif report.when == "call":
        if not report.passed:
            kind = None if report.skipped else error_kind(call)
            # A fault (the model could not be asked or read) is an error, a low score a failure.
            record.outcome = "skipped" if report.skipped else "error" if kind else "failed"
            record.error, record.error_kind = reason(call, report), kind
            setattr(report, FAULT_ATTR, kind is not None)
            if kind is not None:  # for JUnit XML, written from the last phase's properties
                item.user_properties.append((junit.FAULT_PROPERTY, kind))
        _add_properties(item, record)
    elif report.when == "teardown":
        if report.failed and record.outcome == "passed":
            record.outcome, record.error = "error", reason(call, report)
            record.error_kind = error_kind(call)
        started = item.stash.get(_STARTED_KEY, None)
        if started is not None:
            record.duration_s = (time.perf_counter_ns() - started) / 1e9
        record.finished_at = datetime.now(timezone.utc).isoformat()
        _user_hook(item, record)
        setattr(report, REPORT_ATTR, record.model_dump(mode="json"))
        return record
    return None


def error_kind(call: pytest.CallInfo[Any]) -> str | None:
    """The fault's kind when an LmbenchError (or the runners' ItemFault) ended the phase."""
    value = call.excinfo.value if call.excinfo is not None else None
    kind = getattr(value, "kind", None) if isinstance(value, (LmbenchError, ItemFault)) else None
    return kind if isinstance(kind, str) else None


def _user_hook(item: pytest.Item, record: ResultEntry) -> None:
    try:
        item.config.hook.pytest_lmbench_result(record=record, item=item)
    except Exception as exc:  # a user's hook must not cost the result, nor the session
        record.outcome, record.error_kind = "error", "hook"
        record.error = _first_line(f"pytest_lmbench_result hook raised {type(exc).__name__}: {exc}")


def _add_properties(item: pytest.Item, record: ResultEntry) -> None:
    from pytest_lmbench.gates.keeper import junit_properties

    item.user_properties.extend(junit_properties(record))
    for key in PROPERTIES:
        if record.metrics.get(key) is not None:
            item.user_properties.append((key, record.metrics[key]))
    for key in ("decode_tps", "ttft_s"):
        value = timing_figure(record.timing, key)
        if value is not None:
            item.user_properties.append((key, value))


def reason(call: pytest.CallInfo[Any], report: pytest.TestReport) -> str:
    """The first line of what went wrong: the message, not the traceback."""
    excinfo = call.excinfo
    if excinfo is None:
        return _first_line(str(report.longrepr)) if report.longrepr else ""
    value = excinfo.value
    if isinstance(value, LmbenchError):
        return _first_line(str(value))
    message = getattr(value, "msg", None)
    if isinstance(message, str):
        return _first_line(message)
    return _first_line(f"{excinfo.typename}: {value}")


def _first_line(text: str) -> str:
    text = scrub(text)  # also for errors that are not ours (an httpx or driver message)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0].strip() if lines else text.strip()
