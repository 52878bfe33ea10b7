from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest


@pytest.fixture
def numbered_prompts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prompt prefixes [000000000000], [000000000001], ... in the order requests are built:
    two calibration probes, then each batch's requests."""
    counter = itertools.count()
    numbered = SimpleNamespace(token_hex=lambda nbytes: f"{next(counter):0{2 * nbytes}x}")
    monkeypatch.setattr("pytest_lmbench.runners.prompts.secrets", numbered)
