"""Loading models into LM Studio and finding out what each load really applied.

Two ways in (fact sheet §1.2 and §5): ``POST /api/v1/models/load`` with
``echo_load_config``, which cannot set a GPU offload ratio, and ``lms load --gpu``
when that ratio is asked for. Either way ``applied`` is what the server reports
in force afterwards (the echoed ``load_config``, else ``loaded_instances[].config``
of ``GET /api/v1/models``), and a requested setting the server does not report
with the requested value is "not applied", with the reason.
"""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any
from urllib.parse import urlsplit

from pytest_lmbench.backends import rest
from pytest_lmbench.backends.base import JSON, LoadConfig, LoadResult
from pytest_lmbench.backends.stream import as_float
from pytest_lmbench.errors import LoadFailed

LABEL = "LM Studio"
# Settings no LM Studio API reports back: they never count as confirmed by the server.
UNREPORTED = ("gpu_offload",)
NO_LMS = "the REST load API cannot set a GPU offload ratio and `lms` is not on PATH"
LMS_GPU_NOTE = "`lms load --gpu` exited 0; LM Studio does not report the offload ratio back"
# Our setting -> the REST load field and the name the server reports it under.
SERVER_NAMES = {"batch_size": "eval_batch_size"}
REST_FIELDS = ("context_length", "flash_attention", "batch_size")
_SDK_ONLY = "LM Studio sets {} only in its SDK load config ({}); neither REST nor `lms load` can"
# Load settings no REST field or `lms load` flag carries, with the reason.
NEVER = {
    "gpu_layers": "LM Studio offloads a ratio of the model (--lm-gpu-offload), not a layer count",
    "threads": _SDK_ONLY.format("CPU threads", "cpuThreads"),
    "kv_cache_quant": _SDK_ONLY.format("the KV cache type", "llamaKCacheQuantizationType"),
    "mmap": _SDK_ONLY.format("memory mapping", "useMmap"),
    "mlock": _SDK_ONLY.format("mlock", "keepModelInMemory"),
    "rope_freq_base": _SDK_ONLY.format("the RoPE frequency base", "ropeFrequencyBase"),
    "rope_freq_scale": _SDK_ONLY.format("the RoPE frequency scale", "ropeFrequencyScale"),
    "unified_kv_cache": "LM Studio has no unified KV cache setting",
}
REST_NO_PARALLEL = "the REST load API rejects parallel (bug #2024) and `lms` is not on PATH"


def not_applied_of(requested: JSON, reported: JSON, *, how: str) -> dict[str, str]:
    """Requested settings the server does not report in force with the requested value."""
    missing: dict[str, str] = {}
    for name, wanted in requested.items():
        if name in UNREPORTED or name in NEVER:
            continue
        name_there = SERVER_NAMES.get(name, name)
        if name_there not in reported:
            missing[name] = f"the server does not report {name_there} in force after {how}"
        elif reported[name_there] != wanted:
            missing[name] = f"the server applied {reported[name_there]!r} instead of {wanted!r}"
    missing.update({k: v for k, v in NEVER.items() if k in requested})
    return missing


def confirmed(requested: JSON, reported: JSON, not_applied: dict[str, str]) -> JSON:
    """The server's report, plus each applied setting it names otherwise under our name."""
    applied = dict(reported)
    for ours, theirs in SERVER_NAMES.items():
        if ours in requested and ours not in not_applied:
            applied[ours] = reported[theirs]
    return applied


def chat_model_for(key: str, instance_id: str) -> str:
    """The ``model`` to chat with after loading ``key`` gave ``instance_id``.

    The key goes to chat unchanged (issue 2: ``key@quant`` included), so the server
    resolves the very variant that was asked for. The instance id is used instead
    only when it is that key plus an ``:N`` suffix: then another instance of the
    same key was already loaded (fact sheet §4), and chatting with the bare key
    could reach that instance rather than the one measured here. The answering
    model is checked either way (runners.common.check_model).
    """
    if instance_id == key or re.fullmatch(re.escape(key) + r":\d+", instance_id):
        return instance_id
    return key


def instance_configs(payload: Any) -> dict[str, JSON]:
    """``{instance id: config}`` of every loaded instance in a ``GET /api/v1/models`` body."""
    found: dict[str, JSON] = {}
    models = payload.get("models") if isinstance(payload, dict) else None
    for model in models if isinstance(models, list) else []:
        instances = model.get("loaded_instances") if isinstance(model, dict) else None
        for inst in instances if isinstance(instances, list) else []:
            if isinstance(inst, dict) and inst.get("id") is not None:
                config = inst.get("config")
                found[str(inst["id"])] = dict(config) if isinstance(config, dict) else {}
    return found


