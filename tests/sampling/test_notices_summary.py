"""Absent GPUs reach the terminal summary: a log line at INFO is seen by nobody."""

from __future__ import annotations

import logging

from pytest_lmbench.reporting.terminal import hardware_lines
from pytest_lmbench.sampling.notices import notice_once, reset_notices


def test_absent_gpus_and_warnings_are_summary_lines() -> None:
    reset_notices()
    notice_once("nvml", "pynvml not importable: no NVIDIA GPU signals")
    notice_once("cpu:server-lookup", "server process lookup skipped: x")  # INFO: log only
    notice_once("sampler:stop", "hardware sampling failed: y", level=logging.WARNING)
    assert hardware_lines() == [
        "lmbench hardware: pynvml not importable: no NVIDIA GPU signals",
        "lmbench hardware: hardware sampling failed: y",
    ]
    reset_notices()
    assert hardware_lines() == []
