"""Fault-matrix fixtures: fast test servers, a suite whose every case is addressable, run helpers.

Each case's question starts with ``Case <id>:`` so a fault can target exactly one
item (``Fault(..., match=mark("q03"))``) while the oracle answers every other
item correctly. Runs go through pytester in-process unless a test needs a
signal or a second process.
"""

from __future__ import annotations

import fnmatch
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis  # noqa: F401  (see _warm_store: the inner runs' plugin imports it)
import pytest

import pytest_lmbench.reporting.terminal
import pytest_lmbench.sampling.cpu  # noqa: F401  (imported lazily by inner runs)
from pytest_lmbench.records import ModelEntry, ResultEntry, RunInfo
from pytest_lmbench.session.state import SESSION_KEY
from pytest_lmbench.storage.store import open_store
from pytest_lmbench.testing import (
    FakeEngine,
    FakeModel,
    Fault,
    LMStudioTestServer,
    OllamaTestServer,
)
from pytest_lmbench.testing.oracle import oracle_rules


def _warm_store() -> None:
    """Open, write and close a throwaway store once, before any in-process run.

    pytester restores ``sys.modules`` after each inner run, so whatever SQLAlchemy
    and Alembic import lazily on first use would be imported afresh by the next
    run and mix with the copies other modules hold ("'InternalTraversal' object
    is not callable"). Importing it all here, once, keeps one copy. The same goes
    for hypothesis, whose pytest plugin imports it in every inner run (about a
    second each, assertion rewriting included).
    """
    with (
        tempfile.TemporaryDirectory() as folder,
        open_store(f"sqlite:///{folder}/warm.db") as store,
    ):
        run = RunInfo(
            id="warm",
            started_at="2026-01-01T00:00:00+00:00",
            backend="lmstudio",
            base_url="http://127.0.0.1:1",
            plugin_version="0",
        )
        store.begin_run(run)
        store.save_model(run.id, ModelEntry(key="m"))
        store.add_result(
            run.id,
            ResultEntry(
                nodeid="n",
                model="m",
                kind="capability",
                capability="c",
                case_id="c",
                outcome="passed",
            ),
        )
        store.history("m", None)
        store.previous_result("m", "n", None, run.id)
        store.finish_run(run.id, "completed", "2026-01-01T00:01:00+00:00")


_warm_store()

QWEN = "qwen/qwen3-4b"
GEMMA = "google/gemma-3-4b"
OLLAMA_QWEN = "qwen3:4b"
OLLAMA_GEMMA = "gemma3:4b"


def lmstudio_models() -> list[FakeModel]:
    """Fresh objects for each server: a test may change a model (its name, say)."""
    return [
        FakeModel(key=QWEN, tool_use=True),
        FakeModel(key=GEMMA, kind="vlm", tool_use=True, vision=True),
    ]


def ollama_models() -> list[FakeModel]:
    return [
        FakeModel(key=OLLAMA_QWEN, architecture="qwen3", tool_use=True),
        FakeModel(key=OLLAMA_GEMMA, kind="vlm", architecture="gemma3", vision=True, tool_use=True),
    ]


# Facts of the general_text cases: id -> (question, reference).
QA_FACTS: dict[str, tuple[str, str]] = {
    "q01": ("What is the capital of France?", "Paris"),
    "q02": ("In which year did people first land on the Moon?", "1969"),
    "q03": ("What is the chemical symbol of gold?", "Au"),
    "q04": ("Which planet is known as the red planet?", "Mars"),
    "q05": ("How many legs does a spider have?", "8"),
    "q06": ("What is the largest ocean on Earth?", "Pacific"),
    "q07": ("Who wrote Hamlet?", "Shakespeare"),
    "q08": ("What is the boiling point of water in Celsius?", "100"),
    "q09": ("What gas do plants take in for photosynthesis?", "CO2"),
    "q10": ("What is the capital of Japan?", "Tokyo"),
    "q11": ("How many continents are there?", "7"),
    "q12": ("What is the smallest prime number?", "2"),
}
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a place.",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


def mark(case_id: str) -> str:
    """The text that starts a case's prompt: a fault matching it hits that item only."""
    return f"Case {case_id}:"


def fast(engine: FakeEngine) -> None:
    """Timing fast enough for a fault matrix, slow enough to be a real stream."""
    engine.script.ttft_s = 0.002
    engine.script.token_interval_s = 0.0005
    engine.script.load_delay_s = 0.001


