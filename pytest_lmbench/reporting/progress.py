"""Live progress of a long item on the terminal, while pytest shows only its dots.

On a terminal the line is rewritten in place; in a CI log (no TTY) it is a
plain line every few seconds, so a log shows which item a slow job is in. ``-q``
keeps it quiet, and xdist workers (no terminal of their own) show nothing.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

__all__ = ["INTERVAL_LOG_S", "INTERVAL_TTY_S", "TerminalProgress", "terminal_progress"]

# A CI log gets a line this often: often enough to see a job is alive, rarely
# enough not to drown the log. A terminal's line is redrawn more often.
INTERVAL_LOG_S = 3.0
INTERVAL_TTY_S = 0.5
# Control characters (escape sequences included) never reach the terminal: ids hold
# model keys and case ids, which are user text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class TerminalProgress:
    """Writes an item's progress through pytest's terminal reporter, outside capture."""

    def __init__(self, reporter: Any, capture: Any, *, tty: bool) -> None:
        self._reporter = reporter
        self._capture = capture
        self._tty = tty
        self._shown = False
        self.interval_s = INTERVAL_TTY_S if tty else INTERVAL_LOG_S

    def show(self, text: str) -> None:
        line = _CONTROL.sub("?", text)
        with self._uncaptured():
            if not self._tty:
                self._reporter.write_line(f"lmbench: {line}")
                return
            if not self._shown:
                # Its own line: pytest's "file.json " prefix stays where it is.
                self._reporter.write("\n")
            self._reporter.rewrite(f"lmbench: {line}", erase=True)
        self._shown = True

    def done(self, text: str) -> None:
        """The last word on a terminal's live line (a log already has its lines)."""
        if self._tty and self._shown:
            self.show(text)
            with self._uncaptured():
                self._reporter.write("\n")

    def _uncaptured(self) -> Any:
        if self._capture is None:
            from contextlib import nullcontext

            return nullcontext()
        return self._capture.global_and_fixture_disabled()


def terminal_progress(config: pytest.Config) -> TerminalProgress | None:
    """The progress writer of this process, or None when there is nowhere to show it."""
    if config.get_verbosity() < 0:
        return None
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return None
    capture = config.pluginmanager.get_plugin("capturemanager")
    return TerminalProgress(reporter, capture, tty=bool(reporter.isatty))
