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
    as_int,
    as_rates,
    as_slo,
    as_str,
    as_strings,
    as_url,
)
from pytest_lmbench.vocabulary import BACKENDS, FORMATS

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
_SLO_HELP = "latency objectives for goodput and sweeps, e.g. ttft_p95=2s,itl_p95=100ms,e2e_p95=30s"

SPECS: tuple[Spec, ...] = (
    Spec(
        "lm_model",
        "model key to benchmark (repeatable; key@quant works)",
        as_strings,
        (),
        "list",
        "KEY",
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
        "GPU offload: 0..1, max or off (LM Studio via `lms load --gpu`)",
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
    Spec("lm_temperature", "sampling temperature", _between(0.0, 2.0), 0.0, metavar="T"),
    Spec("lm_max_tokens", "max tokens per capability answer", _positive(as_int), 512, metavar="N"),
    Spec("lm_seed", "sampling seed (sent where the route supports it)", as_int, None, metavar="N"),
    Spec("lm_no_unload", "leave models loaded at the end", as_bool, False, "flag"),
    Spec(
        "lm_capabilities",
        "comma list to run: general_text,reasoning,vision,tooling,throughput",
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
        "lm_config",
        "YAML file with option keys and thresholds/weights/gates sections",
        as_str,
        None,
        metavar="FILE",
    ),
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
        "lm_bfcl_strings",
        "compare tool-call enum values after BFCL string standardisation, as BFCL does",
        as_bool,
        False,
        "flag",
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
    Spec(
        "lm_threads", "threads of the --lm-serve-gguf server", _positive(as_int), None, metavar="N"
    ),
)
SPEC_BY_NAME = {spec.name: spec for spec in SPECS}
SECTIONS = ("thresholds", "weights", "gates")
