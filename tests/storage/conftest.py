"""Store fixtures: one database per test, on SQLite and (when configured) PostgreSQL.

PostgreSQL runs when ``LMBENCH_TEST_PG_URL`` is set (``eval "$(.ci/start-postgres)"``);
with ``LMBENCH_REQUIRE_PG=1`` a missing URL fails instead of skipping. Each
test gets its own schema (via ``search_path``), dropped afterwards, so tests
can run in parallel against one database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from pytest_lmbench.records import LoadInfo, ModelEntry, ResultEntry, RunInfo
from pytest_lmbench.storage import writes
from pytest_lmbench.storage.store import Store, open_store
from pytest_lmbench.storage.url import check_url

T0 = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


def pg_base_url() -> str | None:
    url = os.environ.get("LMBENCH_TEST_PG_URL")
    if url:
        return url
    if os.environ.get("LMBENCH_REQUIRE_PG") == "1":
        pytest.fail("LMBENCH_REQUIRE_PG=1 but LMBENCH_TEST_PG_URL is not set")
    pytest.skip('PostgreSQL not configured: eval "$(.ci/start-postgres)" sets LMBENCH_TEST_PG_URL')


def fresh_pg_schema(prefix: str) -> Iterator[str]:
    """A URL whose connections use a fresh, empty schema of the test database; the
    schema is dropped afterwards (skips, or fails, without a configured database)."""
    base = check_url(pg_base_url() or "")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = base.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    yield from fresh_pg_schema("lmbench_t")


@pytest.fixture(params=["sqlite", "sqlite-portable", "postgresql"])
def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    if request.param == "sqlite-portable":
        # The writes every other dialect gets (no ON CONFLICT), on a real database.
        monkeypatch.setattr(writes, "NATIVE_UPSERT", {})
    if request.param.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'results.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        yield opened


def iso(offset_s: float = 0.0) -> str:
    return (T0 + timedelta(seconds=offset_s)).isoformat()


def make_run(run_id: str, offset_s: float = 0.0, **changes: Any) -> RunInfo:
    fields: dict[str, Any] = {
        "id": run_id,
        "started_at": iso(offset_s),
        "backend": "lmstudio",
        "base_url": "http://127.0.0.1:1234",
        "plugin_version": "0.1.0",
        "settings": {"lm_runs": 3, "models": ["qwen3-4b"], "nested": {"a": [1, 2.5, None]}},
        "environment": {
            "os": "Linux",
            "gpus": [{"name": "RTX 4090", "vram_bytes": 25_769_803_776}],
        },
        "fingerprint": "fp-a",
        "calibration": {"score": 1234.5},
    }
    fields.update(changes)
    return RunInfo(**fields)


def make_model(key: str = "qwen3-4b", **changes: Any) -> ModelEntry:
    fields: dict[str, Any] = {
        "key": key,
        "status": "ok",
        "load": LoadInfo(
            requested={"context_length": 8192, "flash_attention": True},
            applied={"context_length": 8192},
            not_applied={"flash_attention": "not supported by this backend"},
            load_time_s=2.5,
            client_load_time_s=2.75,
        ),
        "metadata": {
            "key": key,
            "quantization": "Q4_K_M",
            "architecture": "qwen3",
            "params_string": "4B",
            "size_bytes": 2_497_280_256,
            "variants": [],
        },
    }
    fields.update(changes)
    return ModelEntry(**fields)


def throughput_samples(decode: float, n: int = 3) -> list[dict[str, Any]]:
    """Shaped like runners/throughput.py: request_metrics() plus the batch index."""
    return [
        {
            "ttfr_s": 0.05 + i / 100,
            "ttft_s": 0.1 + i / 100,
            "decode_tps": decode + i,
            "prefill_tps": 900.0,
            "e2e_s": 2.5,
            "itl_s": [0.02, 0.021],
            "output_tokens": 128,
            "prompt_tokens": 512,
            "token_count_estimated": False,
            "chunks": 128,
            "server_ttft_s": None,
            "server_decode_tps": decode,
            "server_prefill_tps": None,
            "batch": i,
        }
        for i in range(n)
    ]


def make_throughput(
    nodeid: str = "speed.py::test_decode[qwen3-4b-pp512-tg128]",
    model: str = "qwen3-4b",
    decode: float = 50.0,
    **changes: Any,
) -> ResultEntry:
    fields: dict[str, Any] = {
        "nodeid": nodeid,
        "model": model,
        "kind": "throughput",
        "capability": "throughput",
        "case_id": "pp512-tg128",
        "outcome": "passed",
        "timing": {
            "decode_tps": {
                "n": 3,
                "median": decode,
                "ci95_low": decode - 2,
                "ci95_high": decode + 2,
            },
            "ttft_s": {"n": 3, "median": 0.11},
            "concurrency": 1,
            "aggregate_output_tps": decode * 0.98,
            "samples": throughput_samples(decode),
        },
        "server_stats": {"disagreement": False, "comparisons": {}},
        "hardware": {
            "energy_j": 120.5,
            "joules_per_token": 0.31,
            "gpu_power_w": {"mean": 210.0, "max": 250.0},
            "samples": [
                {"t_s": 0.0, "signal": "gpu_power_w", "value": 200.5, "gpu_index": 0},
                {"t_s": 0.1, "signal": "cpu_util_pct", "value": 12.0, "gpu_index": None},
            ],
        },
        "flags": {"short_generation": False, "route": "openai"},
        "duration_s": 8.25,
        "finished_at": iso(30),
    }
    fields.update(changes)
    return ResultEntry(**fields)


def make_capability(
    nodeid: str = "suite::test_case[qwen3-4b-arith-1]", model: str = "qwen3-4b", **changes: Any
) -> ResultEntry:
    fields: dict[str, Any] = {
        "nodeid": nodeid,
        "model": model,
        "kind": "capability",
        "capability": "math",
        "task": "arithmetic",
        "case_id": "arith-1",
        "outcome": "passed",
        "prompt": "What is 6 × 7? Ünïcode “quotes”",
        "output": "42",
        "reference": {"answer": "42", "aliases": ["forty-two", None]},
        "metrics": {"quality_score": 1.0, "exact_match": True, "f1": 1.0, "label": "ok"},
        "timing": {"ttft_s": 0.2, "decode_tps": 41.5, "e2e_s": 0.9, "output_tokens": 3},
        "flags": {"finish_reason": "stop"},
        "duration_s": 1.5,
        "finished_at": iso(40),
    }
    fields.update(changes)
    return ResultEntry(**fields)


def make_failed(nodeid: str = "suite::test_case[qwen3-4b-broken]", **changes: Any) -> ResultEntry:
    """A result that measured nothing: every figure must stay None, never 0.0."""
    fields: dict[str, Any] = {
        "nodeid": nodeid,
        "model": "qwen3-4b",
        "kind": "capability",
        "capability": "math",
        "case_id": "broken",
        "outcome": "failed",
        "error": "StreamError: the stream was cut\nsecond line",
        "metrics": {"quality_score": None, "f1": None},
        "timing": {"ttft_s": None, "decode_tps": None},
    }
    fields.update(changes)
    return ResultEntry(**fields)


class Factories:
    """Test data builders (test modules cannot import conftest in importlib mode)."""

    iso = staticmethod(iso)
    run = staticmethod(make_run)
    model = staticmethod(make_model)
    throughput = staticmethod(make_throughput)
    capability = staticmethod(make_capability)
    failed = staticmethod(make_failed)


@pytest.fixture
def make() -> type[Factories]:
    return Factories


@pytest.fixture
def fill() -> Callable[..., RunInfo]:
    """Store a finished run with one model and the given results; return its RunInfo."""

    def _fill(
        store: Store,
        run_id: str,
        results: list[ResultEntry],
        offset_s: float = 0.0,
        status: str = "completed",
        **run_changes: Any,
    ) -> RunInfo:
        run = make_run(run_id, offset_s, **run_changes)
        store.begin_run(run)
        model = make_model()
        # History matches the model's own fingerprint; here it equals the run's.
        model.metadata["fingerprint"] = run.fingerprint
        store.save_model(run_id, model)
        for result in results:
            store.add_result(run_id, result)
        store.finish_run(run_id, status, iso(offset_s + 60))  # type: ignore[arg-type]
        return run

    return _fill
