"""Live progress of a long item on the terminal, while pytest shows only its dots.

On a terminal the line is rewritten in place; in a CI log (no TTY) it is a
plain line every few seconds, so a log shows which item a slow job is in. ``-q``
keeps it quiet, and xdist workers (no terminal of their own) show nothing.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest

__all__ = [
    "INTERVAL_LOG_S",
    "INTERVAL_MODEL_S",
    "INTERVAL_TTY_S",
    "ModelProgress",
    "TerminalProgress",
    "terminal_progress",
]

# A CI log gets a line this often: often enough to see a job is alive, rarely
# enough not to drown the log. A terminal's line is redrawn more often.
INTERVAL_LOG_S = 3.0
INTERVAL_TTY_S = 0.5
# Capability items are short; a line per model this often says how far the run is.
INTERVAL_MODEL_S = 10.0
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


class ModelProgress:
    """Per model: capability items done of those selected, and the time left at this pace."""

    def __init__(
        self,
        sink: TerminalProgress | None,
        totals: Mapping[str, int],
        interval_s: float | None = None,
    ) -> None:
        self._sink = sink
        self._totals = dict(totals)
        interval_s = INTERVAL_MODEL_S if interval_s is None else interval_s
        self._interval_ns = int(interval_s * 1e9)
        self._done: Counter[str] = Counter()
        self._model: str | None = None
        self._since_ns = time.perf_counter_ns()  # when the current model's items began
        self._shown_ns = self._since_ns

    def item_done(self, model: str) -> None:
        now = time.perf_counter_ns()
        if model != self._model:
            # Items of one model run together: its pace is timed from its first finished item.
            self._model, self._since_ns = model, now
        self._done[model] += 1
        if self._sink is None or now - self._shown_ns < self._interval_ns:
            return
        self._shown_ns = now
        self._sink.show(self.line(model, now))

    def line(self, model: str, now_ns: int) -> str:
        done, total = self._done[model], self._totals.get(model, 0)
        text = f"{model}: {done} of {total} capability items done"
        left = total - done
        if left > 0 and done > 1:
            eta_s = (now_ns - self._since_ns) / 1e9 / (done - 1) * left
            text += f", about {_duration(eta_s)} left"
        return text


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
