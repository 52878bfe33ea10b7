"""A real HTTP proxy on loopback in front of a test server, misbehaving on purpose.

``gzip``: compresses every answer, streamed ones included, whatever the client
accepts (a misconfigured nginx). ``flood``: answers a chat with an endless stream of
token events. ``bomb``: answers a chat with a gzip bomb (64 MiB of events in about
100 KB). Other requests (model lists, loads) pass through unchanged.
"""

from __future__ import annotations

import functools
import http.client
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

Mode = Literal["gzip", "flood", "bomb"]
CHAT_SUFFIXES = ("/chat/completions", "/api/chat", "/api/v1/chat")
EVENT = b'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\n'
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "accept-encoding"}


@functools.cache
def gzip_bomb() -> bytes:
    """64 MiB of SSE token events, gzipped (built once; about 0.2 s)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = EVENT * (1024 * 1024 // len(EVENT))
    parts = [packer.compress(block) for _ in range(64)]
    return b"".join(parts) + packer.flush()


class HostileProxy:
    def __init__(self, upstream: str, mode: Mode) -> None:
        self.upstream = urlsplit(upstream)
        self.mode = mode
        self.accept_encodings: list[str | None] = []  # what each chat request asked for
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HostileProxy:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy.forward(self, b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not self.path.endswith(CHAT_SUFFIXES):
                    proxy.forward(self, body)
                    return
                proxy.accept_encodings.append(self.headers.get("Accept-Encoding"))
                if proxy.mode == "flood":
                    proxy.flood(self)
                elif proxy.mode == "bomb":
                    proxy.bomb(self)
                else:
                    proxy.forward(self, body)

        return Handler

    def forward(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        upstream = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream.request(handler.command, handler.path, body=body or None, headers=headers)
        answer = upstream.getresponse()
        packer = zlib.compressobj(6, zlib.DEFLATED, 31) if self.mode == "gzip" else None
        handler.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in HOP_BY_HOP:
                handler.send_header(name, value)
        if packer is not None:
            handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        while piece := answer.read1(65536):
            if packer is not None:  # flushed per read, so a stream stays a stream
                piece = packer.compress(piece) + packer.flush(zlib.Z_SYNC_FLUSH)
            _chunk(handler, piece)
        if packer is not None:
            _chunk(handler, packer.flush())
        handler.wfile.write(b"0\r\n\r\n")
        upstream.close()

    def flood(self, handler: BaseHTTPRequestHandler) -> None:
        _stream_head(handler)
        block = EVENT * 1000
        try:
            for _ in range(4000):  # 200 MiB at most, if the client never stops
                _chunk(handler, block)
        except OSError:
            handler.close_connection = True  # the client stopped reading, as it should

    def bomb(self, handler: BaseHTTPRequestHandler) -> None:
        _stream_head(handler, b"Content-Encoding: gzip\r\n")
        data = gzip_bomb()
        try:
            for start in range(0, len(data), 16384):
                _chunk(handler, data[start : start + 16384])
            handler.wfile.write(b"0\r\n\r\n")
        except OSError:
            handler.close_connection = True


def _stream_head(handler: BaseHTTPRequestHandler, extra: bytes = b"") -> None:
    handler.wfile.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Transfer-Encoding: chunked\r\n" + extra + b"\r\n"
    )


def _chunk(handler: BaseHTTPRequestHandler, data: bytes) -> None:
    if data:
        handler.wfile.write(b"%x\r\n%b\r\n" % (len(data), data))
        handler.wfile.flush()
