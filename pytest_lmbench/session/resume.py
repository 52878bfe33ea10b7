"""``--lm-skip-tested``: leave out items the store already holds an identical result of.

An item's resume key is a digest of what makes two of its results the same
measurement: the machine and server (as in the model fingerprint), the item id
(which names the model and the case) and every setting that shapes what is sent
or how it is judged. It is known before any model loads, so a resumed run never
loads a model whose items are all done. Every stored result carries its key
(``flags.resume_key``), so any run can be resumed later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_lmbench.sampling.fingerprint import digest, hardware_identity

# The settings that change what an item sends, measures or how it is judged.
SHAPING = (
    "lm_backend",
    "lm_api",
    "lm_serve_gguf",
    "lm_context_length",
    "lm_gpu_offload",
    "lm_flash_attention",
    "lm_gpu_layers",
    "lm_batch_size",
    "lm_threads",
    "lm_kv_cache_quant",
    "lm_mmap",
    "lm_mlock",
    "lm_parallel",
    "lm_unified_kv_cache",
    "lm_rope_freq_base",
    "lm_rope_freq_scale",
    "lm_temperature",
    "lm_max_tokens",
    "lm_seed",
    "lm_top_k",
    "lm_top_p",
    "lm_min_p",
    "lm_repeat_penalty",
    "lm_presence_penalty",
    "lm_frequency_penalty",
    "lm_stop",
    "lm_runs",
    "lm_warmup",
    "lm_concurrency",
    "lm_rate",
    "lm_rate_requests",
    "lm_rate_duration",
    "lm_slo",
    "lm_repeat",
    "lm_min_quality",
    "lm_require_schema",
)


def resume_key(environment: Mapping[str, Any], settings: Mapping[str, Any], nodeid: str) -> str:
    """The item's resume key; ``settings`` is ``Settings.public()``."""
    server = environment.get("server")
    version = server.get("server_version") if isinstance(server, Mapping) else None
    shaping = {name: settings.get(name) for name in SHAPING}
    machine = hardware_identity(environment)
    return digest({"machine": machine, "server": version, "settings": shaping, "item": nodeid})


def header_line(skipped: int) -> list[str]:
    if not skipped:
        return []
    what = "item" if skipped == 1 else "items"
    return [
        f"lmbench: {skipped} {what} skipped, already in the store from a finished run "
        "(--lm-skip-tested; --lm-retest runs them)"
    ]
