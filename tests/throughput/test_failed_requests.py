"""Issue 13.4: one failed request inside a throughput item keeps everything else.

The other requests and batches stay as samples, the failed one keeps a sample with
null figures and its error, its still-running siblings are cancelled and awaited,
no further batch is sent, and the item is an ERROR naming the request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from pytest_lmbench.testing import FakeModel, Fault, LMStudioTestServer, OllamaTestServer

from ..conftest import run_throughput_case

MODEL = "qwen/qwen3-4b"
# Prompts are numbered in the order they are made: two calibration probes, the
# record's sample prompt, then with c=4 batch 0 holds 3-6 and batch 1 7-10; request
# 8 is the second of batch 1.
FAILING = "[000000000008]"
NUMBERED_PROMPTS = """
import itertools, types
import pytest_lmbench.runners.prompts as prompts
counter = itertools.count()
prompts.secrets = types.SimpleNamespace(token_hex=lambda n: f"{next(counter):0{2 * n}x}")
"""
HTTP_500 = {"error": {"type": "internal_error", "message": "GPU fell over"}}


@pytest.fixture
def server() -> Iterator[LMStudioTestServer]:
    with LMStudioTestServer([FakeModel(key=MODEL)]) as srv:
        # Slow enough that the siblings are still streaming when the 500 arrives.
        srv.engine.script.token_interval_s = 0.05
        yield srv


def run_grid(
    pytester: pytest.Pytester, base_url: str, model: str, *args: str
) -> tuple[pytest.RunResult, dict]:  # type: ignore[type-arg]
    case = {"prompt_tokens": 16, "gen_tokens": 8, "concurrency": 4}
    return run_throughput_case(
        pytester, base_url, model, case, "--lm-runs=3", "--lm-warmup=0", *args
    )


@pytest.mark.usefixtures("numbered_prompts")
def test_a_failed_request_keeps_the_batches_and_errors_the_item(
    pytester: pytest.Pytester, server: LMStudioTestServer
) -> None:
    server.engine.faults.append(Fault("http_error", match=FAILING, body=HTTP_500))
    result, item = run_grid(pytester, server.base_url, MODEL)

    result.assert_outcomes(errors=1)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert item["outcome"] == "error"
    assert item["error_kind"] == "http"
    assert re.match(r"request 2 of 4 in batch 1: LM Studio chat failed \(HTTP 500", item["error"])
    result.stdout.fnmatch_lines(["*request 2 of 4 in batch 1: LM Studio chat failed*"])

    samples = item["timing"]["samples"]
    # Batch 0 whole, batch 1 cut short, batch 2 never sent to a failing server.
    assert [s["batch"] for s in samples] == [0] * 4 + [1] * 4
    assert all(s["error"] is None and s["output_tokens"] == 8 for s in samples[:4])
    failed = samples[5]
    assert failed["error"].startswith("LM Studio chat failed (HTTP 500")
    cancelled = [samples[4], samples[6], samples[7]]
    for sample in [failed, *cancelled]:
        assert sample["output_tokens"] is None
        assert sample["ttft_s"] is None
        assert sample["decode_tps"] is None
        assert sample["e2e_s"] is None
    assert {s["error"] for s in cancelled} == {"cancelled: request 2 of this batch failed"}
    # The figures of the finished batch are kept; the cut batch has none.
    assert len(item["timing"]["aggregate_output_tps_values"]) == 1
    assert item["timing"]["ttft_s"]["n"] == 4
    # Every request the server saw was one the client sent: nothing after batch 1.
    bodies = [json.dumps(r.json) for r in server.engine.requests]
    assert any("[00000000000a]" in body for body in bodies)
    assert not any("[00000000000b]" in body for body in bodies)


@pytest.mark.usefixtures("numbered_prompts")
def test_a_stream_cut_mid_batch_is_a_stream_error_on_ollama(pytester: pytest.Pytester) -> None:
    model = "qwen3:4b"
    with OllamaTestServer([FakeModel(key=model)]) as server:
        server.engine.script.token_interval_s = 0.05
        server.engine.faults.append(Fault("cut", match=FAILING, after_tokens=2))
        result, item = run_grid(pytester, server.base_url, model, "--lm-backend=ollama")
    result.assert_outcomes(errors=1)
    assert item["error_kind"] == "stream"
    assert item["error"].startswith("request 2 of 4 in batch 1: ")
    assert [s["batch"] for s in item["timing"]["samples"]] == [0] * 4 + [1] * 4


@pytest.mark.usefixtures("numbered_prompts")
def test_a_failed_warmup_request_errors_before_anything_is_measured(
    pytester: pytest.Pytester, server: LMStudioTestServer
) -> None:
    server.engine.faults.append(Fault("http_error", match="[000000000004]", body=HTTP_500))
    result, item = run_grid(pytester, server.base_url, MODEL, "--lm-warmup=1")
    result.assert_outcomes(errors=1)
    assert item["error"].startswith("request 2 of 4 in warmup batch 0: LM Studio chat failed")
    assert not (item["timing"] or {}).get("samples")


def test_no_task_outlives_the_item_in_a_fresh_interpreter(
    pytester: pytest.Pytester, server: LMStudioTestServer
) -> None:
    """Python 3.11 ended 7 of 10 such sessions with ``INTERNALERROR SystemError: AST
    constructor recursion depth mismatch``: sibling tasks left running after a 500 were
    finalised during a lazy import. Each run is its own interpreter, as in real use."""
    pytester.makeconftest(NUMBERED_PROMPTS)
    server.engine.faults.append(Fault("http_error", match=FAILING, body=HTTP_500))
    folder = pytester.path / "suite" / "throughput"
    folder.mkdir(parents=True)
    case = {"prompt_tokens": 16, "gen_tokens": 8, "concurrency": 4}
    (folder / "grid.json").write_text(json.dumps({"capability": "throughput", "cases": [case]}))
    for attempt in range(3):
        result = pytester.runpytest_subprocess(
            f"--lm-suite-dir={folder.parent}",
            f"--lm-model={MODEL}",
            f"--lm-base-url={server.base_url}",
            f"--lm-output-dir={pytester.path / f'out{attempt}'}",
            "--lm-no-db",
            "--lm-warmup=0",
            "-p",
            "no:cacheprovider",
        )
        output = result.stdout.str() + result.stderr.str()
        assert "INTERNALERROR" not in output
        assert "Task was destroyed" not in output
        assert "already running" not in output
        result.assert_outcomes(errors=1)
