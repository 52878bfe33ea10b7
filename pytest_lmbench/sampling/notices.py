"""One log line per kind of hardware problem per session, not one per sample."""

from __future__ import annotations

import logging
import threading

LOGGER = logging.getLogger("pytest_lmbench.sampling")

_noticed: set[str] = set()
_notice_lock = threading.Lock()
# Kept for the terminal summary: a log line at INFO is seen by nobody.
_shown: dict[str, tuple[int, str]] = {}
# Absent GPUs: INFO (nothing is wrong), yet the reason GPU fields are null.
ABSENCE_KEYS = ("nvml", "amd")


def notice_once(key: str, message: str, *, level: int = logging.INFO) -> bool:
    """Log ``message`` the first time ``key`` is seen this session; True if logged."""
    with _notice_lock:
        if key in _noticed:
            return False
        _noticed.add(key)
        _shown[key] = (level, message)
    LOGGER.log(level, message)
    return True


def summary_notices() -> list[str]:
    """The notices worth a terminal line: absent GPUs, and every warning."""
    with _notice_lock:
        given = list(_shown.items())
    return [msg for key, (level, msg) in given if key in ABSENCE_KEYS or level >= logging.WARNING]


def reset_notices() -> None:
    """Forget which notices were given (call at session start; used by tests)."""
    with _notice_lock:
        _noticed.clear()
        _shown.clear()