def write_suite(
    root: Path,
    qa: Sequence[str] = ("q01", "q02", "q03"),
    *,
    tooling: Sequence[str] = (),
    throughput: bool = False,
    facts: dict[str, tuple[str, str]] | None = None,
) -> Path:
    """A user suite with the given general_text cases, tooling cases and throughput point."""
    facts = facts or QA_FACTS
    folder = root / "general_text"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "qa.md").write_text("{{ question }}\nAnswer briefly.\n")
    cases = [
        {
            "id": cid,
            "input": {"question": f"{mark(cid)} {facts[cid][0]}"},
            "references": [facts[cid][1]],
        }
        for cid in qa
    ]
    suite = {"capability": "general_text", "task": "qa", "template": "qa.md", "cases": cases}
    (folder / "qa.json").write_text(json.dumps(suite))
    if tooling:
        tools = root / "tooling"
        tools.mkdir(exist_ok=True)
        (tools / "calls.md").write_text("{{ request }}\n")
        calls = [
            {
                "id": cid,
                "input": {"request": f"{mark(cid)} What's the weather like in Paris right now?"},
                "expected_calls": [{"name": "get_weather", "arguments": {"location": ["Paris"]}}],
            }
            for cid in tooling
        ]
        tool_suite = {
            "capability": "tooling",
            "task": "function_call",
            "template": "calls.md",
            "tools": [WEATHER_TOOL],
            "cases": calls,
        }
        (tools / "calls.json").write_text(json.dumps(tool_suite))
    if throughput:
        grid = root / "throughput"
        grid.mkdir(exist_ok=True)
        point = {"prompt_tokens": 32, "gen_tokens": 8, "concurrency": 1}
        (grid / "grid.json").write_text(json.dumps({"capability": "throughput", "cases": [point]}))
    return root


@pytest.fixture
def lms() -> Iterator[LMStudioTestServer]:
    with LMStudioTestServer(lmstudio_models()) as server:
        fast(server.engine)
        yield server


@pytest.fixture
def ollama() -> Iterator[OllamaTestServer]:
    with OllamaTestServer(ollama_models()) as server:
        fast(server.engine)
        yield server


def answer_suite(server: LMStudioTestServer | OllamaTestServer, root: Path) -> None:
    """Make the server answer every case of the suite at ``root`` correctly."""
    server.engine.answers[:] = oracle_rules([root])


QA = ("q01", "q02", "q03")


def suite(
    pytester: pytest.Pytester,
    server: LMStudioTestServer | OllamaTestServer,
    qa: tuple[str, ...] = QA,
    tooling: tuple[str, ...] = (),
) -> Path:
    """Write the fault suite into the pytester folder and make the server answer it."""
    root = write_suite(pytester.path / "suite", qa, tooling=tooling)
    answer_suite(server, root)
    return root


def inject(server: LMStudioTestServer | OllamaTestServer, case_id: str, fault: Fault) -> None:
    """A fault that hits only the item of ``case_id``."""
    fault.match = mark(case_id)
    server.engine.faults.append(fault)


def lmbench_args(
    server: LMStudioTestServer | OllamaTestServer,
    tmp: Path,
    *extra: str,
    db: bool = True,
) -> list[str]:
    args = [
        f"--lm-base-url={server.base_url}",
        f"--lm-output-dir={tmp / 'out'}",
        f"--lm-db={db_url(tmp)}" if db else "--lm-no-db",
        "--lm-runs=1",
        "--lm-warmup=0",
        "--lm-timeout=2",
        "-p",
        "no:cacheprovider",
    ]
    if isinstance(server, OllamaTestServer):
        args.append("--lm-backend=ollama")
    return [*args, *extra]


def db_path(tmp: Path) -> Path:
    return tmp / "r.db"


def db_url(tmp: Path) -> str:
    return f"sqlite:///{db_path(tmp)}"


def read_report(tmp: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp / "out" / "latest.json").read_text())
    return data


@dataclass(frozen=True)
class StoredRun:
    status: str
    outcomes: dict[str, str]  # nodeid -> outcome
    errors: dict[str, str | None]  # nodeid -> error


def stored_runs(path: Path) -> dict[str, StoredRun]:
    """Every run in a SQLite results file, read with plain sqlite3 (not through the store)."""
    connection = sqlite3.connect(path)
    try:
        runs = dict(connection.execute("SELECT id, status FROM runs").fetchall())
        rows = connection.execute("SELECT run_id, nodeid, outcome, error FROM results").fetchall()
    finally:
        connection.close()
    found = {run_id: StoredRun(status, {}, {}) for run_id, status in runs.items()}
    for run_id, nodeid, outcome, error in rows:
        found[run_id].outcomes[nodeid] = outcome
        found[run_id].errors[nodeid] = error
    return found


