"""Options: CLI > environment > YAML (--lm-config) > ini > default, and clear errors."""

from __future__ import annotations

import re

import pytest

from pytest_lmbench.config.options import resolve


def settings_for(pytester: pytest.Pytester, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    config = pytester.parseconfigure(*args)
    return resolve(config, environ=env or {})


def test_defaults(pytester: pytest.Pytester) -> None:
    s = settings_for(pytester)
    assert s.lm_backend == "lmstudio"
    assert s.lm_base_url == "http://localhost:1234"
    assert s.lm_timeout == 120.0
    assert s.lm_temperature == 0.0
    assert s.lm_runs == 3
    assert s.lm_warmup == 1
    assert s.lm_output_dir == "lmbench-results"
    assert s.lm_formats == ("json", "html")
    assert not s.active


def test_repeatable_model_and_variants(pytester: pytest.Pytester) -> None:
    s = settings_for(pytester, "--lm-model=b", "--lm-model=qwen/qwen3-4b@q4_k_m")
    assert s.lm_model == ("b", "qwen/qwen3-4b@q4_k_m")
    assert s.active


def test_precedence_cli_env_yaml_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nlm_base_url = http://ini:1\nlm_timeout = 5\nlm_runs = 7\nlm_warmup = 2\n"
    )
    cfg = pytester.makefile(".yaml", cfg="base_url: http://yaml:2\nlm_timeout: 6\nruns: 8\n")
    env = {"LMBENCH_BASE_URL": "http://env:3", "LMBENCH_TIMEOUT": "9"}
    s = settings_for(pytester, f"--lm-config={cfg}", "--lm-base-url=http://cli:4", env=env)
    assert s.lm_base_url == "http://cli:4"
    assert s.sources["lm_base_url"] == "command line"
    assert s.lm_timeout == 9.0
    assert s.sources["lm_timeout"] == "environment"
    assert s.lm_runs == 8
    assert s.sources["lm_runs"] == "--lm-config"
    assert s.lm_warmup == 2
    assert s.sources["lm_warmup"] == "ini"


def test_token_from_env_is_never_public(pytester: pytest.Pytester) -> None:
    s = settings_for(pytester, env={"LM_API_TOKEN": "sk-lm-secret:abc"})
    assert s.lm_api_token == "sk-lm-secret:abc"
    assert "sk-lm-secret" not in repr(s)
    assert "sk-lm-secret" not in str(s.public())
    assert s.public()["lm_api_token_set"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            # Any name-shaped value may be a plugin's: an unknown one fails at session start.
            ["--lm-backend=v llm"],
            "--lm-backend (command line): expected a server type name (lmstudio, openai, ollama)",
        ),
        (["--lm-timeout=0"], "--lm-timeout (command line): must be greater than 0"),
        (["--lm-gpu-offload=1.5"], "--lm-gpu-offload (command line): expected a ratio from 0 to 1"),
        (
            ["--lm-base-url=localhost:1234"],
            "--lm-base-url (command line): expected an http:// or https:// URL",
        ),
        (["--lm-capabilities=general_text,poetry"], "unknown capability poetry"),
        (["--lm-concurrency=1,x"], "expected a whole number"),
        (["--lm-formats=pdf"], "unknown format pdf"),
        (["--lm-temperature=3"], "must be between 0 and 2"),
        (["--lm-base-url=http://[::1"], "Invalid IPv6 URL"),
        (["--lm-base-url=http://host:port"], "Port could not be cast"),
        (["--lm-concurrency=1,5000"], "from 1 to 4096"),
    ],
)
def test_invalid_values_are_one_line_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    error_lines = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(error_lines) == 1
    assert message in error_lines[0]


def test_gpu_offload_forms(pytester: pytest.Pytester) -> None:
    assert settings_for(pytester, "--lm-gpu-offload=MAX").lm_gpu_offload == "max"
    assert settings_for(pytester, "--lm-gpu-offload=0.50").lm_gpu_offload == "0.5"


def test_flash_attention_tristate(pytester: pytest.Pytester) -> None:
    assert settings_for(pytester).lm_flash_attention is None
    assert settings_for(pytester, "--lm-flash-attention").lm_flash_attention is True
    assert settings_for(pytester, "--lm-no-flash-attention").lm_flash_attention is False


def test_yaml_unknown_key_and_bad_yaml(pytester: pytest.Pytester) -> None:
    bad_key = pytester.makefile(".yaml", bad="lm_colour: blue\n")
    result = pytester.runpytest(f"--lm-config={bad_key}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown key 'lm_colour'*"])
    broken = pytester.makefile(".yaml", broken="a: [1, 2\n")
    result = pytester.runpytest(f"--lm-config={broken}")
    result.stderr.fnmatch_lines(["*is not valid YAML at line*"])


def test_yaml_sections_are_kept(pytester: pytest.Pytester) -> None:
    cfg = pytester.makefile(
        ".yaml", cfg="thresholds:\n  reasoning: {min_quality: 0.7}\nweights:\n  qa: {f1: 1.0}\n"
    )
    s = settings_for(pytester, f"--lm-config={cfg}")
    assert s.sections["thresholds"]["reasoning"]["min_quality"] == 0.7
    assert s.sections["weights"]["qa"] == {"f1": 1.0}


