"""Model lifecycle: load each model once, never two at once, unload after its last item.

A failed load is remembered, so every item of that model errors with the same
server message while the session goes on with the next model.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from pytest_lmbench.backends.base import JSON, Backend, LoadConfig, LoadedModel, ModelInfo
from pytest_lmbench.errors import LmbenchError, LmbenchWarning, LoadFailed, ModelNotFound
from pytest_lmbench.records import LoadInfo, ModelEntry
from pytest_lmbench.session import offload


@dataclass
class _State:
    entry: ModelEntry
    info: ModelInfo | None
    loaded: LoadedModel | None = None
    error: str | None = None


@dataclass
class ModelManager:
    backend: Backend
    load_config: LoadConfig
    infos: dict[str, ModelInfo]
    keep_loaded: bool = False
    # Computes a model's fingerprint from its entry once the applied load config is known.
    fingerprinter: Callable[[ModelEntry], str | None] | None = None
    # Facts about a model's server recorded with it (several servers: which one holds it).
    facts: Callable[[str], JSON] | None = None
    states: dict[str, _State] = field(default_factory=dict)
    # Loads a Ctrl-C cut short: the server may finish them, so they are unloaded at the end.
    interrupted_loads: list[str] = field(default_factory=list)

    def entry(self, key: str) -> ModelEntry:
        return self._state(key).entry

    def info(self, key: str) -> ModelInfo | None:
        return self._state(key).info

    def _state(self, key: str) -> _State:
        if key not in self.states:
            info = self.backend.find_model(self.infos, key)
            metadata = info.to_json() if info else {}
            if self.facts is not None:
                metadata.update(self.facts(key))
            self.states[key] = _State(ModelEntry(key=key, metadata=metadata), info)
        return self.states[key]

    def ensure_loaded(self, key: str) -> LoadedModel:
        state = self._state(key)
        if state.error is not None:
            raise LoadFailed(state.error)
        if state.loaded is not None:
            return state.loaded
        for other in list(self.states):
            if other != key:
                self.release(other)
        try:
            state.loaded = self._load(key, state)
        except KeyboardInterrupt:
            self.interrupted_loads.append(key)
            raise
        except LmbenchError as exc:
            state.error = str(exc)
            state.entry.status, state.entry.error = "load_failed", state.error
            raise LoadFailed(state.error) from None
        state.entry.status = "ok"
        if self.fingerprinter is not None:
            state.loaded.fingerprint = self.fingerprinter(state.entry)
            state.entry.metadata["fingerprint"] = state.loaded.fingerprint
        # Last, once the state is whole: with -W error a warning raises here.
        for setting, reason in state.loaded.load.not_applied.items():
            warn(f"{key}: {setting} not applied: {reason}")
        return state.loaded

    def _load(self, key: str, state: _State) -> LoadedModel:
        if self.infos and state.info is None:
            raise ModelNotFound(
                f"model {key!r} is not on {self.backend.label} at {self.backend.base_url}; "
                f"it has: {', '.join(sorted(self.infos)) or '(no models)'}"
            )
        try:
            result = offload.load(self.backend, key, self.load_config)
        except LmbenchError as exc:
            message = str(exc) if key in str(exc) else f"loading {key} failed: {exc}"
            raise LoadFailed(message) from None
        state.entry.load = LoadInfo(
            requested=result.requested,
            applied=result.applied,
            not_applied=result.not_applied,
            load_time_s=result.load_time_s,
            client_load_time_s=result.client_load_time_s,
        )
        if result.facts:
            state.entry.metadata["load_facts"] = dict(result.facts)
        return LoadedModel(key, result.instance_id, state.info, result)

    def release(self, key: str) -> None:
        """Unload a model we loaded (best effort: an unload error is a warning)."""
        state = self.states.get(key)
        if state is None or state.loaded is None:
            return
        loaded, state.loaded = state.loaded, None
        if self.keep_loaded or not self.backend.supports_load:
            return
        try:
            self.backend.unload(loaded.instance_id)
        except LmbenchError as exc:
            failure = str(exc)
        else:
            return
        warn(f"unloading {key} failed: {failure}")  # outside the except: no chained traceback

    def release_all(self) -> None:
        # At session end a failed unload made an error by -W must not skip the other
        # unloads or the reports: shown as a warning, whatever the filters say.
        with warnings.catch_warnings():
            warnings.simplefilter("always", LmbenchWarning)
            for key in list(self.states):
                self.release(key)
            for key in self.interrupted_loads:
                self._unload_interrupted(key)

    def _unload_interrupted(self, key: str) -> None:
        if self.keep_loaded or not self.backend.supports_load:
            return
        try:
            self.backend.unload(key)
        except LmbenchError as exc:
            failure = str(exc)
        else:
            return
        warn(f"{key} may still be loading on {self.backend.label}: {failure}")


# Appended after a project's own filters, so it wins over a blanket `filterwarnings = error`.
WARNINGS_STAY_WARNINGS = "always::pytest_lmbench.errors.LmbenchWarning"


def keep_warnings_as_warnings(config: pytest.Config) -> None:
    """A project's ``filterwarnings = error`` is about its own code: our warnings (a setting
    the server did not apply) stay warnings unless a filter names LmbenchWarning or ``-W``
    says otherwise. Without this the demo, run in a repository that errors on warnings,
    turned every item into an error for one unapplied load setting."""
    configured = config.getini("filterwarnings")
    if any("LmbenchWarning" in line for line in configured):
        return  # an explicit choice
    config.addinivalue_line("filterwarnings", WARNINGS_STAY_WARNINGS)


def warn(message: str) -> None:
    # stacklevel=1: the location is this module, the same for every such warning.
    warnings.warn(message, LmbenchWarning, stacklevel=1)
