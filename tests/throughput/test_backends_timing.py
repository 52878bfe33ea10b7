"""Issue 3's timing acceptance on the Ollama and OpenAI-compatible backends (issue 8).

LM Studio's own routes are measured the same way in test_throughput_items.py; here the
other backends go through the same grid against their doubles, so every backend is
held to the same 10 ms / 2 % bounds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.testing.doubles import BackendDouble

# Scripted timings: run alone (tox's serial stage), not beside another busy worker.
pytestmark = pytest.mark.timing

OTHER_BACKENDS = pytest.mark.parametrize("backend_double", ["ollama", "openai"], indirect=True)


def grid(root: Path, **case: object) -> Path:
    folder = root / "suite" / "throughput"
    folder.mkdir(parents=True)
    (folder / "grid.json").write_text(json.dumps({"capability": "throughput", "cases": [case]}))
    return root / "suite"


def run_item(
    pytester: pytest.Pytester, double: BackendDouble, suite: Path, *args: str
) -> dict[str, Any]:
    outcome = pytester.runpytest(
        f"--lm-suite-dir={suite}",
        f"--lm-model={double.text_model}",
        *double.args,
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "--lm-formats=json",
        "-p",
        "no:cacheprovider",
        *args,
    )
    outcome.assert_outcomes(passed=1)
    report = json.loads((pytester.path / "out" / "latest.json").read_text())
    [item] = report["results"]
    return item  # type: ignore[no-any-return]


@OTHER_BACKENDS
def test_scripted_ttft_and_decode_speed(
    pytester: pytest.Pytester, backend_double: BackendDouble
) -> None:
    # Issue 3: first content token 300 ms after the request, then one every 20 ms.
    backend_double.server.engine.script.ttft_s = 0.300
    backend_double.server.engine.script.token_interval_s = 0.020
    suite = grid(pytester.path, prompt_tokens=64, gen_tokens=40, concurrency=1)
    item = run_item(pytester, backend_double, suite, "--lm-runs=3", "--lm-warmup=1")
    timing = item["timing"]
    assert item["flags"]["route"] in backend_double.chat_routes
    assert abs(timing["ttft_s"]["median"] - 0.300) < 0.010
    assert timing["decode_tps"]["median"] == pytest.approx(50.0, rel=0.02)
    assert timing["ttft_s"]["n"] == 3  # warmup discarded
    assert timing["prompt_tokens_actual"] == 64  # calibrated from the server's own counts
    assert item["flags"]["short_generation"] is False
    assert item["flags"]["token_count_estimated"] is False


@OTHER_BACKENDS
def test_four_streams_decode_at_four_times_the_rate(
    pytester: pytest.Pytester, backend_double: BackendDouble
) -> None:
    # (4 * 128 - 4) tokens / (last token - first token across the batch) = 508 / 2.54 s.
    backend_double.server.engine.script.ttft_s = 0.300
    backend_double.server.engine.script.token_interval_s = 0.020
    suite = grid(pytester.path, prompt_tokens=32, gen_tokens=128, concurrency=4)
    item = run_item(pytester, backend_double, suite, "--lm-runs=1", "--lm-warmup=0")
    timing = item["timing"]
    assert timing["concurrency"] == 4
    assert timing["output_tokens_total"] == 512
    assert timing["aggregate_decode_tps"] == pytest.approx(200.0, rel=0.02)
    assert timing["decode_tps"]["n"] == 4
