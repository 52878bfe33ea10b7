"""SIGTERM ends a run as Ctrl-C does: CI cancels, ``docker stop`` and Kubernetes send it.

pytest turns a KeyboardInterrupt into an orderly stop (finished results kept, the
run ``interrupted``, reports written, models unloaded, a managed server stopped,
exit status 2), but SIGTERM's default kills the process on the spot.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"{signal.Signals(signum).name} received")


def handle_sigterm() -> Callable[[], None]:
    """Raise KeyboardInterrupt on SIGTERM until the returned function restores the old handler.

    Only from the main thread, and only over the default handler: a handler the
    user or another plugin installed (or SIG_IGN) is theirs to keep.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        return lambda: None
    signal.signal(signal.SIGTERM, _interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore
