"""End to end through pytester: collection, lifecycle, outcomes, JSON report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_lmbench.testing import LMStudioTestServer

from .conftest import lmbench_args


def _report(tmp: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((tmp / "out" / "latest.json").read_text())


def test_user_suite_runs_loads_once_and_writes_report(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    result = pytester.runpytest(
        f"--lm-suite-dir={suite}", "--lm-model=qwen/qwen3-4b", *lmbench_args(lms, pytester.path)
    )
    result.assert_outcomes(passed=4)
    assert lms.engine.load_calls == 1
    assert lms.engine.unload_calls == 1
    report = _report(pytester.path)
    assert report["schema_version"] == 1
    assert report["run"]["status"] == "completed"
    assert {r["case_id"] for r in report["results"]} == {
        "capital_fr",
        "moon_year",
        "math_001",
        "pp64-tg16-c1",
    }
    assert all(r["outcome"] == "passed" for r in report["results"])
    assert report["models"][0]["status"] == "ok"
    assert "lm_api_token" not in report["run"]["settings"]
    named = sorted((pytester.path / "out").glob("lmbench-*.json"))
    assert len(named) == 1
    assert named[0].name.endswith(report["run"]["id"][:8] + ".json")


def test_item_ids_select_with_k(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    args = [f"--lm-suite-dir={suite}", "--lm-model=qwen/qwen3-4b", "--lm-model=google/gemma-3-4b"]
    result = pytester.runpytest(*args, "--collect-only", "-q", *lmbench_args(lms, pytester.path))
    result.stdout.fnmatch_lines(["*general_text/qa.json::capital_fr[[]qwen/qwen3-4b[]]*"])
    result = pytester.runpytest(
        *args,
        "-k",
        "qwen3 and reasoning",
        "--collect-only",
        "-q",
        *lmbench_args(lms, pytester.path),
    )
    result.stdout.fnmatch_lines(
        ["*reasoning/math.json::math_001[[]qwen/qwen3-4b[]]*", "*1/8 tests collected*"]
    )
    result = pytester.runpytest(
        *args, "-k", "math_001", "--collect-only", "-q", *lmbench_args(lms, pytester.path)
    )
    result.stdout.fnmatch_lines(["*2/8 tests collected*"])
    result = pytester.runpytest(
        *args, "-m", "throughput", "--collect-only", "-q", *lmbench_args(lms, pytester.path)
    )
    result.stdout.fnmatch_lines(["*2/8 tests collected*"])


def test_models_are_grouped_and_loaded_one_at_a_time(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    result = pytester.runpytest(
        f"--lm-suite-dir={suite}",
        "--lm-model=qwen/qwen3-4b",
        "--lm-model=google/gemma-3-4b",
        "--lm-capabilities=general_text",
        *lmbench_args(lms, pytester.path),
    )
    result.assert_outcomes(passed=4)
    calls = [
        (r.path, (r.json or {}).get("model") or (r.json or {}).get("instance_id"))
        for r in lms.engine.requests
        if r.path.startswith("/api/v1/models/")
    ]
    assert calls == [
        ("/api/v1/models/load", "qwen/qwen3-4b"),
        ("/api/v1/models/unload", "qwen/qwen3-4b"),
        ("/api/v1/models/load", "google/gemma-3-4b"),
        ("/api/v1/models/unload", "google/gemma-3-4b"),
    ]


def test_failed_load_errors_its_items_and_the_next_model_runs(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    result = pytester.runpytest(
        f"--lm-suite-dir={suite}",
        "--lm-model=broken/model",
        "--lm-model=qwen/qwen3-4b",
        "--lm-capabilities=general_text,reasoning",
        *lmbench_args(lms, pytester.path),
    )
    result.assert_outcomes(passed=3, errors=3)
    result.stdout.fnmatch_lines(["LM Studio load of broken/model failed (HTTP 500*out of memory*"])
    report = _report(pytester.path)
    broken = [r for r in report["results"] if r["model"] == "broken/model"]
    assert all(r["outcome"] == "error" and "out of memory" in r["error"] for r in broken)
    models = {m["key"]: m for m in report["models"]}
    assert models["broken/model"]["status"] == "load_failed"
    assert models["qwen/qwen3-4b"]["status"] == "ok"


def test_unknown_model_lists_what_the_server_has(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    result = pytester.runpytest(
        f"--lm-suite-dir={suite}",
        "--lm-model=nope/x",
        "--lm-capabilities=reasoning",
        *lmbench_args(lms, pytester.path),
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*'nope/x' is not on LM Studio at*it has: broken/model, google/gemma-3-4b, qwen/qwen3-4b*"]
    )
    assert lms.engine.load_calls == 0


def test_chat_items_of_an_embedding_model_are_skipped_or_refused_when_forced(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    args = (f"--lm-suite-dir={suite}", "--lm-model=text-embedding-nomic")
    args += ("--lm-capabilities=reasoning", *lmbench_args(lms, pytester.path))
    result = pytester.runpytest(*args, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*text-embedding-nomic is an embedding model*no chat*"])
    assert lms.engine.load_calls == 0  # nothing to run: not even loaded
    forced = pytester.runpytest(*args, "--lm-force-capabilities")
    # Asked anyway: the server refuses to chat with it, so the item errors.
    forced.assert_outcomes(errors=1)
    forced.stdout.fnmatch_lines(["*text-embedding-nomic is an embedding model and cannot chat*"])


def test_quality_failure_shows_output_reference_and_metrics(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    lms.engine.answers.clear()
    result = pytester.runpytest(
        f"--lm-suite-dir={suite}",
        "--lm-model=qwen/qwen3-4b",
        "-k",
        "capital_fr",
        *lmbench_args(lms, pytester.path),
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*quality_score 0.000 < min_quality 0.5*",
            "*reference: *Paris*",
            "*metrics:*exact_match*f1*",
        ]
    )


def test_no_model_is_a_usage_error(pytester: pytest.Pytester, suite: Path) -> None:
    result = pytester.runpytest(f"--lm-suite-dir={suite}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: lmbench suites were collected but no model was given*"])


def test_unreachable_server_stops_at_session_start(pytester: pytest.Pytester, suite: Path) -> None:
    result = pytester.runpytest(
        f"--lm-suite-dir={suite}",
        "--lm-model=a",
        "--lm-base-url=http://127.0.0.1:9",
        "--lm-timeout=2",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: cannot reach LM Studio at http://127.0.0.1:9 *lms server start*"]
    )


def test_user_tests_get_lm_fixture_per_model(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    pytester.makepyfile(
        """
        def test_chat(lm, lm_model):
            result = lm.chat("hello there")
            assert result.content
            assert lm_model.key in ("qwen/qwen3-4b", "google/gemma-3-4b")
        """
    )
    result = pytester.runpytest(
        "--lm-model=qwen/qwen3-4b",
        "--lm-model=google/gemma-3-4b",
        *lmbench_args(lms, pytester.path),
    )
    result.assert_outcomes(passed=2)
    assert lms.engine.load_calls == 2


def test_plugin_is_quiet_without_models(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "= lmbench =" not in result.stdout.str()


def test_variant_keys_go_unchanged_to_load_chat_and_unload(
    pytester: pytest.Pytester, suite: Path
) -> None:
    from pytest_lmbench.testing import FakeModel
    from pytest_lmbench.testing.oracle import oracle_rules

    variant = "qwen/qwen3-4b@q4_k_m"
    model = FakeModel(key="qwen/qwen3-4b", variants=[variant, "qwen/qwen3-4b@q8_0"])
    with LMStudioTestServer([model]) as server:
        server.engine.answers[:] = oracle_rules([suite])
        result = pytester.runpytest(
            f"--lm-suite-dir={suite}",
            f"--lm-model={variant}",
            "-k",
            "capital_fr",
            *lmbench_args(server, pytester.path),
        )
        sent = [(r.path, r.json) for r in server.engine.requests if r.method == "POST"]
    result.assert_outcomes(passed=1)
    load = next(body for path, body in sent if path == "/api/v1/models/load")
    chat = next(body for path, body in sent if "chat" in path)
    unload = next(body for path, body in sent if path == "/api/v1/models/unload")
    assert load["model"] == variant
    # The server names the instance after the base key: chat still asks for the variant
    # itself, and unload names the instance the load returned.
    assert chat["model"] == variant
    assert unload["instance_id"] == "qwen/qwen3-4b"
