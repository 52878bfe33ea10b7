"""Gate tests script their speeds; a busy machine must not turn their verdicts untestable.

Contention itself (a busy core makes a comparison untestable) is tested in
``tests/throughput/test_contention.py`` and ``test_gates_unit.py``.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _allow_contention(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMBENCH_ALLOW_CONTENTION", "1")
