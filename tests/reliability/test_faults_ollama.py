"""The core faults through ``--lm-backend=ollama`` against the Ollama test server.

Same contract as the LM Studio matrix: the item hit fails (or errors) with one
line on its summary line and in the JSON and store, the others pass, every
result is stored, exit status 1, nothing runs past ``--lm-timeout``.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_lmbench.testing import Fault, OllamaTestServer

from .conftest import (
    OLLAMA_GEMMA,
    OLLAMA_QWEN,
    QA,
    CloseBackend,
    check_fault,
    check_session,
    free_url,
    inject,
    name,
    run_session,
    suite,
    write_suite,
)


def fault_of(session: Any, case_id: str, outcome: str, message: str) -> dict[str, Any]:
    record: dict[str, Any] = check_fault(session, case_id, outcome, message, model=OLLAMA_QWEN)
    return record


def test_unreachable_ollama_stops_before_collection(pytester: pytest.Pytester) -> None:
    root = write_suite(pytester.path / "suite", QA)
    url = free_url()
    result = pytester.runpytest(
        f"--lm-suite-dir={root}",
        f"--lm-model={OLLAMA_QWEN}",
        "--lm-backend=ollama",
        f"--lm-base-url={url}",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        plugins=[CloseBackend()],
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: cannot reach Ollama at {url} (ConnectError*); start it with `ollama serve`"]
    )
    assert "collected" not in result.stdout.str()


def test_ollama_dies_mid_session(pytester: pytest.Pytester, ollama: OllamaTestServer) -> None:
    root = suite(pytester, ollama)
    inject(ollama, "q02", Fault("die", after_tokens=1))
    session = run_session(pytester, ollama, root, [OLLAMA_QWEN])
    fault_of(session, "q02", "error", "Ollama closed the stream mid-response (*)")
    fault_of(session, "q03", "error", "cannot reach Ollama at *`ollama serve`")
    check_session(session, {name("q02", OLLAMA_QWEN), name("q03", OLLAMA_QWEN)}, items=3)


def test_ollama_stream_cut(pytester: pytest.Pytester, ollama: OllamaTestServer) -> None:
    root = suite(pytester, ollama)
    inject(ollama, "q02", Fault("cut", after_tokens=2))
    session = run_session(pytester, ollama, root, [OLLAMA_QWEN])
    fault_of(session, "q02", "error", "Ollama closed the stream mid-response (*)")
    check_session(session, {name("q02", OLLAMA_QWEN)}, items=3)


def test_ollama_stall_longer_than_the_timeout(
    pytester: pytest.Pytester, ollama: OllamaTestServer
) -> None:
    root = suite(pytester, ollama)
    inject(ollama, "q02", Fault("stall", after_tokens=1, seconds=6))
    session = run_session(pytester, ollama, root, [OLLAMA_QWEN], "--lm-timeout=1")
    record = fault_of(session, "q02", "error", "Ollama * longer than the timeout*")
    assert 0.9 < record["duration_s"] < 2.5
    check_session(session, {name("q02", OLLAMA_QWEN)}, items=3, timeout_s=1)


def test_ollama_http_errors(pytester: pytest.Pytester, ollama: OllamaTestServer) -> None:
    root = suite(pytester, ollama, qa=("q01", "q02", "q03", "q04"))
    inject(ollama, "q01", Fault("http_error", status=500, body={"error": "llama runner exited"}))
    inject(ollama, "q02", Fault("http_error", status=400, body={"error": "invalid options"}))
    inject(ollama, "q03", Fault("http_error", status=502, body="Bad\nGateway"))
    session = run_session(pytester, ollama, root, [OLLAMA_QWEN])
    fault_of(session, "q01", "error", "Ollama chat failed (HTTP 500): llama runner exited")
    fault_of(session, "q02", "error", "Ollama chat failed (HTTP 400): invalid options")
    fault_of(session, "q03", "error", "Ollama chat failed (HTTP 502): Bad Gateway")
    check_session(session, {name(c, OLLAMA_QWEN) for c in ("q01", "q02", "q03")}, items=4)


def test_ollama_200_with_an_error(pytester: pytest.Pytester, ollama: OllamaTestServer) -> None:
    root = suite(pytester, ollama)
    inject(ollama, "q01", Fault("error_200", body={"error": "model runner crashed"}))
    inject(ollama, "q02", Fault("error_event", after_tokens=2))  # an error line mid-stream
    session = run_session(pytester, ollama, root, [OLLAMA_QWEN])
    fault_of(session, "q01", "error", "Ollama chat stream failed (HTTP 200): model runner crashed")
    fault_of(session, "q02", "error", "Ollama chat stream failed (HTTP 200): *")
    check_session(session, {name("q01", OLLAMA_QWEN), name("q02", OLLAMA_QWEN)}, items=3)


def test_ollama_malformed_json_line(pytester: pytest.Pytester, ollama: OllamaTestServer) -> None:
    root = suite(pytester, ollama)
    inject(ollama, "q02", Fault("malformed", after_tokens=1))
    session = run_session(pytester, ollama, root, [OLLAMA_QWEN])
    fault_of(session, "q02", "error", "Ollama sent malformed JSON in the stream: '*'")
    check_session(session, {name("q02", OLLAMA_QWEN)}, items=3)


def test_ollama_tool_arguments_that_are_not_json(
    pytester: pytest.Pytester, ollama: OllamaTestServer
) -> None:
    root = suite(pytester, ollama, qa=("q01",), tooling=("t01", "t02"))
    inject(ollama, "t01", Fault("bad_tool_args"))
    session = run_session(pytester, ollama, root, [OLLAMA_QWEN])
    record = fault_of(session, "t01", "failed", "quality_score 0.000 < min_quality *")
    assert "arguments of get_weather are not JSON" in record["metrics"]["tool_problems"]
    check_session(session, {name("t01", OLLAMA_QWEN)}, items=3)


def test_ollama_answer_from_another_model(
    pytester: pytest.Pytester, ollama: OllamaTestServer
) -> None:
    root = suite(pytester, ollama)
    inject(ollama, "q02", Fault("wrong_model", model=OLLAMA_GEMMA))
    session = run_session(pytester, ollama, root, [OLLAMA_QWEN])
    fault_of(
        session,
        "q02",
        "error",
        f"asked Ollama for {OLLAMA_QWEN} but {OLLAMA_GEMMA} answered; *",
    )
    check_session(session, {name("q02", OLLAMA_QWEN)}, items=3)


def test_ollama_401_at_session_start_names_lm_api_token(
    pytester: pytest.Pytester, ollama: OllamaTestServer
) -> None:
    """Ollama has no auth of its own; behind an authenticating proxy it answers 401."""
    root = suite(pytester, ollama)
    ollama.engine.script.auth_token = "proxy-token"
    result = pytester.runpytest(
        f"--lm-suite-dir={root}",
        f"--lm-model={OLLAMA_QWEN}",
        "--lm-backend=ollama",
        f"--lm-base-url={ollama.base_url}",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        plugins=[CloseBackend()],
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: Ollama version failed (HTTP 401): unauthorized — set LM_API_TOKEN*"]
    )
    assert ollama.engine.load_calls == 0


def test_ollama_unknown_model_lists_the_models(
    pytester: pytest.Pytester, ollama: OllamaTestServer
) -> None:
    root = suite(pytester, ollama)
    session = run_session(pytester, ollama, root, ["nope:1b", OLLAMA_QWEN])
    for case_id in QA:
        check_fault(
            session,
            case_id,
            "error",
            f"model 'nope:1b' is not on Ollama at {ollama.base_url}; "
            f"it has: {OLLAMA_GEMMA}, {OLLAMA_QWEN}",
            model="nope:1b",
        )
    check_session(session, {name(c, "nope:1b") for c in QA}, items=6)
