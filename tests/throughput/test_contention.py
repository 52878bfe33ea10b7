"""A run measured while another process spins on a core is flagged ``contended``, and a
baseline comparison with it is untestable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_lmbench.testing import FakeModel, LMStudioTestServer

from ..conftest import run_throughput_case

MODEL = "qwen/qwen3-4b"
CASE = {"prompt_tokens": 16, "gen_tokens": 30, "concurrency": 1}


@pytest.fixture
def server() -> Iterator[LMStudioTestServer]:
    with LMStudioTestServer([FakeModel(key=MODEL)]) as srv:
        srv.engine.script.token_interval_s = 0.02
        yield srv


@pytest.fixture
def busy_core() -> Iterator[int]:
    """A busy loop on one core, not a child of this process (whose children, when it
    serves the test server itself, count as the server's)."""
    shell = f"{sys.executable} -c 'while True: pass' >/dev/null 2>&1 & echo $!"
    pid = int(subprocess.run(["sh", "-c", shell], capture_output=True, text=True).stdout)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGKILL)


def _run(pytester: pytest.Pytester, server: LMStudioTestServer, *args: str) -> dict:  # type: ignore[type-arg]
    _, item = run_throughput_case(
        pytester,
        server.base_url,
        MODEL,
        CASE,
        "--lm-runs=3",
        "--lm-warmup=0",
        "--lm-sample-interval=0.05",
        *args,
    )
    return item


def test_a_busy_core_flags_the_item_and_its_baseline_comparison_is_untestable(
    pytester: pytest.Pytester,
    server: LMStudioTestServer,
    busy_core: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LMBENCH_ALLOW_CONTENTION", raising=False)
    baseline = pytester.path / "baseline.json"
    first = _run(pytester, server, f"--lm-update-baseline={baseline}")
    assert first["flags"]["contended"] is True
    assert first["flags"]["contention_other_cpu_pct"] > 50
    assert first["hardware"]["measured_other_cpu_pct"] > 50
    assert json.loads(baseline.read_text())["items"][f"{MODEL}::throughput/pp16-tg30-c1"][
        "contended"
    ]
    server.engine.script.token_interval_s = 0.04  # half the decode speed: a regression
    item = _run(pytester, server, f"--lm-baseline={baseline}")
    verdicts = {flag["metric"]: flag["verdict"] for flag in item["flags"]["baseline"]}
    assert verdicts["decode_tps"] == "untestable"
    assert item["outcome"] == "passed"
    allowed = _run(pytester, server, f"--lm-baseline={baseline}", "--lm-allow-contention")
    verdicts = {flag["metric"]: flag["verdict"] for flag in allowed["flags"]["baseline"]}
    assert verdicts["decode_tps"] == "regression"


def test_the_terminal_names_a_contended_item(
    pytester: pytest.Pytester, server: LMStudioTestServer, busy_core: int
) -> None:
    folder = pytester.path / "suite" / "throughput"
    folder.mkdir(parents=True)
    (folder / "grid.json").write_text(json.dumps({"capability": "throughput", "cases": [CASE]}))
    result = pytester.runpytest(
        f"--lm-suite-dir={folder.parent}",
        f"--lm-model={MODEL}",
        f"--lm-base-url={server.base_url}",
        f"--lm-output-dir={Path(pytester.path) / 'out'}",
        "--lm-no-db",
        "--lm-runs=3",
        "--lm-warmup=0",
        "--lm-sample-interval=0.05",
        "-p",
        "no:cacheprovider",
    )
    result.stdout.fnmatch_lines(
        ["contended: throughput/grid.json::pp16-tg30-c1[[]qwen/qwen3-4b[]]: other processes *"]
    )
