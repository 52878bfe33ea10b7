"""The options table: one row per option drives its CLI flag, ini key, YAML key and
environment variable (:mod:`pytest_lmbench.config.options` reads them)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pytest_lmbench.config.parsers import (
    as_bool,
    as_capabilities,
    as_choice,
    as_concurrency,
    as_dirs,
    as_float,
    as_formats,
    as_gpu_offload,
    as_groups,
    as_int,
    as_lower_strings,
    as_param_bounds,
    as_rates,
    as_regex,
    as_servers,
    as_slo,
    as_stop,
    as_str,
    as_strings,
    as_url,
)
from pytest_lmbench.vocabulary import BACKENDS, FORMATS, KV_CACHE_TYPES, RANK_KEYS

Kind = Literal["value", "list", "flag", "bool"]


@dataclass(frozen=True)
class Spec:
    name: str  # dest, ini key and YAML key
    help: str
    parse: Callable[[Any], Any] = as_str
    default: Any = None
    kind: Kind = "value"
    metavar: str | None = None
    env: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def envs(self) -> tuple[str, ...]:
        return self.env or ("LMBENCH_" + self.name.removeprefix("lm_").upper(),)


def _positive(kind: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        number = kind(value)
        if number <= 0:
            raise ValueError(f"must be greater than 0, got {value!r}")
        return number

    return parse


def _between(lo: float, hi: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        number = as_float(value)
        if not lo <= number <= hi:
            raise ValueError(f"must be between {lo:g} and {hi:g}, got {value!r}")
        return number

    return parse


def _non_negative_int(value: Any) -> int:
    number = as_int(value)
    if number < 0:
        raise ValueError(f"must be 0 or more, got {value!r}")
    return number


def _at_least(lo: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        number = as_int(value)
        if number < lo:
            raise ValueError(f"must be {lo} or more, got {value!r}")
        return number

    return parse


def _run_id(value: Any) -> str:
    # It names files and URLs (lmbench serve starts runs with it): no path or shell characters.
    text = as_str(value)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", text):
        raise ValueError(f"must be 1-64 letters, digits, '.', '_' or '-', got {value!r}")
    return text


def _backend_name(value: Any) -> str:
    """A built-in name in any case, or a name a plugin may add.

    Only the session knows every name (an installed entry point, or a hook of a
    conftest or plugin), so an unknown name is refused when the session starts.
    """
    text = str(value).strip()
    if text.lower() in BACKENDS:
        return text.lower()
    if not re.fullmatch(r"[\w.-]+", text):
        raise ValueError(f"expected a server type name ({', '.join(BACKENDS)}), got {value!r}")
    return text


_RATE_HELP = "open-loop request rates per second (Poisson arrivals), e.g. 1,2,4,8, or sweep"
_DURATION_HELP = "seconds of arrivals per rate item (instead of --lm-rate-requests)"
_LAYERS_HELP = "layers to offload to the GPU (Ollama num_gpu, llama.cpp n_gpu_layers; -1: all)"
_BATCH_HELP = (
    "batch size to load with (LM Studio eval_batch_size, Ollama num_batch, llama.cpp n_batch)"
)
_THREADS_HELP = "CPU threads (Ollama num_thread; the --lm-serve-gguf server)"
_KV_HELP = "KV cache type: " + ",".join(KV_CACHE_TYPES) + " (the --lm-serve-gguf server)"
_PARALLEL_HELP = "parallel predictions to load with (LM Studio via `lms load --parallel`)"
_PRESET_HELP = (
    "option values by name: quick, standard, thorough, resource-limited, "
    "or one of the presets in --lm-config; explicit options win"
)
_SLO_HELP = "latency objectives for goodput and sweeps, e.g. ttft_p95=2s,itl_p95=100ms,e2e_p95=30s"

SPECS: tuple[Spec, ...] = (
    Spec(
        "lm_model",
        "model key to benchmark (repeatable; key@quant works); all or a glob: the server's",
        as_strings,
        (),
        "list",
        "KEY",
    ),
    Spec(
        "lm_include",
        "with --lm-model=all or a glob: keep keys matching REGEX",
        as_regex,
        metavar="REGEX",
    ),
    Spec(
        "lm_exclude",
        "with --lm-model=all or a glob: drop keys matching REGEX",
        as_regex,
        metavar="REGEX",
    ),
    Spec("lm_only_vision", "keep only models the server says have vision", as_bool, False, "flag"),
    Spec("lm_only_tools", "keep only models the server says use tools", as_bool, False, "flag"),
    Spec(
        "lm_quant",
        "keep these quantizations, e.g. q4_k_m,q8_0",
        as_lower_strings,
        None,
        metavar="LIST",
    ),
    Spec(
        "lm_arch",
        "keep these architectures, e.g. llama,qwen3",
        as_lower_strings,
        None,
        metavar="LIST",
    ),
    Spec(
        "lm_params",
        "keep parameter counts within bounds, e.g. '>=3B,<=14B'",
        as_param_bounds,
        metavar="BOUNDS",
    ),
    Spec(
        "lm_max_size_gb",
        "keep models of at most N GB (10^9 bytes) on disk",
        _positive(as_float),
        metavar="GB",
    ),
    Spec(
        "lm_min_context",
        "keep models whose trained context is N or more",
        _positive(as_int),
        metavar="N",
    ),
    Spec(
        "lm_limit",
        "keep the first N models, smallest on disk first",
        _positive(as_int),
        metavar="N",
    ),
    Spec(
        "lm_random",
        "keep N models drawn at random (seeded by --lm-seed)",
        _positive(as_int),
        metavar="N",
    ),
    Spec(
        "lm_force_capabilities",
        "run items the server says a model cannot serve (vision, tools, chat on embeddings)",
        as_bool,
        False,
        "flag",
    ),
    Spec(
        "lm_backend",
        "server type: " + ", ".join(BACKENDS) + " or one a plugin adds",
        _backend_name,
        "lmstudio",
        metavar="NAME",
    ),
    Spec("lm_base_url", "server URL", as_url, "http://localhost:1234", metavar="URL"),
    Spec(
        "lm_api_token",
        "API token, sent as a Bearer header (never stored)",
        as_str,
        None,
        metavar="TOKEN",
        env=("LM_API_TOKEN", "LMBENCH_API_TOKEN"),
    ),
    Spec(
        "lm_api",
        "LM Studio route: auto (v1 native; /v1 for tools, images, seed, T>1), native or openai",
        as_choice(("auto", "native", "openai")),
        "auto",
        metavar="ROUTE",
    ),
    Spec(
        "lm_timeout",
        "seconds bounding connect, each stream gap and the whole request",
        _positive(as_float),
        120.0,
        metavar="SECONDS",
    ),
    Spec("lm_context_length", "context length to load with", _positive(as_int), None, metavar="N"),
    Spec(
        "lm_gpu_offload",
        "GPU offload: 0..1, max, off or auto (1, then 0.75, 0.5, 0.25 after out of memory)",
        as_gpu_offload,
        None,
        metavar="RATIO",
    ),
    Spec(
        "lm_flash_attention",
        "load with flash attention on (--lm-no-flash-attention: off)",
        as_bool,
        None,
        "bool",
    ),
    Spec("lm_gpu_layers", _LAYERS_HELP, _at_least(-1), None, metavar="N"),
    Spec("lm_batch_size", _BATCH_HELP, _positive(as_int), None, metavar="N"),
    Spec("lm_threads", _THREADS_HELP, _positive(as_int), None, metavar="N"),
    Spec("lm_kv_cache_quant", _KV_HELP, as_choice(tuple(KV_CACHE_TYPES)), None, metavar="TYPE"),
    Spec("lm_mmap", "load with mmap (--lm-no-mmap: read the model in)", as_bool, None, "bool"),
    Spec("lm_mlock", "lock the model in RAM (--lm-no-mlock: do not)", as_bool, None, "bool"),
    Spec("lm_parallel", _PARALLEL_HELP, _positive(as_int), None, metavar="N"),
    Spec("lm_unified_kv_cache", "one KV cache shared by all parallel slots", as_bool, None, "bool"),
    Spec("lm_rope_freq_base", "RoPE frequency base to load with", _positive(as_float), metavar="X"),
    Spec(
        "lm_rope_freq_scale",
        "RoPE frequency scale to load with",
        _positive(as_float),
        None,
        "value",
        "X",
    ),
    Spec("lm_temperature", "sampling temperature", _between(0.0, 2.0), 0.0, metavar="T"),
    Spec("lm_max_tokens", "max tokens per capability answer", _positive(as_int), 512, metavar="N"),
    Spec("lm_seed", "sampling seed (sent where the route supports it)", as_int, None, metavar="N"),
    Spec("lm_top_k", "top-k sampling (0: off)", _non_negative_int, None, metavar="K"),
    Spec("lm_top_p", "top-p (nucleus) sampling", _between(0.0, 1.0), None, metavar="P"),
    Spec("lm_min_p", "min-p sampling", _between(0.0, 1.0), None, metavar="P"),
    Spec("lm_repeat_penalty", "repeat penalty (1: none)", _positive(as_float), None, metavar="X"),
    Spec("lm_presence_penalty", "presence penalty", _between(-2.0, 2.0), None, metavar="X"),
    Spec("lm_frequency_penalty", "frequency penalty", _between(-2.0, 2.0), None, metavar="X"),
    Spec("lm_stop", r"stop string (repeatable; \n: a newline)", as_stop, (), "list", "TEXT"),
    Spec("lm_no_unload", "leave models loaded at the end", as_bool, False, "flag"),
    Spec(
        "lm_capabilities",
        "comma list to run: general_text,reasoning,vision,tooling,agentic,throughput",
        as_capabilities,
        None,
        metavar="LIST",
    ),
    Spec(
        "lm_suite_dir",
        "extra suite folder in the bundled format (repeatable)",
        as_dirs,
        (),
        "list",
        "DIR",
    ),
    Spec(
        "lm_max_tests",
        "at most N cases per capability per model, of those -k/-m selected",
        _positive(as_int),
        None,
        metavar="N",
    ),
    Spec(
        "lm_output_dir",
        "folder for the JSON/HTML/CSV reports",
        as_str,
        "lmbench-results",
        metavar="DIR",
    ),
    Spec(
        "lm_formats",
        "report formats: " + ",".join(FORMATS),
        as_formats,
        ("json", "html"),
        metavar="LIST",
    ),
    Spec(
        "lm_rank_by",
        "leaderboard order: " + ",".join(RANK_KEYS),
        as_choice(RANK_KEYS),
        "decode_tps",
        metavar="KEY",
    ),
    Spec(
        "lm_config",
        "YAML file with option keys and thresholds/weights/gates sections",
        as_str,
        None,
        metavar="FILE",
    ),
    Spec("lm_preset", _PRESET_HELP, as_str, None, metavar="NAME"),
    Spec("lm_runs", "measured repetitions per throughput item", _positive(as_int), 3, metavar="N"),
    Spec(
        "lm_warmup",
        "discarded warmup repetitions per throughput item",
        _non_negative_int,
        1,
        metavar="N",
    ),
    Spec(
        "lm_concurrency",
        "override throughput concurrency levels, e.g. 1,4,16, or sweep (up to the knee)",
        as_concurrency,
        None,
        metavar="LIST",
    ),
    Spec("lm_rate", _RATE_HELP, as_rates, None, metavar="LIST"),
    Spec(
        "lm_rate_requests", "measured requests per rate item", _positive(as_int), 100, metavar="N"
    ),
    Spec("lm_rate_duration", _DURATION_HELP, _positive(as_float), None, metavar="S"),
    Spec("lm_slo", _SLO_HELP, as_slo, None, metavar="LIST"),
    Spec("lm_calibrate", "measure the harness's own timing floor first", as_bool, False, "flag"),
    Spec(
        "lm_repeat",
        "run each capability case N times (pass@k, pass^k)",
        _positive(as_int),
        1,
        metavar="N",
    ),
    Spec(
        "lm_min_quality",
        "quality_score an item needs to pass",
        _between(0.0, 1.0),
        None,
        metavar="Q",
    ),
    Spec(
        "lm_require_schema",
        "function_call_accuracy also needs tool arguments valid in the tool's JSON schema",
        as_bool,
        False,
        "flag",
    ),
    Spec(
        "lm_reference",
        "YAML of speeds published per model and server, shown beside this run's",
        as_str,
        None,
        metavar="FILE",
    ),
    Spec(
        "lm_server",
        "a server of several in one run, NAME=BACKEND@URL (repeatable); models are NAME:KEY",
        as_servers,
        (),
        "list",
        "NAME=BACKEND@URL",
    ),
    Spec(
        "lm_same",
        "models that are the same weights, compared side by side: NAME:KEY,NAME:KEY (repeatable)",
        as_groups,
        (),
        "list",
        "KEYS",
    ),
    Spec(
        "lm_db",
        "SQLAlchemy URL of the results store (default: SQLite in XDG data)",
        as_str,
        None,
        metavar="URL",
    ),
    Spec("lm_no_db", "do not write the results store", as_bool, False, "flag"),
    Spec(
        "lm_skip_tested",
        "skip items the store holds from a finished run with the same machine, server and settings",
        as_bool,
        False,
        "flag",
    ),
    Spec("lm_retest", "run every item, even with --lm-skip-tested", as_bool, False, "flag"),
    Spec(
        "lm_run_id", "the run's id in the store (default: a new UUID)", _run_id, None, metavar="ID"
    ),
    Spec(
        "lm_sample_interval",
        "hardware sampling interval in seconds",
        _positive(as_float),
        0.2,
        metavar="SECONDS",
    ),
    Spec("lm_store_samples", "keep the raw hardware time series", as_bool, False, "flag"),
    Spec(
        "lm_cooldown_temp",
        "wait until the GPU is below C before each throughput item",
        _positive(as_float),
        None,
        metavar="C",
    ),
    Spec(
        "lm_max_temp",
        "fail an item whose GPU temperature exceeded C",
        _positive(as_float),
        None,
        metavar="C",
    ),
    Spec(
        "lm_max_power",
        "fail an item whose GPU power exceeded W",
        _positive(as_float),
        None,
        metavar="W",
    ),
    Spec("lm_gates", "gates file (YAML): quality and speed limits", as_str, None, metavar="FILE"),
    Spec(
        "lm_baseline",
        "compare with: last, a run id, or a baseline .json",
        as_str,
        None,
        metavar="REF",
    ),
    Spec(
        "lm_baseline_any_env", "allow a baseline from another fingerprint", as_bool, False, "flag"
    ),
    Spec(
        "lm_max_regression",
        "percent beyond which a significant change is a regression",
        _between(0.0, 100.0),
        10.0,
        metavar="PCT",
    ),
    Spec(
        "lm_alpha", "significance level of regression tests", _between(1e-6, 0.5), 0.05, metavar="P"
    ),
    Spec(
        "lm_allow_contention",
        "compare with a baseline even when other processes took CPU during either run",
        as_bool,
        False,
        "flag",
    ),
    Spec("lm_update_baseline", "write a baseline file for this run", as_str, None, metavar="PATH"),
    Spec(
        "lm_serve_gguf",
        "start a llama.cpp server on this GGUF (`smollm2`: the bundled default)",
        as_str,
        None,
        metavar="PATH",
    ),
)
SPEC_BY_NAME = {spec.name: spec for spec in SPECS}
SECTIONS = ("thresholds", "weights", "gates", "presets")
