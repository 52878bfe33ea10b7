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


def test_collect_only_writes_nothing_and_loads_nothing(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    (pytester.path / "out").mkdir()
    (pytester.path / "out" / "latest.json").write_text("{}")
    result = pytester.runpytest(
        "--pyargs",
        "capability_suites",
        *MODELS,
        "-k",
        "math_001",
        "--collect-only",
        "-q",
        *lmbench_args(lms, pytester.path),
    )
    assert len(collected(result)) == 2
    assert result.ret == pytest.ExitCode.OK
    assert lms.engine.requests == []  # no model list, no load
    assert not (pytester.path / "results.db").exists()
    assert [p.name for p in (pytester.path / "out").iterdir()] == ["latest.json"]
    assert (pytester.path / "out" / "latest.json").read_text() == "{}"
    result.stdout.no_fnmatch_line("*lmbench report:*")


def test_collect_only_names_the_gguf_model_without_starting_a_server(
    pytester: pytest.Pytester,
) -> None:
    gguf = pytester.path / "tiny-model.gguf"
    gguf.write_bytes(b"not a real model")  # starting a server on it would fail
    result = pytester.runpytest(
        "--pyargs",
        "capability_suites",
        f"--lm-serve-gguf={gguf}",
        "-k",
        "math_001",
        "--collect-only",
        "-q",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "-p",
        "no:cacheprovider",
    )
    assert collected(result) == ["reasoning/math.json::math_001[tiny-model]"]
    assert not (pytester.path / "out").exists()
