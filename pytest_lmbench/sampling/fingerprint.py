"""Fingerprints: which results are comparable with which.

Two results are compared (baselines, history, regressions) only when they
share a fingerprint: a sha256 (first 16 hex chars) of canonical JSON over
everything that changes model speed -- hardware (CPU model, logical cores,
RAM rounded to whole GB, GPU names + memory + driver versions), OS and
kernel, server backend + version + build, model key + quantization, the
applied load config and the sampling settings.

Deliberately *not* included: the Python and plugin versions. The model runs
inside the server process, so neither changes tokens/s; including them would
orphan every baseline on each plugin or interpreter upgrade. Volatile facts
(free RAM, hostname) are left out for the same reason.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

_HEX_CHARS = 16


def canonical(value: Any) -> Any:
    """JSON-ready value with one spelling per meaning (1.0 == 1, sets sorted)."""
    if isinstance(value, Mapping):
        return {str(key): canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((canonical(item) for item in value), key=_dump)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def digest(value: Any) -> str:
    """First 16 hex chars of the sha256 of the canonical JSON of ``value``."""
    encoded = _dump(canonical(value)).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()[:_HEX_CHARS]


def _round_gb(value: Any, digits: int) -> float | None:
    return round(float(value), digits) if isinstance(value, int | float) else None


def _gpu_identity(gpu: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": gpu.get("name"),
        "memory_total_gb": _round_gb(gpu.get("memory_total_gb"), 1),
        "driver_version": gpu.get("driver_version"),
    }


def hardware_identity(environment: Mapping[str, Any]) -> dict[str, Any]:
    """The speed-relevant part of an environment dict."""
    gpus = environment.get("gpus") or []
    identities = [_gpu_identity(gpu) for gpu in gpus if isinstance(gpu, Mapping)]
    server = environment.get("server")
    return {
        "cpu_model": environment.get("cpu_model"),
        "cpu_cores_logical": environment.get("cpu_cores_logical"),
        # Reported totals wobble with firmware reservations; whole GB is stable.
        "ram_gb": _round_gb(environment.get("ram_gb"), 0),
        # Enumeration order of identical cards is not a property of the box.
        "gpus": sorted(identities, key=_dump),
        "os": environment.get("os"),
        "kernel": environment.get("kernel"),
        "server_build": server.get("build") if isinstance(server, Mapping) else None,
    }


def fingerprint(
    environment: Mapping[str, Any],
    *,
    model_key: str,
    quantization: str | None,
    load_applied: Mapping[str, Any],
    sampling: Mapping[str, Any],
    backend: str,
    server_version: str | None,
) -> str:
    """Per-model fingerprint (16 hex chars); see the module docstring for its inputs."""
    return digest(
        {
            "machine": hardware_identity(environment),
            "backend": backend,
            "server_version": server_version,
            "model": {"key": model_key, "quantization": quantization},
            "load": load_applied,
            "sampling": sampling,
        }
    )


def run_fingerprint(per_model: Mapping[str, str]) -> str:
    """Run-level fingerprint: the per-model fingerprints, keyed and sorted by model."""
    return digest({"models": dict(sorted(per_model.items()))})
