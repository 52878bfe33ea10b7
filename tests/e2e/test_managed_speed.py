"""The managed llama.cpp server decodes as fast as llama-cpp-python itself on all cores,
and every throughput item gets a prefill speed (its prompt counted by the server)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.backends.base import ChatRequest
from pytest_lmbench.backends.llamacpp import ManagedLlamaServer, default_gguf, physical_cores
from pytest_lmbench.backends.openai import OpenAIBackend
from pytest_lmbench.metrics.timing import request_metrics
from pytest_lmbench.runners.load import new_event_loop

CASE = {"prompt_tokens": 64, "gen_tokens": 128, "concurrency": 1}


def _plugin_item(pytester: pytest.Pytester) -> tuple[dict[str, Any], dict[str, Any]]:
    folder = pytester.path / "suite" / "throughput"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "grid.json").write_text(json.dumps({"capability": "throughput", "cases": [CASE]}))
    pytester.runpytest(
        f"--lm-suite-dir={folder.parent}",
        "--lm-serve-gguf=smollm2",
        "--lm-runs=5",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "-p",
        "no:cacheprovider",
    ).assert_outcomes(passed=1)
    report = json.loads((pytester.path / "out" / "latest.json").read_text())
    return report["results"][0], report["models"][0]


# A separate process: llama-cpp-python in this one would leave /dev/null open at exit.
# It decodes once per line read, so its runs can alternate with the server's, and with
# the server's sampling defaults (its repeat_penalty is 1.1, the library's 1.0): with
# the library's, the same prompt gave 128 tokens where the server stopped after 61.
_DIRECT = """
import sys, time
from llama_cpp import Llama
from llama_cpp.server import types
gguf, threads, prompt, tokens = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
llm = Llama(model_path=gguf, n_ctx=4096, n_threads=threads, verbose=False)
defaults = {
    name: getattr(types, name + "_field").default
    for name in ("repeat_penalty", "top_k", "top_p", "min_p")
}
for _ in sys.stdin:
    stamps = []
    for chunk in llm.create_chat_completion(
        messages=[{"role": "user", "content": prompt}],
        max_tokens=tokens, temperature=0.0, stream=True, **defaults,
    ):
        if chunk["choices"][0]["delta"].get("content"):
            stamps.append(time.perf_counter())
    print(len(stamps), (len(stamps) - 1) / (stamps[-1] - stamps[0]), flush=True)
"""


class _DirectDecoder:
    """llama-cpp-python itself, one thread per core: (token chunks, decode tok/s) per run."""

    def __init__(self, gguf: Path, prompt: str) -> None:
        args = [str(gguf), str(physical_cores()), prompt, str(CASE["gen_tokens"])]
        self._process = subprocess.Popen(
            [sys.executable, "-c", _DIRECT, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def decode(self) -> tuple[int, float]:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write("go\n")
        self._process.stdin.flush()
        chunks, speed = self._process.stdout.readline().split()
        return int(chunks), float(speed)

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=60)
        if self._process.stdout is not None:
            self._process.stdout.close()


class _ServedDecoder:
    """The demo's path: the managed server (``--lm-serve-gguf``'s defaults) read by our
    client, with the request a throughput item sends."""

    def __init__(self, gguf: Path, prompt: str) -> None:
        self.server = ManagedLlamaServer(gguf, n_ctx=4096)
        self.server.start()
        self._backend = OpenAIBackend(self.server.base_url, timeout_s=120)
        self._loop = new_event_loop()
        self._client = self._backend.async_client()
        self._request = ChatRequest(prompt=prompt, max_tokens=CASE["gen_tokens"], temperature=0.0)

    def decode(self) -> tuple[int, float]:
        chat = self._backend.chat(self._client, self.server.model_key, self._request)
        result = self._loop.run_until_complete(chat)
        speed = request_metrics(result)["decode_tps"]
        assert speed is not None
        return len(result.timeline.token_chunk_ns), float(speed)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()
        self._backend.close()
        self.server.stop()


QUIET_CPU_PCT = 10.0  # the whole machine, with this test idle
QUIET_WAIT_S = 120
PAIRS = 16


def _wait_for_a_quiet_machine() -> None:
    """Other work slows a served decode (client, HTTP loop and model share the cores)
    more than a direct one: wait for it to end (e.g. a database's clean-up after the
    test run before), and skip when it does not."""
    import psutil

    deadline = time.monotonic() + QUIET_WAIT_S
    while (busy := psutil.cpu_percent(interval=2.0)) > QUIET_CPU_PCT:
        if time.monotonic() > deadline:
            pytest.skip(f"the machine stayed busy ({busy:.0f} % CPU) for {QUIET_WAIT_S} s")


def test_managed_decode_is_within_10_percent_of_a_direct_decode_on_all_cores(
    pytester: pytest.Pytester,
) -> None:
    from .conftest import _unavailable

    if _unavailable():
        pytest.skip(str(_unavailable()))
    gguf = default_gguf()
    assert gguf is not None
    item, model = _plugin_item(pytester)  # the demo's item: its prompt and its settings
    assert model["load"]["applied"]["threads"] == physical_cores()  # recorded as applied
    prompt = item["prompt"].removesuffix(" …")
    # A VM's speed drifts by 10-20 % within a minute, both ways (direct runs alone
    # ranged 84-119 tok/s here; comparing whole items with direct runs between them
    # read 0.86 to 1.0 from one session to the next). So served and direct runs
    # alternate one by one, in ABBA order against a steady drift, and each pair of
    # neighbours gives a ratio; the verdict is their median. Both processes stay up,
    # each idle while the other decodes. Medians of 10 pairs: 0.979 alone, 0.943 and
    # 0.948 in the e2e session (single pairs 0.84-1.11).
    _wait_for_a_quiet_machine()
    served, direct = _ServedDecoder(gguf, prompt), _DirectDecoder(gguf, prompt)
    try:
        served.decode(), direct.decode()  # warm-up
        runs = []
        for index in range(PAIRS):
            if index % 2:
                d, s = direct.decode(), served.decode()
            else:
                s, d = served.decode(), direct.decode()
            runs.append((s, d))
    finally:
        served.close()
        direct.close()
    # The same tokens on both sides (greedy, same sampling), so the same work.
    assert all(s[0] == d[0] for s, d in runs), runs
    ratios = [s[1] / d[1] for s, d in runs]
    ratio = statistics.median(ratios)
    figures = f"served/direct median {ratio:.3f} over {PAIRS} pairs of {runs[0][0][0]} tokens: "
    figures += ", ".join(f"{r:.3f}" for r in ratios)
    print(figures, f"(the plugin item: {item['timing']['decode_tps']['median']:.1f} tok/s)")
    assert ratio >= 0.9, figures


def test_every_throughput_item_has_a_prefill_speed(pytester: pytest.Pytester) -> None:
    from .conftest import _unavailable

    if _unavailable():
        pytest.skip(str(_unavailable()))
    item, _ = _plugin_item(pytester)
    assert item["timing"]["prefill_tps"]["median"] is not None
    assert all(s["prompt_tokens"] for s in item["timing"]["samples"])
    assert item["flags"]["prompt_tokens_source"] == "tokenizer"