def _model_of(instance_id: str) -> str:
    return re.sub(r":\d+$", "", instance_id)


class Loader:
    """The load half of the LM Studio backend."""

    def __init__(self, rest: rest.RestClient, base_url: str, lms: str | None, timeout_s: float):
        self._rest = rest
        self._base_url = base_url
        self._lms = lms
        self._timeout_s = timeout_s

    def _loaded(self) -> dict[str, JSON]:
        payload = self._rest.checked_object("GET", "/api/v1/models", what="list models")
        return instance_configs(payload)

    def rest_load(self, key: str, config: LoadConfig) -> LoadResult:
        body: JSON = {"model": key, "echo_load_config": True}
        if config.context_length is not None:
            body["context_length"] = config.context_length
        if config.flash_attention is not None:
            body["flash_attention"] = config.flash_attention
        if config.batch_size is not None:
            body["eval_batch_size"] = config.batch_size
        started = time.perf_counter_ns()
        payload = self._rest.checked_object(
            "POST", "/api/v1/models/load", body, what=f"load of {key}"
        )
        elapsed = (time.perf_counter_ns() - started) / 1e9
        instance_id = str(payload.get("instance_id") or key)
        echoed = payload.get("load_config")
        # load_config holds only the keys that applied (fact sheet §1.2); a server that
        # does not echo it is asked for the instance's config instead.
        reported = dict(echoed) if isinstance(echoed, dict) else self._loaded().get(instance_id, {})
        not_applied = not_applied_of(config.requested(), reported, how="the REST load")
        if config.gpu_offload is not None:
            not_applied["gpu_offload"] = NO_LMS
        if config.parallel is not None:
            not_applied["parallel"] = REST_NO_PARALLEL
        return LoadResult(
            instance_id=instance_id,
            requested=config.requested(),
            applied=confirmed(config.requested(), reported, not_applied),
            not_applied=not_applied,
            load_time_s=as_float(payload.get("load_time_seconds")),
            client_load_time_s=elapsed,
            chat_model=chat_model_for(key, instance_id),
        )

    def lms_load(self, key: str, config: LoadConfig) -> LoadResult:
        """``lms load`` (``--gpu``, ``--parallel``); only what the server then reports counts."""
        lms, gpu = self._lms or "lms", config.gpu_offload
        host = urlsplit(self._base_url)
        cmd = [lms, "load", key, *(("--gpu", gpu) if gpu is not None else ()), "-y"]
        cmd += ["--host", host.hostname or "localhost", "--port", str(host.port or 1234)]
        if config.context_length is not None:
            cmd += ["--context-length", str(config.context_length)]
        if config.parallel is not None:
            cmd += ["--parallel", str(config.parallel)]
        before = set(self._loaded())
        started = time.perf_counter_ns()
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=self._timeout_s, check=False
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise LoadFailed(f"`lms load {key}` could not run: {exc}") from None
        elapsed = (time.perf_counter_ns() - started) / 1e9
        if done.returncode != 0:
            tail = " ".join((done.stderr or done.stdout).split())[-300:]
            raise LoadFailed(f"`lms load {key}` failed (exit {done.returncode}): {tail}")
        instance_id, reported = self._new_instance(key, before)
        if reported is None:
            reason = "no new loaded instance of it appeared after `lms load`"
            not_applied = {k: reason for k in config.requested() if k not in UNREPORTED}
        else:
            not_applied = not_applied_of(config.requested(), reported, how="`lms load`")
        applied = confirmed(config.requested(), reported or {}, not_applied)
        if gpu is not None:
            applied["gpu_offload"] = {"value": gpu, "source": "lms", "note": LMS_GPU_NOTE}
        return LoadResult(
            instance_id=instance_id,
            requested=config.requested(),
            applied=applied,
            not_applied=not_applied,
            load_time_s=None,  # lms prints no machine-readable load time
            client_load_time_s=elapsed,
            chat_model=chat_model_for(key, instance_id),
        )

    def _new_instance(self, key: str, before: set[str]) -> tuple[str, JSON | None]:
        """The instance ``lms load`` added (ids listed now but not before), and its config."""
        base = key.split("@", 1)[0]
        new = self._loaded()
        new = {i: c for i, c in new.items() if i not in before}
        # Prefer an instance named after the key: another client may load something too.
        named = sorted(i for i in new if _model_of(i) in (key, base))
        if named:
            return named[0], new[named[0]]
        if len(new) == 1:
            (only,) = new
            return only, new[only]
        return key, None
