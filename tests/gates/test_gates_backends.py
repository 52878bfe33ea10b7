"""The baseline gate on the Ollama and OpenAI-compatible backends (issue 8).

test_gates_integration.py holds the full set on LM Studio. Here a baseline and a
30 % slower run on each other backend: the gate must find the same fingerprint run
to run (nothing volatile in it) and name the regression.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pytest_lmbench.storage.store  # noqa: F401  (see test_gates_integration.py)
from pytest_lmbench.testing.doubles import BackendDouble

# Scripted timings: run alone (tox's serial stage), not beside another busy worker.
pytestmark = pytest.mark.timing

CASE = "pp64-tg20-c1"
INTERVAL_S = 0.005  # 200 tok/s


def bench(pytester: pytest.Pytester, double: BackendDouble, *extra: str) -> pytest.RunResult:
    suite = pytester.path / "suite"
    if not suite.exists():
        (suite / "throughput").mkdir(parents=True)
        grid = {"capability": "throughput", "cases": [{"prompt_tokens": 64, "gen_tokens": 20}]}
        (suite / "throughput" / "grid.json").write_text(json.dumps(grid))
    out = pytester.path / "out"
    return pytester.runpytest(
        f"--lm-suite-dir={suite}",
        f"--lm-model={double.text_model}",
        *double.args,
        f"--lm-output-dir={out}",
        f"--lm-db=sqlite:///{out / 'r.db'}",
        "--lm-runs=5",
        "--lm-warmup=0",
        "-p",
        "no:cacheprovider",
        *extra,
    )


@pytest.mark.parametrize("backend_double", ["ollama", "openai"], indirect=True)
def test_thirty_percent_slower_decode_is_a_regression(
    pytester: pytest.Pytester, backend_double: BackendDouble
) -> None:
    script = backend_double.server.engine.script
    script.ttft_s, script.token_interval_s = 0.25, INTERVAL_S
    baseline = pytester.path / "ci" / "baseline.json"
    first = bench(pytester, backend_double, f"--lm-update-baseline={baseline}")
    assert first.ret == 0, first.stdout.str()
    data = json.loads(Path(baseline).read_text())
    assert f"{backend_double.text_model}::throughput/{CASE}" in data["items"]
    script.token_interval_s = INTERVAL_S / 0.7
    result = bench(pytester, backend_double, f"--lm-baseline={baseline}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [f"*regression: throughput/{CASE}*decode_tps median * vs baseline *limit -10 %)*"]
    )
    assert "refusing to compare" not in result.stdout.str()
