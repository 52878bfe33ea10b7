"""Security: the API token never leaks, reports escape what they show, inputs stay inside.

The token test runs a session with a known token, with failures and debug logs
on, then searches every byte the session wrote and printed. The other tests
feed hostile text through a model's answer, a suite and a server error, and
check the HTML; hostile paths and YAML tags are refused before anything runs;
a tool call the model makes is only ever checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_lmbench.redaction import printable
from pytest_lmbench.testing import AnswerRule, Fault, LMStudioTestServer

from .conftest import (
    QA_FACTS,
    QWEN,
    CloseBackend,
    answer_suite,
    lmbench_args,
    mark,
    run_session,
    write_suite,
)

TOKEN = "sk-lm-TESTTOKEN:SECRET123"
SECRET = "SECRET123"


def written_files(folder: Path) -> dict[str, bytes]:
    """Every file the session left under ``folder`` (the suite it read is not output)."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "suite" not in path.relative_to(folder).parts
    }


def test_api_token_never_appears_in_store_reports_logs_or_terminal(
    pytester: pytest.Pytester, lms: LMStudioTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LM_API_TOKEN", TOKEN)
    lms.engine.script.auth_token = TOKEN
    root = write_suite(pytester.path / "suite", ("q01", "q02", "q03"), tooling=("t01",))
    answer_suite(lms, root)
    # Failures too: error paths are where a careless message would quote a header.
    lms.engine.faults.append(Fault("http_error", match=mark("q02"), status=500))
    lms.engine.faults.append(Fault("cut", match=mark("q03"), after_tokens=1))
    session = run_session(
        pytester,
        lms,
        root,
        [QWEN, "nope/x"],
        "--lm-formats=json,html,csv",
        f"--log-file={pytester.path / 'session.log'}",
        "--log-file-level=DEBUG",
        "--log-level=DEBUG",
        f"--junitxml={pytester.path / 'junit.xml'}",
        "-rA",
        "--showlocals",
        "--tb=long",
    )
    # The token was in use: requests carried it and the first items passed.
    assert session.item("q01")["outcome"] == "passed"
    assert any(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in lms.engine.requests)

    files = written_files(pytester.path)
    expected = {"r.db", "session.log", "junit.xml"} | {
        f"out/latest.{fmt}" for fmt in ("json", "html", "csv")
    }
    assert expected <= set(files), sorted(files)
    assert b"httpx" in files["session.log"]  # debug logging really was on
    for name, data in files.items():
        assert SECRET.encode() not in data, name
        assert b"TESTTOKEN" not in data, name
    for stream in (session.result.stdout.str(), session.result.stderr.str()):
        assert SECRET not in stream
    settings = session.report["run"]["settings"]
    assert settings["lm_api_token_set"] is True
    assert "lm_api_token" not in settings


ECHO = {"error": {"message": f"request headers were: Authorization: Bearer {TOKEN}"}}


def test_a_token_the_server_echoes_back_is_masked_everywhere(
    pytester: pytest.Pytester, lms: LMStudioTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy or debug server that quotes the request headers in its error body."""
    monkeypatch.setenv("LM_API_TOKEN", TOKEN)
    lms.engine.script.auth_token = TOKEN
    root = write_suite(pytester.path / "suite", ("q01", "q02"))
    answer_suite(lms, root)
    lms.engine.faults.append(Fault("http_error", match=mark("q02"), status=500, body=ECHO))
    session = run_session(
        pytester, lms, root, [QWEN], "--lm-formats=json,html,csv", "-rA", "--tb=long"
    )
    assert "request headers were: Authorization: Bearer ***" in str(session.item("q02")["error"])
    for name, data in written_files(pytester.path).items():
        assert SECRET.encode() not in data, name
    for stream in (session.result.stdout.str(), session.result.stderr.str()):
        assert SECRET not in stream


def test_a_token_echoed_at_session_start_is_masked(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    lms.engine.faults.append(Fault("http_error", route="/api/v1/models", status=401, body=ECHO))
    root = write_suite(pytester.path / "suite", ("q01",))
    result = pytester.runpytest(
        f"--lm-suite-dir={root}",
        f"--lm-model={QWEN}",
        f"--lm-api-token={TOKEN}",
        *lmbench_args(lms, pytester.path),
        plugins=[CloseBackend()],
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*request headers were: Authorization: Bearer ****"])
    assert SECRET not in result.stdout.str() + result.stderr.str()


def test_credentials_in_the_base_url_are_masked_in_reports(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    root = write_suite(pytester.path / "suite", ("q01",))
    answer_suite(lms, root)
    with_password = lms.base_url.replace("http://", "http://bench:PROXYPASS99@")
    session = run_session(pytester, lms, root, [QWEN], f"--lm-base-url={with_password}")
    assert session.item("q01")["outcome"] == "passed"
    run = session.report["run"]
    assert run["base_url"] == lms.base_url.replace("http://", "http://bench:***@")
    assert run["settings"]["lm_base_url"] == run["base_url"]
    for name, data in written_files(pytester.path).items():
        assert b"PROXYPASS99" not in data, name
    assert "PROXYPASS99" not in session.result.stdout.str() + session.result.stderr.str()


def test_a_refused_token_is_not_echoed(pytester: pytest.Pytester, lms: LMStudioTestServer) -> None:
    lms.engine.script.auth_token = TOKEN
    root = write_suite(pytester.path / "suite", ("q01",))
    result = pytester.runpytest(
        f"--lm-suite-dir={root}",
        f"--lm-model={QWEN}",
        "--lm-api-token=sk-lm-WRONG:SECRET456",
        *lmbench_args(lms, pytester.path),
        plugins=[CloseBackend()],
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: LM Studio list models failed (HTTP 401, invalid_api_key): "
            "The provided LM Studio API token is invalid. — set LM_API_TOKEN*"
        ]
    )
    assert "SECRET456" not in result.stdout.str() + result.stderr.str()


# -- reports escape what they show --------------------------------------------------------

ANSWER = '<script>alert("answer-xss")</script>'
QUESTION = 'What does <script>alert("suite-xss")</script> print?'
REFERENCE = '<img src=x onerror=alert("ref-xss")>'
SERVER_ERROR = '<script>alert("error-xss")</script>'
MODEL_NAME = '<svg onload=alert("model-xss")>'


def test_reports_escape_model_output_suite_text_and_server_errors(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    facts = {**QA_FACTS, "q01": (QUESTION, REFERENCE)}
    root = write_suite(pytester.path / "suite", ("q01", "q02", "q03"), facts=facts)
    answer_suite(lms, root)
    lms.engine.answers.insert(0, AnswerRule(match=mark("q01"), content=ANSWER))
    lms.engine.faults.append(Fault("http_error", match=mark("q02"), body={"error": SERVER_ERROR}))
    lms.engine.models[QWEN].display_name = MODEL_NAME
    session = run_session(pytester, lms, root, [QWEN], "--lm-formats=json,html,csv")

    data = session.report  # the JSON holds the text as it was: it is data, not markup
    assert data["results"][0]["output"] == ANSWER
    assert QUESTION in data["results"][0]["prompt"]
    assert SERVER_ERROR in data["results"][1]["error"]

    html = (pytester.path / "out" / "latest.html").read_text()
    for raw in (ANSWER, QUESTION, REFERENCE, SERVER_ERROR, MODEL_NAME):
        assert raw not in html
    for tag in ("<script>alert(", "<img src=x", "<svg onload"):
        assert tag not in html
    # Shown, escaped: the answer, the suite's question and the server's error.
    assert html.count("&lt;script&gt;alert(") >= 3


def test_a_case_id_with_markup_is_refused(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    root = write_suite(pytester.path / "suite", ("q01",))
    suite_file = root / "general_text" / "qa.json"
    suite = json.loads(suite_file.read_text())
    suite["cases"][0]["id"] = "<script>alert(1)</script>"
    suite_file.write_text(json.dumps(suite))
    result = pytester.runpytest(
        f"--lm-suite-dir={root}", f"--lm-model={QWEN}", *lmbench_args(lms, pytester.path)
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # a collection error; other suites go on
    result.stdout.fnmatch_lines(["*qa.json: case *: field id: String should match pattern*"])
    assert not any(r.path.endswith("/chat") for r in lms.engine.requests)


# -- paths and YAML ---------------------------------------------------------------------------


def vision_suite(root: Path, image: str, template: str = "caption.md") -> Path:
    folder = root / "vision"
    folder.mkdir(parents=True)
    (folder / "caption.md").write_text("{{ question }}\n")
    case = {"id": "v01", "image": image, "input": {"question": "Describe it."}, "references": ["x"]}
    suite = {"capability": "vision", "task": "caption", "template": template, "cases": [case]}
    (folder / "caption.json").write_text(json.dumps(suite))
    return root


@pytest.mark.parametrize(
    ("image", "template"),
    [
        ("../../etc/passwd", "caption.md"),
        ("/etc/passwd", "caption.md"),
        ("linked.png", "caption.md"),  # a symlink that points outside
        ("images/ok.png", "../../../etc/passwd"),  # the template may not leave either
    ],
)
def test_suite_paths_cannot_leave_the_suite_folder(
    pytester: pytest.Pytester, lms: LMStudioTestServer, image: str, template: str
) -> None:
    root = vision_suite(pytester.path / "suite", image, template)
    (root / "vision" / "images").mkdir()
    (root / "vision" / "images" / "ok.png").write_bytes(b"\x89PNG")
    (root / "vision" / "linked.png").symlink_to("/etc/passwd")
    result = pytester.runpytest(
        f"--lm-suite-dir={root}", f"--lm-model={QWEN}", *lmbench_args(lms, pytester.path)
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # a collection error; other suites go on
    shown = image if template == "caption.md" else template
    result.stdout.fnmatch_lines([f"*path {shown!r} leaves the suite folder*"])
    assert not any(r.path.endswith("/chat") for r in lms.engine.requests)
    passwd = Path("/etc/passwd").read_bytes()[:32]
    assert all(passwd not in data for data in written_files(pytester.path).values())


@pytest.mark.parametrize("option", ["--lm-config", "--lm-gates"])
@pytest.mark.parametrize(
    "tag", ["!!python/object/apply:os.system", "!!python/object/new:os.system"]
)
def test_yaml_with_python_tags_is_refused(
    pytester: pytest.Pytester, lms: LMStudioTestServer, option: str, tag: str
) -> None:
    marker = pytester.path / "pwned"
    key = "lm_model" if option == "--lm-config" else "general_text"
    evil = pytester.path / "evil.yaml"
    evil.write_text(f'{key}: {tag} ["touch {marker}"]\n')
    root = write_suite(pytester.path / "suite", ("q01",))
    answer_suite(lms, root)
    result = pytester.runpytest(
        f"--lm-suite-dir={root}",
        f"--lm-model={QWEN}",
        f"{option}={evil}",
        *lmbench_args(lms, pytester.path),
        plugins=[CloseBackend()],
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {option}: *evil.yaml is not valid YAML at line 1"])
    assert not marker.exists()
    assert lms.engine.load_calls == 0


BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
)


@pytest.mark.parametrize("option", ["--lm-config", "--lm-gates"])
def test_a_yaml_alias_bomb_is_one_line_not_gigabytes(
    pytester: pytest.Pytester, lms: LMStudioTestServer, option: str
) -> None:
    bomb = pytester.path / "bomb.yaml"
    bomb.write_text(BILLION_LAUGHS + "\n")
    assert len(bomb.read_bytes()) < 1024
    root = write_suite(pytester.path / "suite", ("q01",))
    result = pytester.runpytest(
        f"--lm-suite-dir={root}",
        f"--lm-model={QWEN}",
        f"{option}={bomb}",
        *lmbench_args(lms, pytester.path),
        plugins=[CloseBackend()],
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    line = f"ERROR: {option}: *bomb.yaml is not valid YAML at line 2: YAML aliases * not accepted"
    result.stderr.fnmatch_lines([line])
    assert lms.engine.load_calls == 0


def test_model_output_cannot_drive_the_terminal_and_long_failures_are_capped(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    root = write_suite(pytester.path / "suite", ("q01", "q02"))
    hostile = "\x1b]0;pwned\x07\x1b[2J\rwrong answer"
    lms.engine.answers[:] = [
        AnswerRule(mark("q01"), content=hostile),
        AnswerRule(mark("q02"), content="no " * 40_000),
    ]
    result = run_session(pytester, lms, root, [QWEN], "--lm-min-quality=0.9", "-rA").result
    out = result.stdout.str() + result.stderr.str()
    for control in ("\x1b", "\x07", "\r"):
        assert control not in out
    assert "\\x1b]0;pwned\\x07" in out  # shown, escaped
    assert max(len(line) for line in result.stdout.lines) < 10_000


def test_a_failure_message_is_capped() -> None:
    calls = "; ".join(f"call {i}: unexpected tool" for i in range(100_000))
    shown = printable(calls)
    assert len(shown) < 2100
    assert shown.endswith(f"… ({len(calls) - 2000:,} more characters)")


# -- tool calls ----------------------------------------------------------------------------

SHELL_TOOL = {
    "type": "function",
    "function": {
        "name": "run_shell",
        "description": "Run a shell command.",
        "parameters": {
            "type": "object",
            "properties": {"cmd": {"type": "string"}},
            "required": ["cmd"],
        },
    },
}


def test_tool_calls_are_checked_never_executed(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    marker = pytester.path / "pwned"
    commands = {
        "t01": f"touch {marker}",
        "t02": f"__import__('os').system('touch {marker}')",
    }
    root = pytester.path / "suite" / "tooling"
    root.mkdir(parents=True)
    (root / "calls.md").write_text("{{ request }}\n")
    cases = [
        {
            "id": case_id,
            "input": {"request": f"{mark(case_id)} Run {command}"},
            "expected_calls": [{"name": "run_shell", "arguments": {"cmd": [command]}}],
        }
        for case_id, command in commands.items()
    ]
    suite = {
        "capability": "tooling",
        "task": "function_call",
        "template": "calls.md",
        "tools": [SHELL_TOOL],
        "cases": cases,
    }
    (root / "calls.json").write_text(json.dumps(suite))
    answer_suite(lms, root.parent)
    session = run_session(pytester, lms, root.parent, [QWEN])

    assert session.result.ret == pytest.ExitCode.OK  # the calls were right, and only checked
    assert not marker.exists()
    for case_id, command in commands.items():
        record = session.item(case_id)
        assert record["metrics"]["function_call_accuracy"] == 1.0
        # Kept verbatim for the report, as data: the arguments string the model sent.
        (call,) = json.loads(record["output"].removeprefix("tool_calls: "))
        assert call == {"name": "run_shell", "arguments": json.dumps({"cmd": command})}


def test_a_database_password_never_appears_in_reports(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    root = write_suite(pytester.path / "suite", ("q01",))
    answer_suite(lms, root)
    session = run_session(
        pytester,
        lms,
        root,
        [QWEN],
        "--lm-formats=json,html,csv",
        "--lm-db=postgresql://bench:hunter2@db.example/results",
        "--lm-no-db",  # the URL is still a setting, and settings are reported
    )
    assert session.result.ret == pytest.ExitCode.OK
    assert "bench:***@db.example" in session.report["run"]["settings"]["lm_db"]
    for name, data in written_files(pytester.path).items():
        assert b"hunter2" not in data, name
