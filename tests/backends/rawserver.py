"""A raw socket server on loopback for tests that need bytes no HTTP server library sends."""

from __future__ import annotations

import socket
import threading


class RawServer:
    """Accepts connections on its own thread and hands each to :meth:`handle`."""

    def __init__(self) -> None:
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.connections += 1
            with conn:
                self.handle(conn)

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError
