"""JUnit XML: an item that faulted is an ``<error>``, as in the terminal, not a ``<failure>``.

pytest's JUnit writer calls every failed call phase a failure, whatever ended it,
so a CI dashboard would count an unreachable server like a low score. An item that
faulted carries a ``lmbench_fault`` property (the fault's kind); once pytest has
written the file, those test cases' ``<failure>`` becomes ``<error>`` and each
suite's counts follow.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

FAULT_PROPERTY = "lmbench_fault"


def faults_as_errors(path: Path) -> int:
    """Rewrite ``path`` in place; how many test cases became errors."""
    # pytest wrote this file a moment ago, with no DTD and model output escaped.
    tree = ET.parse(path)  # noqa: S314
    root = tree.getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    moved = sum(_suite_faults_as_errors(suite) for suite in suites)
    if moved:
        tree.write(path, encoding="utf-8", xml_declaration=True)
    return moved


def _suite_faults_as_errors(suite: ET.Element) -> int:
    moved = 0
    for case in suite.iter("testcase"):
        failure = case.find("failure")
        if failure is not None and _faulted(case):
            failure.tag = "error"
            moved += 1
    if moved:
        suite.set("failures", str(int(suite.get("failures", "0")) - moved))
        suite.set("errors", str(int(suite.get("errors", "0")) + moved))
    return moved


def _faulted(case: ET.Element) -> bool:
    return any(p.get("name") == FAULT_PROPERTY for p in case.iterfind("properties/property"))
