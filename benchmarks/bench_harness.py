"""Harness floor: our client against a bare streaming reader on the same scripted server.

Single stream (the LM Studio test server): TTFT error, decode-speed error and
per-token overhead, with the ratio of our end-to-end time to the bare reader's.

Under load (the asyncio load server in its own process, 100 ms to first token,
100 tok/s per stream), at c=1, 64 and 512: our client (client lanes, the
OpenAI-compatible backend, the httptools transport when installed) against a bare
reader at the same concurrency (raw asyncio sockets, a prebuilt request, a
substring count per read): TTFT delta of the medians, client CPU per token (this
process's CPU time / tokens, event-loop wake-ups included, so the bare reader's
figure is the floor of the loop itself) and the ratio of aggregate output tok/s.

Client work per token: one answer of 20,000 llama.cpp-shaped chunks sent at once,
so reads carry many tokens and the socket's cost per token is small: our client's
thread CPU per token is then its own work (HTTP and SSE parsing, JSON, timestamps,
folding the answer), the figure issue 16 bounds at 10 µs.

    python benchmarks/bench_harness.py [requests] [levels]
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

from pytest_lmbench.backends.base import ChatRequest
from pytest_lmbench.backends.openai import OpenAIBackend, chat_body
from pytest_lmbench.metrics.timing import request_metrics
from pytest_lmbench.runners.calibration import Truth, calibrate_harness
from pytest_lmbench.runners.lanes import ClientLanes
from pytest_lmbench.runners.load import gc_paused, new_event_loop
from pytest_lmbench.testing.loadserver import MODEL, LoadScript, load_server_process

PROFILES = {
    # Realistic pacing: 100 ms to first token, 100 tok/s.
    "paced": Truth(ttft_s=0.100, token_interval_s=0.010, tokens=64),
    # A fast stream stresses per-token overhead: 1 ms per token.
    "fast": Truth(ttft_s=0.010, token_interval_s=0.001, tokens=400),
}
LOAD = LoadScript(ttft_s=0.100, token_interval_s=0.010)
LOAD_TOKENS = 64
LEVELS = (1, 64, 512)
ROUNDS = 9  # measured rounds per level and reader, after one that opens the connections


def single_stream(requests: int) -> None:
    for name, truth in PROFILES.items():
        c = calibrate_harness(requests, truth)
        print(
            f"{name:>5}: n={c['n']} TTFT error {c['ttft_error_ms']:+.2f} ms "
            f"(vs bare reader {c['ttft_vs_bare_ms']:+.2f} ms), "
            f"decode error {c['decode_tps_error_pct']:+.2f} % "
            f"(ours {c['decode_tps']:.1f}, bare {c['bare_decode_tps']:.1f}, "
            f"truth {c['truth_decode_tps']:.0f} tok/s), "
            f"overhead {c['overhead_per_token_us']:+.1f} µs/token, "
            f"e2e ratio ours/bare {c['e2e_ratio_to_bare']:.4f}"
        )


class Round:
    def __init__(self) -> None:
        self.ttft_s: list[float] = []
        self.tokens = 0
        self.wall_s = 0.0
        self.cpu_s = 0.0


Call = Callable[[int], Coroutine[Any, Any, tuple[float | None, int]]]
Close = Callable[[], Awaitable[None]]


async def ours(url: str) -> tuple[Call, Close]:
    backend = OpenAIBackend(url, timeout_s=120)
    lanes = ClientLanes(backend.async_client)
    request = ChatRequest(prompt="bench the harness", max_tokens=LOAD_TOKENS)

    async def one(_: int) -> tuple[float | None, int]:
        async with lanes.lane() as client:
            sample = request_metrics(await backend.chat(client, MODEL, request))
        return sample["ttft_s"], sample["output_tokens"] or 0

    async def close() -> None:
        await lanes.aclose()
        backend.close()

    return one, close


async def bare(url: str, concurrency: int) -> tuple[Call, Close]:
    host, port = urlsplit(url).hostname or "127.0.0.1", urlsplit(url).port or 80
    body = json.dumps(chat_body(MODEL, ChatRequest(prompt="bench the harness"))).encode()
    body = body.replace(b'"stream": true', b'"stream": true, "max_tokens": %d' % LOAD_TOKENS)
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: %b\r\nContent-Type: application/json"
    message = head % host.encode() + b"\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
    connections = [await asyncio.open_connection(host, port) for _ in range(concurrency)]

    async def one(index: int) -> tuple[float | None, int]:
        reader, writer = connections[index]
        start = time.perf_counter_ns()
        writer.write(message)
        first, tokens, tail = None, 0, b""
        while not tail.endswith(b"0\r\n\r\n"):
            data = await reader.read(65536)
            now = time.perf_counter_ns()
            hits = data.count(b'"content"')
            if hits:
                first = first or now
                tokens += hits
            tail = (tail + data)[-64:]
        return (None if first is None else (first - start) / 1e9), tokens

    async def close() -> None:
        for _, writer in connections:
            writer.close()

    return one, close


async def both(url: str, concurrency: int) -> tuple[list[Round], list[Round]]:
    """Our rounds and the bare reader's, alternating, so a change in the machine's load
    falls on both alike; the first round of each (connections opened) is not counted."""
    readers = [await ours(url), await bare(url, concurrency)]
    rounds: tuple[list[Round], list[Round]] = ([], [])
    for _ in range(ROUNDS + 1):
        for (call, _), kept in zip(readers, rounds, strict=True):
            kept.append(await _round([call(i) for i in range(concurrency)]))
    for _, close in readers:
        await close()
    return rounds[0][1:], rounds[1][1:]


async def _round(calls: list) -> Round:  # type: ignore[type-arg]
    result = Round()
    cpu, wall = time.process_time(), time.perf_counter()
    # As the throughput runner's batches: no garbage collection while streams are read.
    with gc_paused():
        answers = await asyncio.gather(*calls)
    for ttft_s, tokens in answers:
        if ttft_s is not None:
            result.ttft_s.append(ttft_s)
        result.tokens += tokens
    result.wall_s = time.perf_counter() - wall
    result.cpu_s = time.process_time() - cpu
    return result


def _figures(rounds: list[Round]) -> tuple[float, float, float]:
    ttft = statistics.median(t for r in rounds for t in r.ttft_s)
    cpu_us = sum(r.cpu_s for r in rounds) / sum(r.tokens for r in rounds) * 1e6
    aggregate = statistics.median(r.tokens / r.wall_s for r in rounds)
    return ttft, cpu_us, aggregate


def _run(main: Coroutine[Any, Any, tuple[list[Round], list[Round]]]) -> tuple[list[Round], ...]:
    # The loop the throughput runner uses (uvloop when installed), for both readers.
    loop = new_event_loop()
    try:
        return loop.run_until_complete(main)
    finally:
        loop.close()


def under_load(levels: tuple[int, ...]) -> None:
    with load_server_process(LOAD) as url:
        for concurrency in levels:
            our_rounds, bare_rounds = _run(both(url, concurrency))
            our_ttft, our_cpu, our_tps = _figures(our_rounds)
            bare_ttft, bare_cpu, bare_tps = _figures(bare_rounds)
            print(
                f"c={concurrency:>3}: TTFT median ours {our_ttft * 1000:.1f} ms, "
                f"bare {bare_ttft * 1000:.1f} ms (delta {(our_ttft - bare_ttft) * 1000:+.2f} ms, "
                f"script {LOAD.ttft_s * 1000:.0f}); client CPU ours {our_cpu:.1f} µs/token, "
                f"bare {bare_cpu:.1f} (ours beyond bare {our_cpu - bare_cpu:+.1f}); "
                f"aggregate ours/bare {our_tps / bare_tps:.3f} "
                f"({our_tps:.0f} / {bare_tps:.0f} tok/s, script {concurrency * 100} tok/s "
                "while decoding)"
            )


WORK_TOKENS = 20_000
CHUNK = (
    b'{"id":"chatcmpl-9b1f","object":"chat.completion.chunk","created":1733300000,'
    b'"model":"smollm2","system_fingerprint":"b4567","choices":[{"index":0,'
    b'"delta":{"content":" w%d"},"logprobs":null,"finish_reason":null}]}'
)


def _answer(tokens: int) -> bytes:
    events = [b"data: " + CHUNK % i + b"\n\n" for i in range(tokens)]
    events.append(b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}\n\n')
    events.append(b"data: [DONE]\n\n")
    body = b"".join(b"%x\r\n%b\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked"
    return head + b"\r\n\r\n" + body


def _serve_once(sock: socket.socket, answer: bytes) -> None:
    conn, _ = sock.accept()
    with conn:
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(65536)
        conn.sendall(answer)
        conn.recv(1)  # until the client closes


async def _work_once(url: str) -> float:
    """Our client's thread CPU for one bulk answer (the server thread has its own)."""
    backend = OpenAIBackend(url, timeout_s=60)
    request = ChatRequest(prompt="bench the harness", max_tokens=WORK_TOKENS)
    async with backend.async_client() as client:
        cpu = time.thread_time()
        result = await backend.chat(client, MODEL, request)
        spent = time.thread_time() - cpu
    backend.close()
    assert result.output_tokens == WORK_TOKENS
    return spent


def client_work(repeats: int = 5) -> None:
    spent = []
    for _ in range(repeats):
        sock = socket.create_server(("127.0.0.1", 0))
        server = threading.Thread(target=_serve_once, args=(sock, _answer(WORK_TOKENS)))
        server.start()
        loop = new_event_loop()
        spent.append(
            loop.run_until_complete(_work_once(f"http://127.0.0.1:{sock.getsockname()[1]}"))
        )
        loop.close()
        server.join(10)
        sock.close()
    print(
        f"client work per token ({WORK_TOKENS:,} llama.cpp-shaped chunks read in bulk, "
        f"best of {repeats}): {min(spent) / WORK_TOKENS * 1e6:.2f} µs (target <= 10)"
    )


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    levels = tuple(int(v) for v in sys.argv[2].split(",")) if len(sys.argv) > 2 else LEVELS
    single_stream(requests)
    client_work()
    under_load(levels)


if __name__ == "__main__":
    main()
