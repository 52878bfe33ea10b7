"""Selection on the bundled suites: -k/-m, --lm-max-tests and --collect-only together."""

from __future__ import annotations

import re

import pytest

from pytest_lmbench.testing import LMStudioTestServer

from .conftest import lmbench_args

MODELS = ("--lm-model=qwen/qwen3-4b", "--lm-model=google/gemma-3-4b")


def collected(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if "::" in line and not line.startswith(" ")]


def test_max_tests_caps_what_k_selected(pytester: pytest.Pytester, lms: LMStudioTestServer) -> None:
    result = pytester.runpytest(
        "--pyargs",
        "capability_suites",
        *MODELS,
        "-k",
        "math",
        "--lm-max-tests=3",
        "--collect-only",
        "-q",
        *lmbench_args(lms, pytester.path),
    )
    ids = collected(result)
    assert len(ids) == 6
    assert all("reasoning/math.json::math_" in i for i in ids)
    per_model = {
        m: [i for i in ids if i.endswith(f"[{m}]")] for m in ("qwen/qwen3-4b", "google/gemma-3-4b")
    }
    assert [len(v) for v in per_model.values()] == [3, 3]
    # Every other item is reported deselected: the counts add up to all collected items.
    match = re.search(r"6/(\d+) tests collected \((\d+) deselected\)", result.stdout.str())
    assert match is not None
    assert int(match[1]) - int(match[2]) == 6


def test_max_tests_caps_what_m_selected_and_keeps_models_grouped(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    result = pytester.runpytest(
        "--pyargs",
        "capability_suites",
        *MODELS,
        "-m",
        "reasoning",
        "--lm-max-tests=2",
        "--collect-only",
        "-q",
        *lmbench_args(lms, pytester.path),
    )
    ids = collected(result)
    # The cap is per capability, not per file: two reasoning items per model, in model order.
    models = [i.rsplit("[", 1)[1] for i in ids]
    assert models == ["qwen/qwen3-4b]"] * 2 + ["google/gemma-3-4b]"] * 2
    result.stdout.fnmatch_lines(["4/* tests collected (* deselected)*"])
