"""``--lm-gpu-offload=auto``: full offload first, then less after each out-of-memory load.

Every attempt is recorded in the load's facts (``offload_attempts``) with the
level that loaded (``gpu_offload_loaded``); a failure that is not out of memory
ends the fallback at once, as does running out of levels.
"""

from __future__ import annotations

import re
from dataclasses import replace

from pytest_lmbench.backends.base import JSON, Backend, LoadConfig, LoadResult
from pytest_lmbench.errors import LmbenchError, LoadFailed

AUTO = "auto"
LEVELS = ("1", "0.75", "0.5", "0.25")
# What LM Studio, Ollama and llama.cpp say when the model does not fit.
_OOM = re.compile(
    r"out of memory|\bOOM\b|insufficient memory|requires more system memory|"
    r"failed to allocate|not enough memory|cudaMalloc failed",
    re.IGNORECASE,
)


def out_of_memory(message: str) -> bool:
    return _OOM.search(message) is not None


def load(backend: Backend, key: str, config: LoadConfig) -> LoadResult:
    """``backend.load``; with ``auto`` offload, the fallback over :data:`LEVELS`."""
    if config.gpu_offload != AUTO:
        return backend.load(key, config)
    attempts: list[JSON] = []
    for level in LEVELS:
        try:
            result = backend.load(key, replace(config, gpu_offload=level))
        except LmbenchError as exc:
            if not out_of_memory(str(exc)):
                raise
            attempts.append({"gpu_offload": level, "error": str(exc)[:300]})
            continue
        attempts.append({"gpu_offload": level, "loaded": True})
        result.requested = {**result.requested, "gpu_offload": AUTO}
        result.facts = {**result.facts, "offload_attempts": attempts, "gpu_offload_loaded": level}
        return result
    raise LoadFailed(
        f"{key} ran out of memory at every GPU offload level ({', '.join(LEVELS)}): "
        f"{attempts[-1]['error']}"
    )
