"""One log line per kind of hardware problem per session, not one per sample."""

from __future__ import annotations

import logging
import threading

LOGGER = logging.getLogger("pytest_lmbench.sampling")

_noticed: set[str] = set()
_notice_lock = threading.Lock()


def notice_once(key: str, message: str, *, level: int = logging.INFO) -> bool:
    """Log ``message`` the first time ``key`` is seen this session; True if logged."""
    with _notice_lock:
        if key in _noticed:
            return False
        _noticed.add(key)
    LOGGER.log(level, message)
    return True


def reset_notices() -> None:
    """Forget which notices were given (call at session start; used by tests)."""
    with _notice_lock:
        _noticed.clear()
