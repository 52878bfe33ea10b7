"""Options: one table drives the CLI flags, ini keys, YAML keys and env variables.

Precedence: command line > environment > YAML file (``--lm-config``) > ini > default.
Every value is validated here; a bad one is a ``pytest.UsageError`` of one line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import pytest

from pytest_lmbench.config.parsers import (
    load_yaml_config,
)
from pytest_lmbench.config.presets import PresetError, preset_values, user_presets
from pytest_lmbench.config.sections import check_sections
from pytest_lmbench.config.table import SECTIONS, SPEC_BY_NAME, SPECS, Spec
from pytest_lmbench.redaction import redact, register_secret, scrub, url_secrets


@dataclass(frozen=True)
class Settings:
    """Every option in force. The token is kept out of repr and of :meth:`public`."""

    lm_model: tuple[str, ...]
    lm_include: str | None
    lm_exclude: str | None
    lm_only_vision: bool
    lm_only_tools: bool
    lm_quant: tuple[str, ...] | None
    lm_arch: tuple[str, ...] | None
    lm_params: tuple[tuple[str, float], ...] | None
    lm_max_size_gb: float | None
    lm_min_context: int | None
    lm_limit: int | None
    lm_random: int | None
    lm_force_capabilities: bool
    lm_backend: str
    lm_base_url: str
    lm_api_token: str | None = field(repr=False)
    lm_api: str
    lm_timeout: float
    lm_context_length: int | None
    lm_gpu_offload: str | None
    lm_flash_attention: bool | None
    lm_gpu_layers: int | None
    lm_batch_size: int | None
    lm_threads: int | None
    lm_kv_cache_quant: str | None
    lm_mmap: bool | None
    lm_mlock: bool | None
    lm_parallel: int | None
    lm_unified_kv_cache: bool | None
    lm_rope_freq_base: float | None
    lm_rope_freq_scale: float | None
    lm_temperature: float
    lm_max_tokens: int
    lm_seed: int | None
    lm_top_k: int | None
    lm_top_p: float | None
    lm_min_p: float | None
    lm_repeat_penalty: float | None
    lm_presence_penalty: float | None
    lm_frequency_penalty: float | None
    lm_stop: tuple[str, ...]
    lm_no_unload: bool
    lm_capabilities: tuple[str, ...] | None
    lm_suite_dir: tuple[str, ...]
    lm_max_tests: int | None
    lm_output_dir: str
    lm_formats: tuple[str, ...]
    lm_rank_by: str
    lm_config: str | None
    lm_preset: str | None
    lm_runs: int
    lm_warmup: int
    lm_concurrency: tuple[int, ...] | Literal["sweep"] | None
    lm_rate: tuple[float, ...] | Literal["sweep"] | None
    lm_rate_requests: int
    lm_rate_duration: float | None
    lm_slo: dict[str, float] | None
    lm_calibrate: bool
    lm_repeat: int
    lm_min_quality: float | None
    lm_require_schema: bool
    lm_reference: str | None
    lm_server: tuple[str, ...]
    lm_same: tuple[tuple[str, ...], ...]
    lm_db: str | None
    lm_no_db: bool
    lm_skip_tested: bool
    lm_retest: bool
    lm_run_id: str | None
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
        out["lm_server"] = [scrub(server) for server in self.lm_server]
        out["lm_same"] = [list(group) for group in self.lm_same]
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
        elif spec.kind in ("flag", "bool"):
            group.addoption(
                spec.flag,
                action="store_const",
                const=True,
                dest=spec.name,
                default=None,
                help=help_text,
            )
            if spec.kind == "bool":
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
    preset, preset_source = _preset(config, environ, yaml_values, sections, yaml_path)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for spec in SPECS:
        value, source = _pick(spec, config, environ, yaml_values)
        if value is None and spec.name in preset:
            value, source = preset[spec.name], preset_source
        try:
            values[spec.name] = spec.parse(value) if value is not None else spec.default
        except ValueError as exc:
            raise pytest.UsageError(f"{spec.flag} ({source}): {exc}") from None
        sources[spec.name] = source if value is not None else "default"
    if values["lm_serve_gguf"] is not None and sources["lm_backend"] == "default":
        values["lm_backend"] = "openai"
    register_secret(values["lm_api_token"])
    url_secrets(values["lm_base_url"])
    return Settings(**values, sections=sections, sources=sources)


def _preset(
    config: pytest.Config,
    environ: Mapping[str, str],
    yaml_values: Mapping[str, Any],
    sections: Mapping[str, Any],
    yaml_path: str | None,
) -> tuple[dict[str, Any], str]:
    """The values ``--lm-preset`` sets and the source they count as ("preset quick")."""
    spec = SPEC_BY_NAME["lm_preset"]
    name, source = _pick(spec, config, environ, yaml_values)
    try:
        users = user_presets(sections.get("presets"), f"--lm-config: {yaml_path}")
    except PresetError as exc:
        raise pytest.UsageError(str(exc)) from None
    if name is None:
        return {}, "default"
    name = str(name).strip()
    try:
        return preset_values(name, users), f"preset {name}"
    except PresetError as exc:
        raise pytest.UsageError(f"{spec.flag} ({source}): {exc}") from None


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
