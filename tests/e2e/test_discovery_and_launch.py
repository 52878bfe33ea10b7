"""``--lm-model=all`` and a load setting at launch, on llama-cpp-python's real server (issue 14)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .conftest import _unavailable


def test_all_models_of_the_managed_server_with_a_batch_size_at_launch(
    pytester: pytest.Pytester,
) -> None:
    reason = _unavailable()
    if reason:
        if os.environ.get("LMBENCH_REQUIRE_LLAMACPP") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    args = (
        "--pyargs",
        "capability_suites",
        "--lm-serve-gguf=smollm2",
        "--lm-model=all",
        "--lm-batch-size=64",
        "--lm-parallel=2",
        "--lm-top-k=1",
        "-k",
        "general_text and qa_001",
        "--lm-max-tokens=8",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "--lm-formats=json",
        "-p",
        "no:cacheprovider",
    )
    listed = pytester.runpytest(*args, "--collect-only", "-q")
    listed.stdout.fnmatch_lines(["general_text/qa.json::qa_001[SmolLM2-135M-Instruct.Q4_1]"])
    result = pytester.runpytest(*args)
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)  # a 135M model
    report = json.loads((Path(pytester.path) / "out" / "latest.json").read_text())
    [model] = report["models"]
    assert model["key"] == "SmolLM2-135M-Instruct.Q4_1"  # "all": what the server lists
    load = model["load"]
    assert load["requested"] == {"batch_size": 64, "parallel": 2}
    assert load["applied"]["batch_size"] == 64  # --n_batch 64 at launch
    assert "one request at a time" in load["not_applied"]["parallel"]
    [item] = report["results"]
    # llama-cpp-python identifies itself, so its top_k extension counts as applied.
    assert item["flags"]["sampling_applied"] == {"top_k": 1}
