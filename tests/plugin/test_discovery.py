"""``--lm-model=all``, globs and the model filters on each backend's double (issue 14).

The doubles list six installed models with metadata (``testing.models.installed_models``):
two tool-using LLMs, a vision model, an embedding model and one model in two
quantizations. Each filter is checked against what each backend's own model list
says; a server that lists bare ids (OpenAI-compatible) says nothing a metadata
filter needs, so such a filter keeps nothing there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_lmbench.backends import make_backend
from pytest_lmbench.backends.base import BackendOptions
from pytest_lmbench.collection.discovery import billions, discover
from pytest_lmbench.config.options import resolve
from pytest_lmbench.testing import LMStudioTestServer, OllamaTestServer
from pytest_lmbench.testing.httpserver import EngineServer
from pytest_lmbench.testing.models import installed_models
from pytest_lmbench.testing.oracle import oracle_rules

from .conftest import write_suite

LMS = {
    "gemma": "google/gemma-3-4b",
    "granite": "ibm/granite-3.3-8b",
    "llama_q4": "llama-3.2-1b-instruct@q4_k_m",
    "llama_q8": "llama-3.2-1b-instruct@q8_0",
    "qwen": "qwen/qwen3-4b",
    "embed": "text-embedding-nomic-embed-text-v1.5",
}
OLLAMA = {
    "gemma": "gemma3:4b",
    "granite": "granite3.3:8b",
    "llama_q4": "llama3.2:1b-instruct-q4_K_M",
    "llama_q8": "llama3.2:1b-instruct-q8_0",
    "embed": "nomic-embed-text:latest",
    "qwen": "qwen3:4b",
}
# /v1/models: bare ids, the two quantizations one id (it lists no variants).
OPENAI = {
    **{k: v for k, v in LMS.items() if not k.startswith("llama")},
    "llama": "llama-3.2-1b-instruct",
}
# filter -> the models it keeps, by short name, for servers that describe their models.
FILTERS: dict[str, list[str]] = {
    "--lm-include=qwen|granite": ["granite", "qwen"],
    "--lm-exclude=embed": ["gemma", "granite", "llama_q4", "llama_q8", "qwen"],
    "--lm-only-vision": ["gemma"],
    "--lm-only-tools": ["granite", "qwen"],
    "--lm-quant=q8_0": ["llama_q8"],
    "--lm-arch=llama,qwen3": ["llama_q4", "llama_q8", "qwen"],
    "--lm-params=>=3B,<=8B": ["gemma", "granite", "qwen"],
    "--lm-min-context=100000": ["gemma", "granite", "llama_q4", "llama_q8"],
    "--lm-limit=2": ["embed", "llama_q4"],
}
# LM Studio describes a variant other than the selected one without its size.
MAX_SIZE = {
    "lmstudio": ["embed", "llama_q4", "qwen"],
    "ollama": ["embed", "llama_q4", "llama_q8", "qwen"],
}


@pytest.fixture(params=["lmstudio", "ollama", "openai"])
def double(request: pytest.FixtureRequest) -> Iterator[tuple[str, EngineServer, dict[str, str]]]:
    name = request.param
    if name == "ollama":
        server: EngineServer = OllamaTestServer(installed_models(ollama=True))
        names = OLLAMA
    else:
        server = LMStudioTestServer(installed_models())
        names = LMS if name == "lmstudio" else OPENAI
    with server:
        yield name, server, names


def kept(pytester: pytest.Pytester, name: str, server: EngineServer, *args: str) -> list[str]:
    if not any(a.startswith("--lm-model=") for a in args):
        args = ("--lm-model=all", *args)
    settings = resolve(pytester.parseconfigure(*args), environ={})
    backend = make_backend(name, BackendOptions(server.base_url))
    try:
        infos = {info.key: info for info in backend.list_models()}
        return sorted(discover(settings, infos, backend.find_model).keys)
    finally:
        backend.close()


def test_all_lists_every_installed_model(
    pytester: pytest.Pytester, double: tuple[str, EngineServer, dict[str, str]]
) -> None:
    name, server, names = double
    assert kept(pytester, name, server) == sorted(names.values())


@pytest.mark.parametrize("flag", [*FILTERS, "--lm-max-size-gb=3"])
def test_each_filter_keeps_exactly_the_expected_models(
    pytester: pytest.Pytester, double: tuple[str, EngineServer, dict[str, str]], flag: str
) -> None:
    name, server, names = double
    if name == "openai":
        expected = _openai_expected(flag, names)
    else:
        short = MAX_SIZE[name] if flag.startswith("--lm-max-size-gb") else FILTERS[flag]
        expected = sorted(names[s] for s in short)
    assert kept(pytester, name, server, flag) == expected


def _openai_expected(flag: str, names: dict[str, str]) -> list[str]:
    """Only key filters and the limit work on bare ids; unknown sizes keep the key order."""
    by_key = {
        "--lm-include=qwen|granite": ["granite", "qwen"],
        "--lm-exclude=embed": ["gemma", "granite", "llama", "qwen"],
    }
    if flag in by_key:
        return sorted(names[s] for s in by_key[flag])
    if flag == "--lm-limit=2":
        return sorted(names.values())[:2]
    return []


def test_globs_and_random_draws(
    pytester: pytest.Pytester, double: tuple[str, EngineServer, dict[str, str]]
) -> None:
    name, server, names = double
    if name != "ollama":
        assert kept(pytester, name, server, "--lm-model=*qwen*") == [names["qwen"]]
    drawn = kept(pytester, name, server, "--lm-random=2", "--lm-seed=7")
    assert len(drawn) == 2
    assert set(drawn) <= set(names.values())
    assert kept(pytester, name, server, "--lm-random=2", "--lm-seed=7") == drawn  # seeded


@pytest.mark.parametrize(
    ("params", "count"),
    [("7B", 7.0), ("4.3B", 4.3), ("135M", 0.135), ("26B-A4B", 26.0), ("8x7B", 56.0), (None, None)],
)
def test_parameter_counts_from_the_servers_strings(params: str | None, count: float | None) -> None:
    assert (
        billions(params) == pytest.approx(count) if count is not None else billions(params) is None
    )


# -- through the plugin ------------------------------------------------------------------


@pytest.fixture
def lms() -> Iterator[LMStudioTestServer]:
    with LMStudioTestServer(installed_models()) as server:
        server.engine.script.ttft_s = 0.001
        server.engine.script.token_interval_s = 0.0002
        yield server


def run(pytester: pytest.Pytester, server: LMStudioTestServer, *args: str) -> pytest.RunResult:
    suite = pytester.path / "suite"
    if not suite.exists():
        write_suite(suite)
        embedding = {
            "capability": "throughput",
            "kind": "embedding",
            "cases": [{"prompt_tokens": 16}],
        }
        (suite / "throughput" / "embedding.json").write_text(json.dumps(embedding))
    server.engine.answers[:] = oracle_rules([suite])
    return pytester.runpytest(
        f"--lm-suite-dir={suite}",
        f"--lm-base-url={server.base_url}",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "-p",
        "no:cacheprovider",
        *args,
    )


def test_collect_only_lists_the_items_of_every_installed_model(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    result = run(pytester, lms, "--lm-model=all", "--collect-only", "-q", "--lm-max-tests=1")
    ids = [line for line in result.outlines if "::" in line]
    for key in LMS.values():
        assert sum(f"[{key}" in line for line in ids) == 3, key  # qa, math, throughput
    assert lms.engine.load_calls == 0


def test_filtered_models_are_counted_in_the_header_and_named_with_v(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    args = ("--lm-model=all", "--lm-only-tools", "--collect-only")
    result = run(pytester, lms, *args)
    result.stdout.fnmatch_lines(["lmbench models: 2 of 6 kept, 4 filtered out (-v: why)"])
    verbose = run(pytester, lms, *args, "-v")
    verbose.stdout.fnmatch_lines(
        [
            "lmbench models: 2 of 6 kept, 4 filtered out",
            "lmbench filtered out google/gemma-3-4b: the server says it has no tool use",
        ]
    )


def test_no_model_left_is_one_line(pytester: pytest.Pytester, lms: LMStudioTestServer) -> None:
    result = run(pytester, lms, "--lm-model=all", "--lm-include=^nothing$")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--lm-model all: no model is left of the 6 the server lists*"])


def test_all_benchmarks_every_model_once_and_skips_chat_on_the_embedding_model(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    args = ("--lm-model=all", "--lm-preset=quick", "--lm-max-tests=1", "--lm-rank-by=quality")
    result = run(pytester, lms, *args, "-rs")
    # 5 chat models x 3 items; the embedding model: its embedding item (the one throughput
    # item --lm-max-tests=1 keeps), its two chat items skipped.
    result.assert_outcomes(passed=16, skipped=2)
    result.stdout.fnmatch_lines(["lmbench leaderboard (by quality; speed from c1 items only)"])
    result.stdout.fnmatch_lines(
        ["*SKIPPED*text-embedding-nomic-embed-text-v1.5 is an embedding model*no chat*"]
    )
    # All six (two are variants of one key), each loaded once and unloaded.
    assert (lms.engine.load_calls, lms.engine.unload_calls) == (6, 6)
    report: dict[str, Any] = json.loads((pytester.path / "out" / "latest.json").read_text())
    assert {m["key"] for m in report["models"]} == set(LMS.values())
    loaded = [r.json["model"] for r in lms.engine.requests if r.path == "/api/v1/models/load"]
    assert sorted(loaded) == sorted(LMS.values())
    [embedded] = [r for r in report["results"] if r["case_id"] == "embed-pp16-b1"]
    assert (embedded["model"], embedded["outcome"]) == (LMS["embed"], "passed")


def test_force_capabilities_runs_what_the_metadata_rules_out(
    pytester: pytest.Pytester, lms: LMStudioTestServer
) -> None:
    embed = LMS["embed"]
    result = run(pytester, lms, f"--lm-model={embed}", "--lm-force-capabilities", "-k", "capital")
    # Asked anyway: the server refuses to load or chat, so the item errors, not skips.
    result.assert_outcomes(errors=1)
