"""The session's outputs: the results store and the report files.

Both are checked at session start so a bad ``--lm-db`` or output folder stops
the session before any model is loaded.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_lmbench.config.options import Settings
from pytest_lmbench.records import (
    JSON,
    History,
    ModelEntry,
    Report,
    ResultEntry,
    RunInfo,
    timing_figure,
)
from pytest_lmbench.runners.common import sampling_of

if TYPE_CHECKING:
    from pytest_lmbench.storage.progress import RunProgress
    from pytest_lmbench.storage.store import Store

log = logging.getLogger("pytest_lmbench")
# ModelInfo fields copied into ``run.environment["models"]`` (None: the server did not say).
MODEL_FACTS = (
    "size_bytes",
    "quantization",
    "architecture",
    "params_string",
    "format",
    "max_context_length",
)


def check_output_dir(path: Path, option: str = "--lm-output-dir") -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(f"{option}: cannot create {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise pytest.UsageError(f"{option}: {path} is not writable")


def check_output_file(path: Path, option: str) -> None:
    """Refuse at start a file the run could not write at its end (after hours of work)."""
    if path.is_dir():
        raise pytest.UsageError(f"{option}: {path} is a folder, not a file")
    check_output_dir(path.parent, option)
    if path.exists() and not os.access(path, os.W_OK):
        raise pytest.UsageError(f"{option}: {path} is not writable")


class StoreWriter:
    """Writes each result as its item finishes; never loses the session over a store error."""

    def __init__(self, settings: Settings, run: RunInfo) -> None:
        self._settings = settings
        self._run = run
        self.store: Store | None = None
        self.url: str | None = None
        # Results whose write failed: retried at session end, then said in the terminal.
        self.unstored: list[ResultEntry] = []
        self.last_error: str | None = None

    def open(self) -> None:
        if self._settings.lm_no_db:
            return
        from pytest_lmbench.storage.store import StoreError, default_db_url, open_store

        self.url = self._settings.lm_db or default_db_url()
        try:
            self.store = open_store(self.url)
            self.store.begin_run(self._run)
        except StoreError as exc:
            raise pytest.UsageError(f"--lm-db: {exc}") from None

    def _safely(self, what: str, action: Any, *args: Any) -> Any:
        if self.store is None:
            return None
        try:
            return action(*args)
        except Exception as exc:  # a store hiccup must not cost the measurements
            self._failed(what, exc)
            return None

    def _failed(self, what: str, exc: Exception) -> None:
        self.last_error = " ".join(str(exc).split())[:300]
        log.error("results store: %s failed: %s", what, self.last_error)

    def _put_result(self, entry: ResultEntry, progress: RunProgress | None = None) -> bool:
        assert self.store is not None
        try:
            self.store.add_result(self._run.id, entry, progress)
        except Exception as exc:  # kept for a retry at session end
            self._failed("saving a result", exc)
            return False
        return True

    def save_model(self, entry: ModelEntry) -> None:
        if self.store is not None:
            self._safely("saving model", self.store.save_model, self._run.id, entry)

    def add_result(self, entry: ResultEntry, progress: RunProgress | None = None) -> None:
        if self.store is not None and not self._put_result(entry, progress):
            self.unstored.append(entry)

    def set_progress(self, progress: RunProgress) -> None:
        if self.store is not None:
            self._safely("storing progress", self.store.set_progress, self._run.id, progress)

    def problems(self) -> list[str]:
        """Terminal lines for what the store does not hold (empty: it holds everything)."""
        if not self.unstored:
            return []
        n = len(self.unstored)
        what = "result" if n == 1 else "results"
        return [
            f"{n} {what} could not be stored: {self.last_error} "
            "(they are in the JSON report; the run is marked incomplete)"
        ]

    def model_fingerprint(self, entry: ModelEntry, run: RunInfo) -> str | None:
        from pytest_lmbench.sampling import fingerprint

        if entry.status != "ok":
            return None
        s = self._settings
        environment = _server_environment(run.environment, entry.metadata.get("server"))
        return fingerprint(
            environment,
            model_key=entry.key,
            quantization=entry.metadata.get("quantization"),
            load_applied=entry.load.applied,
            sampling={
                "temperature": s.lm_temperature,
                "seed": s.lm_seed,
                "max_tokens": s.lm_max_tokens,
                # Only those asked for: a run without them keeps its earlier fingerprint.
                **_sampling_asked(s),
            },
            backend=str(entry.metadata.get("server_backend") or run.backend),
            server_version=(environment.get("server") or {}).get("server_version"),
        )

    def enrich(self, entry: ResultEntry, model: ModelEntry | None) -> None:
        """History figures: ``speed_delta_pct`` against the same model and fingerprint."""
        if self.store is None or entry.kind != "throughput" or model is None:
            return
        print_ = model.metadata.get("fingerprint")
        previous = self._safely(
            "reading history",
            self.store.previous_result,
            entry.model,
            entry.nodeid,
            print_,
            self._run.id,
        )
        now = timing_figure(entry.timing, "decode_tps")
        before = timing_figure(previous.timing, "decode_tps") if previous is not None else None
        if now is not None and before:
            entry.timing["speed_delta_pct"] = (now - before) / before * 100.0
            entry.timing["previous_run_decode_tps"] = before

    def history(self, report: Report) -> History:
        if self.store is None:
            return {}
        found = self._safely("reading history", self.store.report_history, report)
        return dict(found or {})

    def finish(self, report: Report) -> None:
        from pytest_lmbench.sampling import run_fingerprint

        prints = {
            m.key: m.metadata["fingerprint"] for m in report.models if m.metadata.get("fingerprint")
        }
        report.run.fingerprint = run_fingerprint(prints) if prints else None
        report.run.environment["models"] = model_environment(report.models)
        if self.store is None:
            return
        # A database that restarted or a lock held too long may be back by now.
        self.unstored = [entry for entry in self.unstored if not self._put_result(entry)]
        if self.unstored and report.run.status == "completed":
            report.run.status = "incomplete"
        run = report.run
        store = self.store
        self._safely(
            "finishing the run",
            lambda: store.finish_run(
                run.id,
                run.status,
                run.finished_at or run.started_at,
                environment=run.environment,
                fingerprint=run.fingerprint,
                calibration=run.calibration,
            ),
        )
        self._safely("closing the store", self.store.close)


def model_environment(models: list[ModelEntry]) -> dict[str, dict[str, Any]]:
    """Per model, the facts that shape its speed, as the server (or GGUF header) gave them."""
    return {entry.key: {name: entry.metadata.get(name) for name in MODEL_FACTS} for entry in models}


class ReportWriter:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.paths: list[Path] = []
        self.report: Report | None = None
        self.failures: list[str] = []  # one line per report not written, for the terminal

    def write(self, report: Report, store: StoreWriter) -> None:
        from pytest_lmbench.reporting.writer import write_reports

        self.report = report
        folder = Path(self._settings.lm_output_dir)
        history = store.history(report)
        for fmt in self._settings.lm_formats:
            # One format failing (a full disk, a template bug) must not cost the others.
            try:
                self.paths += write_reports(report, folder, (fmt,), history=history)
            except KeyboardInterrupt:  # a second Ctrl-C: skip this one, no traceback
                self.failures.append(f"the {fmt} report was not written: interrupted")
            except Exception as exc:
                reason = " ".join(str(exc).split())[:300]
                self.failures.append(f"the {fmt} report was not written: {reason}")
        for failure in self.failures:
            log.error("%s", failure)


def _server_environment(environment: JSON, server: Any) -> JSON:
    """The run's environment as seen by a model on server ``server`` (several servers)."""
    servers = (environment.get("server") or {}).get("servers")
    if not isinstance(server, str) or not isinstance(servers, dict) or server not in servers:
        return environment
    return {**environment, "server": servers[server]}


def _sampling_asked(s: Settings) -> dict[str, Any]:
    """Only the settings asked for: a run without them keeps its earlier fingerprint."""
    asked: dict[str, Any] = sampling_of(s).requested()
    if s.lm_require_schema:
        # Not sampling, but it changes function_call_accuracy: scores with and without
        # it are not comparable in history or against a baseline.
        asked["require_schema"] = True
    return asked
