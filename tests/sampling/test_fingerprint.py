"""Fingerprint stability and sensitivity."""

from __future__ import annotations

import copy
from typing import Any

from pytest_lmbench.sampling import fingerprint, run_fingerprint

ENV: dict[str, Any] = {
    "os": "Linux",
    "os_version": "Ubuntu 24.04 LTS",
    "kernel": "6.8.0-45-generic",
    "cpu_model": "AMD Ryzen 9 7950X 16-Core Processor",
    "cpu_cores_physical": 16,
    "cpu_cores_logical": 32,
    "ram_gb": 67.23,
    "gpus": [
        {
            "vendor": "NVIDIA",
            "name": "NVIDIA GeForce RTX 4090",
            "memory_total_gb": 25.76,
            "driver_version": "550.54.14",
            "index": 0,
        }
    ],
    "python_version": "3.11.7",
    "plugin_version": "0.1.0",
    "server": {"backend": "llamacpp", "version": "b4567", "build": "cuda-12.4"},
}
MODEL: dict[str, Any] = {
    "model_key": "qwen2.5-7b-instruct",
    "quantization": "Q4_K_M",
    "load_applied": {"context_length": 8192, "gpu_offload": "max", "flash_attention": True},
    "sampling": {"temperature": 0.0, "seed": 42, "max_tokens": 256},
    "backend": "llamacpp",
    "server_version": "b4567",
}


def _fp(env: dict[str, Any] | None = None, **changes: Any) -> str:
    return fingerprint(ENV if env is None else env, **{**MODEL, **changes})


def test_stable_across_calls_and_dict_order() -> None:
    first = _fp()
    assert first == _fp()
    assert len(first) == 16
    int(first, 16)
    reordered_env = dict(reversed(list(ENV.items())))
    reordered_load = dict(reversed(list(MODEL["load_applied"].items())))
    assert _fp(reordered_env, load_applied=reordered_load) == first
    # 0 and 0.0 are the same setting.
    assert _fp(sampling={**MODEL["sampling"], "temperature": 0}) == first


def test_changes_with_quantization_load_and_hardware() -> None:
    base = _fp()
    assert _fp(quantization="Q8_0") != base
    assert _fp(load_applied={**MODEL["load_applied"], "context_length": 4096}) != base
    assert _fp(sampling={**MODEL["sampling"], "seed": 1}) != base
    assert _fp(server_version="b4600") != base
    other_gpu = copy.deepcopy(ENV)
    other_gpu["gpus"][0]["driver_version"] = "560.35.03"
    assert _fp(other_gpu) != base


def test_unchanged_by_python_plugin_version_and_ram_noise() -> None:
    base = _fp()
    env = copy.deepcopy(ENV)
    env["python_version"] = "3.12.4"
    env["plugin_version"] = "9.9.9"
    env["ram_gb"] = 67.4
    env["os_version"] = "Ubuntu 24.04.1 LTS"
    env["gpus"][0]["index"] = 3
    assert _fp(env) == base


def test_run_fingerprint_is_order_independent() -> None:
    a = run_fingerprint({"model-a": "1111", "model-b": "2222"})
    assert a == run_fingerprint({"model-b": "2222", "model-a": "1111"})
    assert a != run_fingerprint({"model-a": "1111", "model-b": "3333"})
    assert len(a) == 16
