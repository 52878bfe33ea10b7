"""Options: one table drives the CLI flags, ini keys, YAML keys and env variables.

Precedence: command line > environment > YAML file (``--lm-config``) > ini > default.
Every value is validated here; a bad one is a ``pytest.UsageError`` of one line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import pytest

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
    as_str,
    as_strings,
    as_url,
    load_yaml_config,
)
from pytest_lmbench.config.sections import check_sections
from pytest_lmbench.redaction import redact, register_secret, scrub, url_secrets
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
        "override throughput concurrency levels, e.g. 1,4,16",
        as_concurrency,
        None,
        metavar="LIST",
    ),
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


@dataclass(frozen=True)
class Settings:
    """Every option in force. The token is kept out of repr and of :meth:`public`."""

    lm_model: tuple[str, ...]
    lm_backend: str
    lm_base_url: str
    lm_api_token: str | None = field(repr=False)
    lm_api: str
    lm_timeout: float
    lm_context_length: int | None
    lm_gpu_offload: str | None
    lm_flash_attention: bool | None
    lm_temperature: float
    lm_max_tokens: int
    lm_seed: int | None
    lm_no_unload: bool
    lm_capabilities: tuple[str, ...] | None
    lm_suite_dir: tuple[str, ...]
    lm_max_tests: int | None
    lm_output_dir: str
    lm_formats: tuple[str, ...]
    lm_config: str | None
    lm_runs: int
    lm_warmup: int
    lm_concurrency: tuple[int, ...] | None
    lm_calibrate: bool
    lm_repeat: int
    lm_min_quality: float | None
    lm_bfcl_strings: bool
    lm_db: str | None
    lm_no_db: bool
    lm_sample_interval: float
    lm_store_samples: bool
    lm_cooldown_temp: float | None
    lm_max_temp: float | None
    lm_max_power: float | None
    lm_gates: str | None
    lm_baseline: str | None
    lm_baseline_any_env: bool
    lm_max_regression: float
    lm_alpha: float
    lm_allow_contention: bool
    lm_update_baseline: str | None
    lm_serve_gguf: str | None
    lm_threads: int | None
    sections: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """True when the user asked for a benchmark (a model or a managed server)."""
        return bool(self.lm_model) or self.lm_serve_gguf is not None

    def public(self) -> dict[str, Any]:
        """Settings for reports and the store: JSON-able, token excluded."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("lm_api_token", "sources", "sections"):
                continue
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        out["lm_api_token_set"] = self.lm_api_token is not None
        if self.lm_db is not None:
            out["lm_db"] = redact(self.lm_db)  # a PostgreSQL URL may carry a password
        out["lm_base_url"] = scrub(self.lm_base_url)  # so may a proxy's
        if self.lm_serve_gguf is not None and self.sources.get("lm_base_url") == "default":
            out["lm_base_url"] = None  # never used: the managed server's URL is the run's
        return out


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("lmbench", "pytest-lmbench: benchmarks of local LLMs")
    for spec in SPECS:
        env = ", ".join(spec.envs)
        help_text = f"{spec.help} [ini {spec.name}; env {env}]"
        if spec.kind == "list":
            group.addoption(
                spec.flag,
                action="append",
                dest=spec.name,
                default=None,
                metavar=spec.metavar,
                help=help_text,
            )
        elif spec.kind == "flag":
            group.addoption(
                spec.flag,
                action="store_const",
                const=True,
                dest=spec.name,
                default=None,
                help=help_text,
            )
        elif spec.kind == "bool":
            group.addoption(
                spec.flag,
                action="store_const",
                const=True,
                dest=spec.name,
                default=None,
                help=help_text,
            )
            group.addoption(
                spec.flag.replace("--lm-", "--lm-no-"),
                action="store_const",
                const=False,
                dest=spec.name,
                help=f"opposite of {spec.flag}",
            )
        else:
            group.addoption(
                spec.flag,
                action="store",
                dest=spec.name,
                default=None,
                metavar=spec.metavar,
                help=help_text,
            )
        parser.addini(spec.name, spec.help, type="string", default=None)


def resolve(config: pytest.Config, environ: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from every source; raises ``pytest.UsageError``."""
    environ = os.environ if environ is None else environ
    yaml_path = _first_set(
        config.getoption("lm_config"),
        _env(SPEC_BY_NAME["lm_config"], environ),
        config.getini("lm_config"),
    )
    yaml_values, sections = (
        load_yaml_config(Path(yaml_path), SPEC_BY_NAME, SECTIONS) if yaml_path else ({}, {})
    )
    if sections:
        sections = check_sections(sections, f"--lm-config: {yaml_path}")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for spec in SPECS:
        value, source = _pick(spec, config, environ, yaml_values)
        try:
            values[spec.name] = spec.parse(value) if value is not None else spec.default
        except ValueError as exc:
            raise pytest.UsageError(f"{spec.flag} ({source}): {exc}") from None
        sources[spec.name] = source if value is not None else "default"
    if values["lm_serve_gguf"] is not None and sources["lm_backend"] == "default":
        values["lm_backend"] = "openai"
    if values["lm_threads"] is not None and values["lm_serve_gguf"] is None:  # never ignored
        raise pytest.UsageError(f"--lm-threads ({sources['lm_threads']}) needs --lm-serve-gguf")
    register_secret(values["lm_api_token"])
    url_secrets(values["lm_base_url"])
    return Settings(**values, sections=sections, sources=sources)


def _pick(
    spec: Spec, config: pytest.Config, environ: Mapping[str, str], yaml_values: Mapping[str, Any]
) -> tuple[Any, str]:
    cli = config.getoption(spec.name)
    if cli is not None and cli != []:
        return cli, "command line"
    env = _env(spec, environ)
    if env is not None:
        return env, "environment"
    if spec.name in yaml_values:
        return yaml_values[spec.name], "--lm-config"
    ini = config.getini(spec.name)
    if ini not in (None, ""):
        return ini, "ini"
    return None, "default"


def _env(spec: Spec, environ: Mapping[str, str]) -> str | None:
    for name in spec.envs:
        if environ.get(name):
            return environ[name]
    return None


def _first_set(*values: Any) -> Any:
    return next((v for v in values if v not in (None, "", [])), None)
