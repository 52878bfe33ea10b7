"""Starting and stopping benchmark runs from the dashboard.

A run is a ``pytest`` subprocess started with an argument list (never a shell)
whose options are checked against the options table first. The store's URL
and the LM Studio API token reach it through its environment, so neither
shows in a process list, a page or the store. Stopping sends SIGINT: the same
clean interrupt as Ctrl-C (finished results kept, run ``interrupted``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator

from pytest_lmbench.config.table import SPEC_BY_NAME
from pytest_lmbench.vocabulary import CAPABILITIES

__all__ = ["ALLOWED_OPTIONS", "LaunchError", "Launcher", "RunRequest"]

# What a form or API caller may set besides models, capabilities, backend and URL.
# Paths that write files, baselines and a managed server stay with the shell user.
ALLOWED_OPTIONS = (
    "lm_max_tests",
    "lm_runs",
    "lm_warmup",
    "lm_max_tokens",
    "lm_temperature",
    "lm_seed",
    "lm_timeout",
    "lm_concurrency",
    "lm_context_length",
    "lm_min_quality",
)
_KEY_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_.:@-")


class LaunchError(ValueError):
    """A request that cannot start a run; the message is one line for the caller."""


class RunRequest(BaseModel):
    models: list[str] = Field(min_length=1, max_length=16)
    capabilities: list[str] = Field(default_factory=list)
    backend: str | None = None
    base_url: str | None = None
    # Values as on the command line; JSON numbers and booleans are taken as their text.
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    # Sent to the run in its environment only; never echoed, logged or stored.
    api_token: SecretStr | None = None

    @field_validator("models")
    @classmethod
    def _keys(cls, keys: list[str]) -> list[str]:
        for key in keys:
            if not key or key.startswith("-") or not set(key) <= _KEY_CHARS:
                raise ValueError(f"not a model key: {key!r}")
        return keys


def _option_args(options: Mapping[str, str | int | float | bool]) -> list[str]:
    args = []
    for name, given in sorted(options.items()):
        value = str(given).lower() if isinstance(given, bool) else str(given)
        if name not in ALLOWED_OPTIONS:
            allowed = ", ".join(ALLOWED_OPTIONS)
            raise LaunchError(f"option {name!r} cannot be set from the dashboard ({allowed})")
        spec = SPEC_BY_NAME[name]
        try:
            spec.parse(value)
        except (TypeError, ValueError) as exc:
            raise LaunchError(f"{spec.flag}: {exc}") from None
        args.append(f"{spec.flag}={value}")
    return args


def pytest_args(request: RunRequest, run_id: str, output_dir: Path) -> list[str]:
    """The argument list of the run's ``pytest`` (checked; raises LaunchError)."""
    unknown = [c for c in request.capabilities if c not in CAPABILITIES]
    if unknown:
        raise LaunchError(f"unknown capabilities {unknown}; known: {', '.join(CAPABILITIES)}")
    args = ["--pyargs", "capability_suites", f"--lm-run-id={run_id}"]
    args += [f"--lm-model={key}" for key in request.models]
    if request.capabilities:
        args.append(f"--lm-capabilities={','.join(request.capabilities)}")
    for name, value in (("lm_backend", request.backend), ("lm_base_url", request.base_url)):
        if value:
            try:
                SPEC_BY_NAME[name].parse(value)
            except (TypeError, ValueError) as exc:
                raise LaunchError(f"{SPEC_BY_NAME[name].flag}: {exc}") from None
            args.append(f"{SPEC_BY_NAME[name].flag}={value}")
    args += _option_args(request.options)
    args += [f"--lm-output-dir={output_dir}", "-p", "no:cacheprovider", "-q"]
    return args


class Launcher:
    """The runs this server started; each writes into ``db_url`` and ``folder/<run id>``."""

    def __init__(self, db_url: str, folder: Path, python: str = sys.executable) -> None:
        self._db_url = db_url
        # Absolute: each run's pytest starts in its own folder below this one.
        self.folder = folder.absolute()
        self._python = python
        self._lock = threading.Lock()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping: set[str] = set()

    def start(self, request: RunRequest) -> str:
        run_id = str(uuid.uuid4())
        output = self.folder / run_id
        args = pytest_args(request, run_id, output)
        output.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "LMBENCH_DB": self._db_url}
        env.pop("LM_API_TOKEN", None)  # only the token this request gave
        if request.api_token is not None:
            env["LM_API_TOKEN"] = request.api_token.get_secret_value()
        with (output / "pytest.log").open("wb") as log:
            process = subprocess.Popen(
                [self._python, "-m", "pytest", *args],
                cwd=output,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C to the dashboard is not one to its runs
            )
        with self._lock:
            self.processes[run_id] = process
        return run_id

    def starting(self, run_id: str) -> bool:
        """A run this server started whose process is still going."""
        with self._lock:
            process = self.processes.get(run_id)
        return process is not None and process.poll() is None

    def last_line(self, run_id: str) -> str:
        """The last line its pytest printed: why a run that never got stored ended."""
        try:
            text = (self.folder / run_id / "pytest.log").read_text(errors="replace")
        except OSError as exc:
            return f"no log: {exc.strerror}"
        lines = [line for line in text.splitlines() if line.strip()]
        return lines[-1][:300] if lines else "pytest printed nothing"

    def stop(self, run_id: str) -> bool:
        """SIGINT to a run this server started; False when it is not one, or stops already.

        Only one: a second Ctrl-C would cut short the interrupted run's report writing.
        """
        with self._lock:
            process = self.processes.get(run_id)
            if process is None or process.poll() is not None or run_id in self._stopping:
                return False
            self._stopping.add(run_id)
        process.send_signal(signal.SIGINT)
        return True

    def close(self, wait_s: float = 30.0) -> None:
        """Interrupt the runs still going (cleanly, as Ctrl-C) and wait for them."""
        with self._lock:
            running = [
                p
                for run_id, p in self.processes.items()
                if p.poll() is None and run_id not in self._stopping
            ]
            waiting = [p for p in self.processes.values() if p.poll() is None]
        for process in running:
            process.send_signal(signal.SIGINT)
        for process in waiting:
            try:
                process.wait(wait_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
