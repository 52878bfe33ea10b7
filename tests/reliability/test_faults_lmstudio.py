"""The fault matrix against the LM Studio test server: one session per fault.

For each fault the item it hits fails (or errors) with one line, shown on its
terminal summary line and stored as its ``error``; every other item and model
goes on and passes; every result is stored; the exit status is 1; and no item
runs past ``--lm-timeout``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_lmbench.testing import Fault, LMStudioTestServer

from .conftest import (
    GEMMA,
    QA,
    QWEN,
    CloseBackend,
    check_fault,
    check_one_line,
    check_session,
    free_url,
    inject,
    name,
    run_session,
    suite,
    write_suite,
)

# -- the server is not there -------------------------------------------------------------


def test_unreachable_server_stops_before_collection_with_a_start_hint(
    pytester: pytest.Pytester,
) -> None:
    root = write_suite(pytester.path / "suite", QA)
    url = free_url()
    started = time.monotonic()
    result = pytester.runpytest(
        f"--lm-suite-dir={root}",
        f"--lm-model={QWEN}",
        f"--lm-base-url={url}",
        "--lm-timeout=2",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        plugins=[CloseBackend()],
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: cannot reach LM Studio at {url} (ConnectError*); "
            "start the server with `lms server start`*"
        ]
    )
    assert len([line for line in result.stderr.lines if line.startswith("ERROR")]) == 1
    assert "collected" not in result.stdout.str()  # stopped before collection
    assert not (pytester.path / "out" / "latest.json").exists()
    assert time.monotonic() - started < 10


def test_server_dies_mid_session(pytester: pytest.Pytester, lms: LMStudioTestServer) -> None:
    root = suite(pytester, lms)
    inject(lms, "q02", Fault("die", after_tokens=1))
    session = run_session(pytester, lms, root, [QWEN, GEMMA])
    check_fault(session, "q02", "error", "LM Studio closed the stream mid-response (*Error)")
    # What comes after cannot reach the server: each item says so at once, none hangs.
    check_fault(session, "q03", "error", "cannot reach LM Studio at *`lms server start`*")
    for case_id in QA:
        check_fault(
            session,
            case_id,
            "error",
            "loading google/gemma-3-4b failed: cannot reach LM Studio at *",
            model=GEMMA,
        )
    dead = {name("q02"), name("q03"), *(name(c, GEMMA) for c in QA)}
    check_session(session, dead, items=6)
    assert session.item("q01")["outcome"] == "passed"
    assert session.elapsed_s < 20


def test_stream_cut_mid_response(pytester: pytest.Pytester, lms: LMStudioTestServer) -> None:
    root = suite(pytester, lms, tooling=("t01",))
    inject(lms, "q02", Fault("cut", after_tokens=2))
    inject(lms, "t01", Fault("cut", after_tokens=1))  # the OpenAI-compatible route (tools)
    session = run_session(pytester, lms, root, [QWEN])
    check_fault(session, "q02", "error", "LM Studio closed the stream mid-response (*)")
    check_fault(session, "t01", "error", "LM Studio closed the stream mid-response (*)")
    check_session(session, {name("q02"), name("t01")}, items=4)


def test_stall_longer_than_the_timeout(pytester: pytest.Pytester, lms: LMStudioTestServer) -> None:
    root = suite(pytester, lms, qa=("q01", "q02", "q03", "q04"))
    inject(lms, "q02", Fault("stall", after_tokens=0, seconds=6))  # before the first token
    inject(lms, "q03", Fault("stall", after_tokens=2, seconds=6))  # mid-answer
    session = run_session(pytester, lms, root, [QWEN], "--lm-timeout=1")
    for case_id in ("q02", "q03"):
        record = check_fault(session, case_id, "error", "LM Studio * longer than the timeout*")
        assert 0.9 < record["duration_s"] < 2.5, record["duration_s"]
    check_session(session, {name("q02"), name("q03")}, items=4, timeout_s=1)


def test_stalled_load_errors_that_model_and_the_next_model_runs(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    root = suite(pytester, lms)
    lms.engine.faults.append(Fault("stall", route="/api/v1/models/load", times=1, seconds=6))
    session = run_session(pytester, lms, root, [QWEN, GEMMA], "--lm-timeout=1")
    for case_id in QA:
        check_fault(
            session,
            case_id,
            "error",
            "loading qwen/qwen3-4b failed: LM Studio at * did not answer within the timeout*",
        )
    check_session(session, {name(c) for c in QA}, items=6, timeout_s=1)
    models = {m["key"]: m for m in session.report["models"]}
    assert models[QWEN]["status"] == "load_failed"
    assert models[GEMMA]["status"] == "ok"


# Every error shape of the fact sheet (§0), each on its own item: (status, body, line).
ERROR_SHAPES: dict[str, tuple[int, dict[str, Any] | str, str]] = {
    "q01": (
        400,
        {
            "error": {
                "message": "Invalid discriminator value. Expected 'text' | 'image'",
                "type": "invalid_request",
                "code": "invalid_union",
                "param": "input",
            }
        },
        "LM Studio chat failed (HTTP 400, invalid_union): "
        "Invalid discriminator value. Expected 'text' | 'image'",
    ),
    "q02": (
        400,
        {
            "error": {
                "type": "invalid_request",
                "message": '"model" is required',
                "code": "missing_required_parameter",
                "param": "model",
            }
        },
        'LM Studio chat failed (HTTP 400, missing_required_parameter): "model" is required',
    ),
    "q03": (
        400,
        {
            "error": {
                "type": "invalid_request",
                "message": "Unrecognized key(s) in object: 'stop'",
                "code": "unrecognized_keys",
            }
        },
        "LM Studio chat failed (HTTP 400, unrecognized_keys): "
        "Unrecognized key(s) in object: 'stop'",
    ),
    "q04": (
        404,
        {
            "error": {
                "type": "model_not_found",
                "message": "Model totally/made-up-9000 not found in downloaded models",
            }
        },
        "LM Studio chat failed (HTTP 404, model_not_found): "
        "Model totally/made-up-9000 not found in downloaded models",
    ),
    "q05": (
        400,
        {
            "error": {
                "message": "No models loaded. Please load a model in the developer page "
                "or use the 'lms load' command.",
                "type": "invalid_request_error",
                "param": "model",
                "code": None,
            }
        },
        "LM Studio chat failed (HTTP 400, invalid_request_error): No models loaded.*",
    ),
    "q06": (
        400,
        {
            "error": {
                "message": "Invalid type for 'input'.",
                "type": "invalid_request_error",
                "param": "input",
                "code": "invalid_union",
            }
        },
        "LM Studio chat failed (HTTP 400, invalid_union): Invalid type for 'input'.",
    ),
    "q07": (
        400,
        {"error": "'response_format.type' must be 'json_schema' or 'text'"},
        "LM Studio chat failed (HTTP 400): 'response_format.type' must be 'json_schema' or 'text'",
    ),
    "q08": (
        500,
        {"error": {"type": "internal_error", "message": "llama.cpp crashed\n  at decode()"}},
        "LM Studio chat failed (HTTP 500, internal_error): llama.cpp crashed at decode()",
    ),
    "q09": (
        502,
        "<html>\n<body>Bad Gateway</body>\n</html>",
        "LM Studio chat failed (HTTP 502): <html> <body>Bad Gateway</body> </html>",
    ),
    "q10": (503, "", "LM Studio chat failed (HTTP 503): HTTP 503"),
    # The OpenAI-compatible route (tooling items use it), multi-line message and all.
    "t01": (
        404,
        {
            "error": {
                "message": 'Model "x" not found. Please specify a valid model.\n\n'
                "Your models:\n\nqwen/qwen3-4b\ngoogle/gemma-3-4b",
                "type": "invalid_request_error",
                "param": "model",
                "code": "model_not_found",
            }
        },
        'LM Studio chat failed (HTTP 404, model_not_found): Model "x" not found. '
        "Please specify a valid model. Your models: qwen/qwen3-4b google/gemma-3-4b",
    ),
}


def test_http_4xx_and_5xx_in_every_documented_error_shape(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    qa = (*(c for c in ERROR_SHAPES if c.startswith("q")), "q11")
    root = suite(pytester, lms, qa=qa, tooling=("t01", "t02"))
    for case_id, (status, body, _) in ERROR_SHAPES.items():
        inject(lms, case_id, Fault("http_error", status=status, body=body))
    session = run_session(pytester, lms, root, [QWEN])
    for case_id, (_, _, line) in ERROR_SHAPES.items():
        check_fault(session, case_id, "error", line)
    check_session(session, {name(c) for c in ERROR_SHAPES}, items=len(qa) + 2)


def test_http_200_with_an_error_body(pytester: pytest.Pytester, lms: LMStudioTestServer) -> None:
    root = suite(pytester, lms, qa=("q01", "q02", "q03", "q04"), tooling=("t01", "t02"))
    # What an old server answers for an unknown route: HTTP 200, error as a string.
    unknown = {"error": "Unexpected endpoint or method. (POST /api/v1/chat)"}
    inject(lms, "q01", Fault("error_200", body=unknown))
    inject(lms, "q02", Fault("error_200", body={"error": {"type": "unknown", "message": "boom"}}))
    inject(lms, "q03", Fault("error_event", after_tokens=2))  # an SSE `error` event mid-answer
    inject(lms, "t01", Fault("error_200", body={"error": "Model crashed"}))
    inject(lms, "t02", Fault("error_event", after_tokens=1))
    session = run_session(pytester, lms, root, [QWEN])
    check_fault(
        session,
        "q01",
        "error",
        "LM Studio chat failed (HTTP 200): Unexpected endpoint or method. (POST /api/v1/chat)",
    )
    check_fault(session, "q02", "error", "LM Studio chat failed (HTTP 200, unknown): boom")
    check_fault(session, "q03", "error", "LM Studio chat stream failed (HTTP 200*): *")
    check_fault(session, "t01", "error", "LM Studio chat failed (HTTP 200): Model crashed")
    check_fault(session, "t02", "error", "LM Studio stream failed (HTTP 200*): *")
    check_session(session, {name(c) for c in ("q01", "q02", "q03", "t01", "t02")}, items=6)


def test_malformed_sse_and_json(pytester: pytest.Pytester, lms: LMStudioTestServer) -> None:
    root = suite(pytester, lms, tooling=("t01",))
    inject(lms, "q02", Fault("malformed", after_tokens=1))  # native v1 SSE
    inject(lms, "t01", Fault("malformed", after_tokens=1))  # OpenAI-compatible SSE
    session = run_session(pytester, lms, root, [QWEN])
    check_fault(session, "q02", "error", "LM Studio sent malformed JSON in the stream: '*'")
    check_fault(session, "t01", "error", "LM Studio sent malformed JSON in the stream: '*'")
    check_session(session, {name("q02"), name("t01")}, items=4)


def test_malformed_json_answer_to_a_load(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    root = suite(pytester, lms)
    lms.engine.faults.append(Fault("malformed", route="/api/v1/models/load", times=1))
    session = run_session(pytester, lms, root, [QWEN, GEMMA])
    for case_id in QA:
        check_fault(
            session,
            case_id,
            "error",
            "LM Studio load of qwen/qwen3-4b answered HTTP 200 with a body that is not "
            "a JSON object: '*'",
        )
    check_session(session, {name(c) for c in QA}, items=6)


def test_tool_arguments_that_are_not_json(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    root = suite(pytester, lms, tooling=("t01", "t02"))
    inject(lms, "t01", Fault("bad_tool_args"))
    session = run_session(pytester, lms, root, [QWEN])
    record = check_fault(session, "t01", "failed", "quality_score 0.000 < min_quality *")
    assert record["metrics"]["args_correct"] == 0.0
    assert "arguments of get_weather are not JSON" in record["metrics"]["tool_problems"]
    session.result.stdout.fnmatch_lines(["*tool_problems*arguments of get_weather are not JSON*"])
    check_session(session, {name("t01")}, items=5)


def test_tool_arguments_that_are_not_json_are_named_on_the_summary_line(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    root = suite(pytester, lms, qa=("q01",), tooling=("t01",))
    inject(lms, "t01", Fault("bad_tool_args"))
    session = run_session(pytester, lms, root, [QWEN])
    check_fault(session, "t01", "failed", "*arguments of get_weather are not JSON*")


def test_answer_from_another_model(pytester: pytest.Pytester, lms: LMStudioTestServer) -> None:
    root = suite(pytester, lms)
    inject(lms, "q02", Fault("wrong_model", model=GEMMA))
    session = run_session(pytester, lms, root, [QWEN])
    check_fault(
        session,
        "q02",
        "error",
        f"asked LM Studio for {QWEN} but {GEMMA} answered; "
        "another model is loaded or the key is wrong",
    )
    check_session(session, {name("q02")}, items=3)


def test_answer_from_another_model_fails_without_a_traceback(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    root = suite(pytester, lms, qa=("q01",))
    inject(lms, "q01", Fault("wrong_model", model=GEMMA))
    session = run_session(pytester, lms, root, [QWEN])
    output = session.result.stdout.str()
    assert "def check_model" not in output
    assert "ModelMismatch" not in output


# -- authentication and model keys -------------------------------------------------------


def test_401_at_session_start_names_lm_api_token(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    root = suite(pytester, lms)
    lms.engine.script.auth_token = "sk-lm-abc:def"
    result = pytester.runpytest(
        f"--lm-suite-dir={root}",
        f"--lm-model={QWEN}",
        f"--lm-base-url={lms.base_url}",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        plugins=[CloseBackend()],
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: LM Studio list models failed (HTTP 401, invalid_api_key): "
            "An LM Studio API token is required *— set LM_API_TOKEN*"
        ]
    )
    assert lms.engine.load_calls == 0


def test_401_mid_session_names_lm_api_token(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    root = suite(pytester, lms)
    body = {
        "error": {
            "type": "invalid_request",
            "code": "invalid_api_key",
            "message": "The provided LM Studio API token is invalid.",
        }
    }
    inject(lms, "q02", Fault("http_error", status=401, body=body))
    session = run_session(pytester, lms, root, [QWEN])
    record = check_fault(
        session, "q02", "error", "LM Studio chat failed (HTTP 401, invalid_api_key): *"
    )
    assert "set LM_API_TOKEN" in record["error"]
    check_session(session, {name("q02")}, items=3)


def test_unknown_model_key_lists_the_models_the_server_has(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    root = suite(pytester, lms)
    session = run_session(pytester, lms, root, ["nope/x", QWEN])
    for case_id in QA:
        check_fault(
            session,
            case_id,
            "error",
            f"model 'nope/x' is not on LM Studio at {lms.base_url}; it has: {GEMMA}, {QWEN}",
            model="nope/x",
        )
    check_session(session, {name(c, "nope/x") for c in QA}, items=6)
    loads = [r.json for r in lms.engine.requests if r.path == "/api/v1/models/load"]
    assert loads == [{"model": QWEN, "echo_load_config": True}]


def test_every_error_line_is_one_line(pytester: pytest.Pytester, lms: LMStudioTestServer) -> None:
    """A multi-line server message still makes a one-line error everywhere it is shown."""
    root = suite(pytester, lms, qa=("q01", "q02"))
    inject(lms, "q01", Fault("http_error", status=500, body={"error": "line one\nline two\n"}))
    session = run_session(pytester, lms, root, [QWEN])
    record = check_fault(
        session, "q01", "error", "LM Studio chat failed (HTTP 500): line one line two"
    )
    check_one_line(record["error"])
    check_session(session, {name("q01")}, items=2)


def test_a_failed_request_shows_its_line_without_an_exception_chain(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    root = suite(pytester, lms, qa=("q01",))
    inject(lms, "q01", Fault("cut", after_tokens=1))
    session = run_session(pytester, lms, root, [QWEN])
    output = session.result.stdout.str()
    assert "LM Studio closed the stream mid-response" in output
    assert "The above exception was the direct cause" not in output
    assert "During handling of the above exception" not in output