def test_serve_gguf_switches_default_backend(pytester: pytest.Pytester) -> None:
    s = settings_for(pytester, "--lm-serve-gguf=smollm2")
    assert s.lm_backend == "openai"
    assert s.active


def test_threads_are_a_load_setting_of_every_backend(pytester: pytest.Pytester) -> None:
    # Ollama (num_thread) takes them too, so they no longer need --lm-serve-gguf.
    assert settings_for(pytester, "--lm-serve-gguf=smollm2", "--lm-threads=3").lm_threads == 3
    assert settings_for(pytester, "--lm-model=m", "--lm-threads=2").lm_threads == 2


def test_sampling_and_load_options_parse(pytester: pytest.Pytester) -> None:
    s = settings_for(
        pytester,
        *("--lm-top-k=40", "--lm-top-p=0.9", "--lm-min-p=0.05", "--lm-repeat-penalty=1.1"),
        *("--lm-presence-penalty=-0.5", "--lm-frequency-penalty=0.25"),
        *("--lm-stop=END,HERE", r"--lm-stop=\n\n", "--lm-gpu-layers=-1", "--lm-batch-size=256"),
        *("--lm-kv-cache-quant=Q8_0", "--lm-no-mmap", "--lm-mlock", "--lm-parallel=2"),
        *("--lm-unified-kv-cache", "--lm-rope-freq-base=10000", "--lm-rope-freq-scale=0.5"),
    )
    assert (s.lm_top_k, s.lm_top_p, s.lm_min_p, s.lm_repeat_penalty) == (40, 0.9, 0.05, 1.1)
    assert (s.lm_presence_penalty, s.lm_frequency_penalty) == (-0.5, 0.25)
    assert s.lm_stop == ("END,HERE", "\n\n")  # a stop string keeps its commas
    assert (s.lm_gpu_layers, s.lm_batch_size, s.lm_kv_cache_quant) == (-1, 256, "q8_0")
    assert (s.lm_mmap, s.lm_mlock, s.lm_parallel, s.lm_unified_kv_cache) == (False, True, 2, True)
    assert (s.lm_rope_freq_base, s.lm_rope_freq_scale) == (10000.0, 0.5)
    yaml = pytester.makefile(".yaml", cfg="top_k: 20\nstop: ['a', 'b, c']\nmmap: false\n")
    s = settings_for(pytester, f"--lm-config={yaml}")
    assert (s.lm_top_k, s.lm_stop, s.lm_mmap) == (20, ("a", "b, c"), False)


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--lm-top-p=1.5", "--lm-top-p (command line): must be between 0 and 1, got '1.5'"),
        ("--lm-kv-cache-quant=q3", "--lm-kv-cache-quant (command line): expected one of f32"),
        ("--lm-gpu-layers=-2", "--lm-gpu-layers (command line): must be -1 or more, got '-2'"),
        ("--lm-stop=", "--lm-stop (command line): a stop string must not be empty"),
    ],
)
def test_bad_sampling_and_load_values_are_one_line(
    pytester: pytest.Pytester, flag: str, message: str
) -> None:
    with pytest.raises(pytest.UsageError, match=re.escape(message)):
        settings_for(pytester, flag)


def test_help_lists_the_lmbench_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "*pytest-lmbench: benchmarks of local LLMs*",
            "*--lm-model=KEY*",
            "*--lm-no-flash-attention*",
        ]
    )
    assert "lm_base_url" in result.stdout.str()


def test_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("-p", "no:lmbench", "--help")
    assert "--lm-model" not in result.stdout.str()


def test_suite_dir_must_be_an_existing_folder(pytester: pytest.Pytester) -> None:
    missing = pytester.path / "no-such-suites"
    result = pytester.runpytest(f"--lm-suite-dir={missing}", "--lm-model=m")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert errors == [f"ERROR: --lm-suite-dir (command line): {missing}: no such directory"]
    a_file = pytester.makefile(".json", suite="{}")
    result = pytester.runpytest(f"--lm-suite-dir={a_file}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: --lm-suite-dir (command line): {a_file}: not a directory"]
    )
    folder = pytester.mkdir("suites")
    assert settings_for(pytester, "--lm-suite-dir=suites").lm_suite_dir == ("suites",)
    assert folder.is_dir()


def test_suite_dir_from_yaml_is_checked_too(pytester: pytest.Pytester) -> None:
    cfg = pytester.makefile(".yaml", cfg="suite_dir: [./missing]\n")
    result = pytester.runpytest(f"--lm-config={cfg}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --lm-suite-dir (--lm-config): ./missing: no such directory"]
    )


def test_the_unused_default_url_is_not_shown_for_a_managed_server(
    pytester: pytest.Pytester,
) -> None:
    assert settings_for(pytester, "--lm-serve-gguf=smollm2").public()["lm_base_url"] is None
    chosen = settings_for(pytester, "--lm-base-url=http://h:9")
    assert chosen.public()["lm_base_url"] == "http://h:9"
