"""JUnit XML: a faulted item's ``<failure>`` becomes ``<error>``; a low score stays a failure."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from pytest_lmbench.reporting.junit import FAULT_PROPERTY, faults_as_errors

XML = f"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="2" skipped="0" tests="4">
<testcase classname="s" name="setup_error"><error message="fixture">x</error></testcase>
<testcase classname="s" name="low_score"><properties>
<property name="quality_score" value="0.1" /></properties><failure message="low">y</failure>
</testcase>
<testcase classname="s" name="unreachable"><properties>
<property name="{FAULT_PROPERTY}" value="unreachable" /></properties>
<failure message="cannot reach LM Studio &lt;b&gt;">z</failure></testcase>
<testcase classname="s" name="passed" />
</testsuite></testsuites>
"""


def test_faulted_failures_become_errors_and_the_counts_follow(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(XML, encoding="utf-8")
    assert faults_as_errors(path) == 1
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("errors"), suite.get("failures")) == ("2", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["low_score"].find("failure") is not None
    unreachable = cases["unreachable"].find("error")
    assert unreachable is not None
    assert unreachable.get("message") == "cannot reach LM Studio <b>"  # escaping kept
    assert cases["unreachable"].find("failure") is None


def test_a_file_without_faults_is_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(XML.replace(FAULT_PROPERTY, "other"), encoding="utf-8")
    before = path.read_bytes()
    assert faults_as_errors(path) == 0
    assert path.read_bytes() == before
