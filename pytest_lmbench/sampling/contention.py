"""Contention: other processes took CPU while an item was measured.

Two identical runs differed 4x in time to first token while another process held
one of two cores, and nothing said so. The sampler measures every other
process's CPU (``other_cpu_pct``); an item whose measured rounds saw more than
half a core of it on average is *contended*, and its speed comparisons are not
evidence of a change in the model, the server or the build.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CONTENDED_OTHER_CPU_PCT", "contention"]

# Half of one core (100 = one core): above the background of an idle desktop or CI
# runner, well below one busy process.
CONTENDED_OTHER_CPU_PCT = 50.0


def contention(hardware: Mapping[str, Any]) -> tuple[bool | None, float | None]:
    """Whether the measured rounds were contended, and the other processes' mean CPU.

    ``(None, None)`` when it was not measured (no local server process, no samples).
    """
    value = hardware.get("measured_other_cpu_pct")
    if not isinstance(value, int | float):
        return None, None
    return value > CONTENDED_OTHER_CPU_PCT, float(value)
