"""An asyncio OpenAI-compatible server that paces a thousand streams to the script.

The fake LM Studio and Ollama servers run a thread per request: past a hundred
streams their threads fight over the GIL and their own lateness lands in the
client's figures. This one serves ``/v1/chat/completions`` (streamed) and
``/v1/models`` from one event loop, so load tests measure the client and not
the server. ``max_streams`` makes it saturate like a real engine with that many
decode slots: later requests wait for a free slot, and the wait is in their TTFT.

Run it in its own process (``python -m pytest_lmbench.testing.loadserver``) for
load tests, so client and server do not share an interpreter; it prints its base
URL as the first line. ``GET /stats`` answers how many connections were opened.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

MODEL = "load-model"


@dataclass(frozen=True)
class LoadScript:
    """Every stream: first token ``ttft_s`` after it gets a slot, then one per interval."""

    ttft_s: float = 0.3
    token_interval_s: float = 0.02
    max_streams: int = 0  # decode slots; 0: as many as requests
    default_tokens: int = 16  # when the request sets no max_tokens


@dataclass
class _Counters:
    connections_opened: int = 0
    requests: int = 0
    streams_in_flight: int = 0
    streams_in_flight_max: int = 0
    # Per finished stream: when its request had been read, when its first and last
    # token were written (perf_counter_ns) and how many. What the server really did,
    # for tests where 1,000 requests at once spread out.
    streams: list[tuple[int, int, int, int]] = field(default_factory=list)


class LoadServer:
    """Serve ``script`` on 127.0.0.1 from the running event loop."""

    def __init__(self, script: LoadScript) -> None:
        self.script = script
        self.counters = _Counters()
        self._slots = asyncio.Semaphore(script.max_streams) if script.max_streams else None

    async def serve(self, port: int = 0) -> asyncio.Server:
        return await asyncio.start_server(self._connection, "127.0.0.1", port, backlog=4096)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters.connections_opened += 1
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while await self._exchange(reader, writer):
                pass
        writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the client closed the connection."""
        head = await reader.readuntil(b"\r\n\r\n")
        method, path, headers = _parse_head(head)
        length = int(headers.get("content-length", "0") or 0)
        body = await reader.readexactly(length) if length else b""
        self.counters.requests += 1
        if method == "POST" and path == "/v1/chat/completions":
            await self._stream(writer, json.loads(body or b"{}"))
        elif path == "/v1/models":
            _send_json(writer, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
        elif path == "/stats":
            _send_json(writer, asdict(self.counters))
        else:
            _send_json(writer, {"error": {"message": f"no route {path}"}}, status=404)
        await writer.drain()
        return True

    async def _stream(self, writer: asyncio.StreamWriter, request: Any) -> None:
        read_ns = time.perf_counter_ns()
        tokens = int(request.get("max_tokens") or self.script.default_tokens)
        prompt_tokens = _prompt_words(request)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        # TTFT runs from getting a slot, as in an engine that queues what it cannot decode.
        slot = self._slots or contextlib.nullcontext()
        async with slot:
            self._enter()
            try:
                written_ns = await self._tokens(writer, tokens, time.perf_counter_ns())
            finally:
                self.counters.streams_in_flight -= 1
        if tokens:
            self.counters.streams.append((read_ns, *written_ns, tokens))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": tokens,
            "total_tokens": prompt_tokens + tokens,
        }
        final = {"model": MODEL, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
        _chunk(writer, b"data: " + json.dumps(final).encode() + b"\n\n")
        _chunk(writer, b"data: " + json.dumps({"choices": [], "usage": usage}).encode() + b"\n\n")
        _chunk(writer, b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")

    def _enter(self) -> None:
        counters = self.counters
        counters.streams_in_flight += 1
        counters.streams_in_flight_max = max(
            counters.streams_in_flight_max, counters.streams_in_flight
        )

    async def _tokens(
        self, writer: asyncio.StreamWriter, tokens: int, ready_ns: int
    ) -> tuple[int, int]:
        """Write ``tokens`` to the script; when the first and the last were written."""
        # Absolute deadlines: a late wake-up never shifts the tokens after it.
        first_ns = ready_ns + int(self.script.ttft_s * 1e9)
        interval_ns = int(self.script.token_interval_s * 1e9)
        first_written_ns = last_written_ns = 0
        for index in range(tokens):
            delay_ns = first_ns + index * interval_ns - time.perf_counter_ns()
            if delay_ns > 0:
                await asyncio.sleep(delay_ns / 1e9)
            payload = b'{"model":"%b","choices":[{"index":0,"delta":{"content":"w%d "}}]}' % (
                MODEL.encode(),
                index,
            )
            _chunk(writer, b"data: " + payload + b"\n\n")
            last_written_ns = time.perf_counter_ns()
            first_written_ns = first_written_ns or last_written_ns
            await writer.drain()
        return first_written_ns, last_written_ns


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return method, target.split("?", 1)[0], headers


def _prompt_words(request: Any) -> int:
    messages = request.get("messages") or []
    return sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))


def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(b"%x\r\n%b\r\n" % (len(data), data))


def _send_json(writer: asyncio.StreamWriter, payload: Any, status: int = 200) -> None:
    data = json.dumps(payload).encode()
    writer.write(
        b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b"
        % (status, len(data), data)
    )


@contextlib.contextmanager
def load_server_process(script: LoadScript) -> Iterator[str]:
    """Run a load server in a child process; yields its base URL, stops it on exit."""
    command = [
        sys.executable,
        "-m",
        "pytest_lmbench.testing.loadserver",
        f"--ttft-s={script.ttft_s}",
        f"--token-interval-s={script.token_interval_s}",
        f"--max-streams={script.max_streams}",
        f"--default-tokens={script.default_tokens}",
    ]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        if not url:
            raise RuntimeError("the load server did not start")
        yield url
    finally:
        child.terminate()
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()


async def _main(script: LoadScript, port: int) -> None:
    server = await LoadServer(script).serve(port)
    host, bound = server.sockets[0].getsockname()[:2]
    print(f"http://{host}:{bound}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_lmbench.testing.loadserver")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft-s", type=float, default=LoadScript.ttft_s)
    parser.add_argument("--token-interval-s", type=float, default=LoadScript.token_interval_s)
    parser.add_argument("--max-streams", type=int, default=0)
    parser.add_argument("--default-tokens", type=int, default=LoadScript.default_tokens)
    args = parser.parse_args(argv)
    script = LoadScript(args.ttft_s, args.token_interval_s, args.max_streams, args.default_tokens)
    loop = _new_event_loop()
    with contextlib.suppress(KeyboardInterrupt):
        loop.run_until_complete(_main(script, args.port))
    loop.close()
    return 0


def _new_event_loop() -> asyncio.AbstractEventLoop:
    # uvloop where installed: a thousand requests arriving at once are read sooner.
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # pragma: no cover - depends on the environment
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


if __name__ == "__main__":
    raise SystemExit(main())
