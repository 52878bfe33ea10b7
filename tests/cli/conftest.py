"""A results database filled through the Store API, for the ``lmbench`` command tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.records import ModelEntry, ResultEntry, RunInfo
from pytest_lmbench.storage.store import open_store

RUN_A = "aaaa1111-0000-4000-8000-000000000001"
RUN_B = "bbbb2222-0000-4000-8000-000000000002"
SPEED = "speed.py::test_decode[qwen3-4b-pp512-tg128]"
MATH = "suite::test_case[qwen3-4b-arith-1]"


def _run(run_id: str, started: str, status: Any = "completed") -> RunInfo:
    return RunInfo(
        id=run_id,
        started_at=started,
        status=status,
        backend="lmstudio",
        base_url="http://127.0.0.1:1234",
        plugin_version="0.1.0",
        fingerprint="fp-a",
    )


def _speed(decode: float, ttft: float) -> ResultEntry:
    return ResultEntry(
        nodeid=SPEED,
        model="qwen3-4b",
        kind="throughput",
        capability="throughput",
        case_id="pp512-tg128",
        outcome="passed",
        timing={
            "decode_tps": {"median": decode, "ci95_low": decode - 1, "ci95_high": decode + 1},
            "ttft_s": {"median": ttft},
            "concurrency": 1,
            "samples": [{"ttft_s": ttft, "decode_tps": decode, "output_tokens": 128}] * 3,
        },
    )


def _math(score: float | None, outcome: Any = "passed", error: str | None = None) -> ResultEntry:
    return ResultEntry(
        nodeid=MATH,
        model="qwen3-4b",
        kind="capability",
        capability="math",
        case_id="arith-1",
        outcome=outcome,
        error=error,
        prompt="What is 1+1?",
        metrics={"quality_score": score},
        timing={"ttft_s": 0.2, "decode_tps": 40.0},
    )


def _fill(url: str) -> None:
    with open_store(url) as store:
        store.begin_run(_run(RUN_A, "2026-05-01T12:00:00+00:00"))
        store.save_model(
            RUN_A, ModelEntry(key="qwen3-4b", status="ok", metadata={"quantization": "Q4_K_M"})
        )
        store.add_result(RUN_A, _speed(50.0, 0.2))
        store.add_result(RUN_A, _math(1.0))
        store.finish_run(RUN_A, "completed", "2026-05-01T12:05:00+00:00")

        store.begin_run(_run(RUN_B, "2026-05-02T12:00:00+00:00"))
        store.save_model(RUN_B, ModelEntry(key="qwen3-4b", status="ok"))
        store.add_result(RUN_B, _speed(55.0, 0.1))
        store.add_result(RUN_B, _math(None, "failed", "AssertionError: wrong answer\nmore"))
        store.add_result(
            RUN_B,
            # An error that a spreadsheet would run as a formula.
            _math(None, "skipped", '=HYPERLINK("http://x")').model_copy(
                update={"nodeid": "suite::test_case[skip]"}
            ),
        )
        store.finish_run(RUN_B, "interrupted", "2026-05-02T12:01:00+00:00")


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The URL of a filled database; the environment cannot point elsewhere."""
    monkeypatch.delenv("LMBENCH_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    url = f"sqlite:///{tmp_path / 'results.db'}"
    _fill(url)
    return url