@dataclass
class Session:
    """One finished inner pytest session and everything it left behind."""

    result: pytest.RunResult
    tmp: Path
    elapsed_s: float

    @property
    def report(self) -> dict[str, Any]:
        return read_report(self.tmp)

    def item(self, case_id: str, model: str = QWEN) -> dict[str, Any]:
        found = [
            r for r in self.report["results"] if r["case_id"] == case_id and r["model"] == model
        ]
        assert len(found) == 1, (case_id, model, [r["nodeid"] for r in self.report["results"]])
        record: dict[str, Any] = found[0]
        return record

    def stored(self) -> StoredRun:
        return stored_runs(db_path(self.tmp))[self.report["run"]["id"]]


class CloseBackend:
    """Closes the inner session's backend at unconfigure, after whatever the plugin did.

    A session that stops in ``pytest_sessionstart`` never reaches
    ``pytest_sessionfinish``, so its HTTP client stays open (see
    ``test_session_start.py::test_a_session_stopped_at_start_closes_its_connections``);
    in-process, that socket would be garbage-collected during some later test and
    fail it with a ResourceWarning. Closing twice is harmless.
    """

    def __init__(self, server: LMStudioTestServer | OllamaTestServer | None = None) -> None:
        self._server = server
        self.open_at_unconfigure: int | None = None

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        lm = config.stash.get(SESSION_KEY, None)
        if self._server is not None:
            self.open_at_unconfigure = settled_connections(self._server)
        if lm is not None and lm.backend is not None:
            lm.backend.close()


def settled_connections(server: LMStudioTestServer | OllamaTestServer) -> int:
    """Open client connections once closing ones had time to reach the server."""
    deadline = time.monotonic() + 1.0
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    return server.open_connections


def run_session(
    pytester: pytest.Pytester,
    server: LMStudioTestServer | OllamaTestServer,
    root: Path,
    models: Sequence[str],
    *extra: str,
) -> Session:
    """Run the suite at ``root`` for ``models`` in-process; ``-vv`` keeps summary lines whole."""
    args = [f"--lm-suite-dir={root}", *(f"--lm-model={m}" for m in models), "-vv"]
    started = time.monotonic()
    result = pytester.runpytest(
        *args, *lmbench_args(server, pytester.path), *extra, plugins=[CloseBackend()]
    )
    return Session(result, pytester.path, time.monotonic() - started)


def free_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def check_fault(
    session: Session, case_id: str, outcome: str, message: str, model: str = QWEN
) -> dict[str, Any]:
    """The item failed (or errored) with one line matching ``message`` (fnmatch), shown
    on its terminal summary line, and that line is what the JSON and the store hold."""
    record = session.item(case_id, model)
    assert record["outcome"] == outcome, record
    error = check_one_line(record["error"])
    assert fnmatch.fnmatchcase(error, message), error
    word = {"failed": "FAILED", "error": "ERROR"}[outcome]
    session.result.stdout.fnmatch_lines(
        [f"{word} *::{case_id}[[]{model}[]] - *{glob_escape(error)}"]
    )
    assert session.stored().errors[record["nodeid"]] == error
    return record


def name(case_id: str, model: str = QWEN) -> str:
    """An item's name, as its node id ends: ``q02[qwen/qwen3-4b]``."""
    return f"{case_id}[{model}]"


def check_session(
    session: Session, faulty: Collection[str], *, items: int, timeout_s: float = 2.0
) -> None:
    """The contract around any fault: the others passed, all stored, exit 1, nothing hung.

    ``faulty`` holds the :func:`name` of every item a fault may fail.
    """
    data = session.report
    assert len(data["results"]) == items, [r["nodeid"] for r in data["results"]]
    for record in data["results"]:
        if name(record["case_id"], record["model"]) not in faulty:
            assert record["outcome"] == "passed", (record["nodeid"], record["error"])
        # Bounded by the timeout (plus the item's own bookkeeping), however the server failed.
        assert record["duration_s"] < timeout_s + 1.5, (record["nodeid"], record["duration_s"])
    stored = session.stored()
    assert stored.outcomes == {r["nodeid"]: r["outcome"] for r in data["results"]}
    assert stored.status == data["run"]["status"] == "completed"
    assert session.result.ret == pytest.ExitCode.TESTS_FAILED


def check_one_line(error: str | None) -> str:
    assert error, "a failed item carries its reason"
    assert "\n" not in error, error
    assert "Traceback" not in error, error
    return error


def glob_escape(text: str) -> str:
    """``text`` as a literal inside an fnmatch pattern."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in text)


def spawn_pytest(
    args: Sequence[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``python -m pytest`` in a child process (the plugin is installed, so it is active)."""
    environ = {**os.environ, **(env or {})}
    environ.pop("PYTEST_ADDOPTS", None)
    environ.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", *args],
        cwd=cwd,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
