"""Session state (in ``config.stash``): backend, models, results, store, reports.

Under pytest-xdist the workers run items and the controller alone writes the
store and the reports; results travel on the teardown reports.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench import __version__
from pytest_lmbench.backends import UnknownBackend, make_backend
from pytest_lmbench.backends.base import Backend, BackendOptions, LoadConfig, ModelInfo
from pytest_lmbench.collection.discovery import Discovery, is_pattern
from pytest_lmbench.collection.distribution import model_in_nodeid, plain_nodeid
from pytest_lmbench.collection.items import SPEC_KEY
from pytest_lmbench.collection.selection import model_of as selection_model
from pytest_lmbench.config.options import Settings
from pytest_lmbench.config.parsers import split_server
from pytest_lmbench.config.references import figures_for, read_references
from pytest_lmbench.errors import LmbenchError
from pytest_lmbench.records import JSON, ModelEntry, PublishedFigure, Report, ResultEntry, RunInfo
from pytest_lmbench.redaction import scrub
from pytest_lmbench.reporting.comparison import compare_servers
from pytest_lmbench.reporting.progress import ModelProgress, terminal_progress
from pytest_lmbench.reporting.summary import report_summary
from pytest_lmbench.runners.common import Gates
from pytest_lmbench.sampling import HardwareSampler
from pytest_lmbench.session.hardware import session_sampler
from pytest_lmbench.session.lifecycle import ModelManager
from pytest_lmbench.session.live import LiveProgress
from pytest_lmbench.session.outputs import (
    ReportWriter,
    StoreWriter,
    check_output_dir,
    check_output_file,
)
from pytest_lmbench.session.server import ManagedServer, load_config_of
from pytest_lmbench.session.signals import handle_sigterm

log = logging.getLogger("pytest_lmbench")
SESSION_KEY = pytest.StashKey["LmbenchSession"]()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


class LmbenchSession:
    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.is_worker = hasattr(config, "workerinput")
        self.is_controller = not self.is_worker and bool(
            getattr(config.option, "numprocesses", None)
        )
        self.run = RunInfo(
            id=settings.lm_run_id or str(uuid.uuid4()),
            started_at=now_iso(),
            backend=settings.lm_backend,
            base_url=scrub(settings.lm_base_url),
            plugin_version=__version__,
            settings=settings.public(),
        )
        self.backend: Backend | None = None
        self.models: ModelManager | None = None
        self.model_keys: tuple[str, ...] = settings.lm_model
        self.discovery: Discovery | None = None  # --lm-model=all, a glob or a filter
        self.resumed = 0  # items --lm-skip-tested left out
        self.model_entries: dict[str, ModelEntry] = {}
        self.results: list[ResultEntry] = []
        self.model_cache: dict[str, JSON] = {}
        self.server = ManagedServer(settings)
        self.store = StoreWriter(settings, self.run)
        self.reports = ReportWriter(settings)
        # --collect-only lists items: no server, no model, no store run, no report.
        self.collect_only = bool(config.option.collectonly)
        self.started = False
        self.gates: Gates | None = None
        self.gate_failures: list[str] = []
        self._sampler: HardwareSampler | None = None
        self.progress: ModelProgress | None = None
        self.live = LiveProgress()  # the store's copy, for the dashboard
        # Set by pytest_keyboard_interrupt: the run's status must not depend on which
        # exit status a second Ctrl-C (or one during teardown) left behind.
        self.interrupted = False
        self._interrupt_after_report = False
        # Where suite files are collected from (bundled, --lm-suite-dir, folders named
        # on the command line); set by the plugin at configure time.
        self.suite_roots: tuple[Path, ...] = ()
        self._restore_sigterm: Callable[[], None] = lambda: None
        # --lm-reference: published figures per model key (None without the option).
        self.references: dict[str, list[PublishedFigure]] | None = None

    @property
    def writes_outputs(self) -> bool:
        return not (self.is_worker or self.collect_only)

    # -- session start ------------------------------------------------------------------

    def start(self) -> None:
        """Fail fast, before any model is loaded: outputs, server, store."""
        try:
            self._start()
        except BaseException:
            self._abandon()
            raise

    def _abandon(self) -> None:
        """pytest skips pytest_sessionfinish when sessionstart raises: clean up here."""
        self._restore_sigterm()
        if self.backend is not None:
            self.backend.close()
        if self.gates is not None:
            self.gates.close()
        self.server.stop()
        if self.store.store is not None:
            # The error that stopped the start matters more than one from the store.
            with contextlib.suppress(Exception):
                self.store.store.finish_run(self.run.id, "failed", now_iso())
            self.store.store.close()

    def _start(self) -> None:
        self._restore_sigterm = handle_sigterm()
        if self.collect_only:
            if not self.model_keys or self.settings.lm_serve_gguf:
                # The managed server is not started to be listed: it serves its one model.
                self.model_keys = self.server.planned_keys() or self.model_keys
            elif self._discovers():
                self._discover_for_listing()
            self.started = True
            return
        if self.writes_outputs:
            check_output_dir(Path(self.settings.lm_output_dir))
            if self.settings.lm_update_baseline:
                check_output_file(Path(self.settings.lm_update_baseline), "--lm-update-baseline")
            if self.settings.lm_reference:
                self.references = read_references(Path(self.settings.lm_reference))
        if self.settings.lm_serve_gguf and (self.is_worker or self.is_controller):
            raise pytest.UsageError(
                "--lm-serve-gguf cannot be combined with -n: each worker would start its own server"
            )
        base_url = self.server.start() or self.settings.lm_base_url
        self.run.base_url = scrub(base_url)
        if self.server.model_key and not self.model_keys:
            self.model_keys = (self.server.model_key,)
        options = BackendOptions(
            base_url,
            token=self.settings.lm_api_token,
            timeout_s=self.settings.lm_timeout,
            api=self.settings.lm_api,
            launch_config=self.server.launch_config(),
            launch_not_applied=self.server.not_launched(),
        )
        self.backend = (
            self._servers_backend(options)
            if self.settings.lm_server
            else self._make_backend(options)
        )
        try:
            server_info = self.backend.server_info()
            infos = {info.key: info for info in self.backend.list_models()}
            infos.update(self.server.known_models(infos))
        except LmbenchError as exc:
            raise pytest.UsageError(str(exc)) from None
        if self._discovers():
            self._discover(self.backend, infos)
        # Workers need the environment too: a model's fingerprint is made where it loads.
        self.run.environment = _environment(server_info)
        self.models = ModelManager(
            self.backend,
            self._load_config(),
            infos,
            self.settings.lm_no_unload,
            fingerprinter=lambda entry: self.store.model_fingerprint(entry, self.run),
            facts=getattr(self.backend, "server_facts", None) if self.settings.lm_server else None,
        )
        if self.writes_outputs:
            self.store.open()
            if self.settings.lm_calibrate:
                from pytest_lmbench.runners.calibration import calibrate_harness

                self.run.calibration = calibrate_harness()
        self.gates = make_gates(self.settings, self.store)
        self.started = True

    def _servers_backend(self, options: BackendOptions) -> Backend:
        """--lm-server: one backend per server behind one that routes NAME:KEY models."""
        from pytest_lmbench.backends.multi import MultiBackend

        if self.settings.lm_serve_gguf:
            raise pytest.UsageError("--lm-server cannot be combined with --lm-serve-gguf")
        backends: dict[str, Backend] = {}
        for text in self.settings.lm_server:
            name, kind, url = split_server(text)
            backends[name] = self._make_backend(replace(options, base_url=url), kind)
        multi = MultiBackend(backends)
        # ``all`` and globs are expanded over every server's NAME:KEY models later.
        for key in (k for k in self.model_keys if not is_pattern(k)):
            try:
                multi.split(key)
            except LmbenchError as exc:
                multi.close()
                raise pytest.UsageError(f"--lm-model: {exc}") from None
        self.run.backend = multi.name
        self.run.base_url = scrub(multi.base_url)
        return multi

    def _discovers(self) -> bool:
        from pytest_lmbench.collection.discovery import filtering, is_pattern

        return any(is_pattern(k) for k in self.model_keys) or filtering(self.settings)

    def _discover_for_listing(self) -> None:
        """--collect-only with ``all`` or a glob: ask the server which models it has."""
        s = self.settings
        options = BackendOptions(s.lm_base_url, token=s.lm_api_token, timeout_s=s.lm_timeout)
        backend = self._servers_backend(options) if s.lm_server else self._make_backend(options)
        try:
            infos = {info.key: info for info in backend.list_models()}
            self._discover(backend, infos)
        except LmbenchError as exc:
            raise pytest.UsageError(str(exc)) from None
        finally:
            backend.close()

    def _discover(self, backend: Backend, infos: dict[str, ModelInfo]) -> None:
        from pytest_lmbench.collection.discovery import discover

        self.discovery = discover(self.settings, infos, backend.find_model)
        if not self.discovery.keys:
            why = "; ".join(f"{k}: {reason}" for k, reason in self.discovery.dropped[:5])
            raise pytest.UsageError(
                f"--lm-model {','.join(self.settings.lm_model)}: no model is left of the "
                f"{self.discovery.listed} the server lists" + (f" ({why})" if why else "")
            )
        self.model_keys = self.discovery.keys

    def resume(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Give each item its resume key; with --lm-skip-tested, leave out those done."""
        from pytest_lmbench.collection.distribution import plain_nodeid
        from pytest_lmbench.session.results import RESUME_KEY
        from pytest_lmbench.session.resume import resume_key

        if self.collect_only:
            return
        keys: dict[str, str] = {}
        for item in items:
            if item.stash.get(SPEC_KEY, None) is not None:
                nodeid = plain_nodeid(item)
                keys[nodeid] = resume_key(self.run.environment, self.run.settings, nodeid)
                item.stash[RESUME_KEY] = keys[nodeid]
        store = self.store.store
        if not self.settings.lm_skip_tested or self.settings.lm_retest or store is None:
            return
        try:
            done = store.tested(keys)
        except LmbenchError as exc:
            raise pytest.UsageError(f"--lm-skip-tested: {exc}") from None
        skipped = [item for item in items if plain_nodeid(item) in done]
        if skipped:
            config.hook.pytest_deselected(items=skipped)
            items[:] = [item for item in items if plain_nodeid(item) not in done]
        self.resumed = len(skipped)
        left = {selection_model(item) for item in items}
        self.model_keys = tuple(k for k in self.model_keys if k in left)

    def embedding_models(self) -> tuple[str, ...]:
        """The model keys the server lists as embedding models (they get embedding items)."""
        models = self.models
        if models is None:
            return ()
        return tuple(k for k in self.model_keys if (i := models.info(k)) and i.kind == "embedding")

    def header_lines(self, verbose: bool) -> list[str]:
        return self.discovery.header_lines(verbose) if self.discovery is not None else []

    def _make_backend(self, options: BackendOptions, name: str | None = None) -> Backend:
        """A hook's backend first (conftest or plugin), then a built-in or installed one."""
        name = name or self.settings.lm_backend
        made: Backend | None = self.config.hook.pytest_lmbench_make_backend(
            name=name, options=options, config=self.config
        )
        if made is not None:
            return made
        try:
            return make_backend(name, options)
        except UnknownBackend as exc:
            raise pytest.UsageError(str(exc)) from None

    def _load_config(self) -> LoadConfig:
        return load_config_of(self.settings)

    def after_item(self, model: str | None, next_model: str | None) -> None:
        """Unload a model as soon as its last item is done (two never load at once)."""
        if self.models is not None and model is not None and next_model != model:
            self.models.release(model)

    def after_item_keeping_its_result(self, model: str | None, next_model: str | None) -> None:
        """``after_item``; a Ctrl-C during the unload waits until the item's result is in.

        The result travels on the teardown report, which pytest makes after this
        teardown: interrupting now would lose an item that had finished.
        """
        try:
            self.after_item(model, next_model)
        except KeyboardInterrupt:
            self._interrupt_after_report = True

    @property
    def sampler(self) -> HardwareSampler:
        if self._sampler is None:
            # Several servers: no one server process to sample (the field stays null).
            url = "" if self.settings.lm_server else self.run.base_url
            self._sampler = session_sampler(self.settings, url)
        return self._sampler

    def cache_for(self, model: str) -> JSON:
        return self.model_cache.setdefault(model, {})

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Ctrl-C or SIGTERM (as the session object is a plugin, it gets this hook)."""
        self.interrupted = True

    # -- results --------------------------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """On the controller (or without xdist): store the record an item's teardown carries."""
        if report.when != "teardown":
            return
        try:
            self._keep_result(report)
        finally:
            if self._interrupt_after_report:
                self._interrupt_after_report = False
                raise KeyboardInterrupt("interrupted while unloading the model")

    def _keep_result(self, report: pytest.TestReport) -> None:
        data = getattr(report, "lmbench_result", None)
        if not isinstance(data, dict) or not self.writes_outputs:
            return
        entry = ResultEntry.model_validate(data)
        model_data = getattr(report, "lmbench_model", None)
        if isinstance(model_data, dict):
            self._merge_model(ModelEntry.model_validate(model_data))
        self.store.enrich(entry, self.model_entries.get(entry.model))
        self.results.append(entry)
        self.store.add_result(entry, self.live.result(entry))
        if self.progress is not None and entry.kind == "capability":
            self.progress.item_done(entry.model)

    def plan_progress(self, items: list[pytest.Item]) -> None:
        """Count each model's capability items, for per-model progress lines."""
        if not self.writes_outputs:
            return
        totals: Counter[str] = Counter()
        planned: list[tuple[str, str]] = []
        for item in items:
            spec = item.stash.get(SPEC_KEY, None)
            if spec is not None:
                planned.append((plain_nodeid(item), spec.model))
            if spec is not None and spec.kind == "capability":
                totals[spec.model] += 1
        self.progress = ModelProgress(terminal_progress(self.config), totals)
        self.store.set_progress(self.live.plan(planned))

    def plan_from_ids(self, ids: list[str]) -> None:
        """Under xdist: the suite items a worker collected (every worker collects the same)."""
        if self.live.planned or not self.writes_outputs:
            return
        planned = []
        for nodeid in ids:
            # loadgroup appends "@<group>" after the last "]"; a model key may hold "@" too.
            head, sep, _group = nodeid.rpartition("]@")
            model = model_in_nodeid(head + "]" if sep else nodeid, self.model_keys)
            if model is not None and ".json::" in nodeid:
                planned.append((nodeid, model))
        # Items run side by side on the workers: no single current item.
        self.store.set_progress(self.live.plan(planned, in_order=False))

    def model_entry_for(self, key: str) -> JSON | None:
        if self.models is None:
            return None
        return self.models.entry(key).model_dump(mode="json")

    def _merge_model(self, entry: ModelEntry) -> None:
        known = self.model_entries.get(entry.key)
        if known is not None and known.status != "not_loaded" and entry.status == "not_loaded":
            return
        if known is None or known.model_dump() != entry.model_dump():
            self.model_entries[entry.key] = entry
            self.store.save_model(entry)

    # -- session end ----------------------------------------------------------------------

    def finish(self, exitstatus: int) -> None:
        try:
            self._finish(exitstatus)
        finally:
            self._restore_sigterm()
            if self.gates is not None:
                self.gates.close()

    def _finish(self, exitstatus: int) -> None:
        if self.models is not None:
            self.models.release_all()
        if self.backend is not None:
            self.backend.close()
        self.server.stop()
        if not (self.started and self.writes_outputs):
            return
        self.run.finished_at = now_iso()
        self.run.status = "interrupted" if self.interrupted else _status(exitstatus)
        report = self.build_report()
        self.store.finish(report)
        if self.gates is not None:
            self.gate_failures = self.gates.session_failures(report)
        if self.settings.lm_update_baseline:
            from pytest_lmbench.gates.baseline import BaselineError
            from pytest_lmbench.gates.keeper import write_baseline

            try:
                write_baseline(report, Path(self.settings.lm_update_baseline))
            except BaselineError as exc:
                self.gate_failures.append(f"--lm-update-baseline: {exc}")
        report_summary(report)
        try:
            self.config.hook.pytest_lmbench_report(report=report, config=self.config)
        except Exception as exc:  # a user's hook must not cost the reports
            log.error("pytest_lmbench_report hook raised %s: %s", type(exc).__name__, exc)
        self.reports.write(report, self.store)

    def summary_lines(self) -> list[str]:
        report = self.reports.report
        if report is None or self.gates is None:
            return []
        return self.gates.summary_lines(report)

    def build_report(self) -> Report:
        for key in self.model_keys:
            self.model_entries.setdefault(key, ModelEntry(key=key))
        if self.references is not None:
            for entry in self.model_entries.values():
                entry.published = figures_for(self.references, entry.key)
        report = Report(
            run=self.run, models=list(self.model_entries.values()), results=list(self.results)
        )
        if self.settings.lm_server:
            # Built with the summary, before the gates, hooks and writers read it.
            summary = report_summary(report)  # first: the comparison reads its figures
            summary["comparisons"] = compare_servers(report)
        return report


def make_gates(settings: Settings, store: StoreWriter) -> Gates | None:
    """Gates exist only when a gates file, a gates section or a baseline is given."""
    if not (settings.lm_gates or settings.sections.get("gates") or settings.lm_baseline):
        return None
    from pytest_lmbench.gates.keeper import GateKeeper

    gates: Gates = GateKeeper.from_settings(settings, store.store)
    return gates


def _status(exitstatus: int) -> Any:
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "interrupted"
    if exitstatus in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        return "failed"
    return "completed"


def _environment(server_info: JSON) -> JSON:
    from pytest_lmbench.sampling import collect_environment

    return collect_environment(server_info=server_info)
