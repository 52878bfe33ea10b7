"""One HTTP client per in-flight request: a "lane" that keeps its own connection.

httpcore's shared pool checks every pooled connection (a poll syscall each) on each
request and each response, so one client with 200 kept-alive connections spent
22 s of CPU on a round that takes 0.8 s; per-lane clients keep that work at one
connection each, and a lane's connection is reused by its next request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx


class ClientLanes:
    """Idle clients wait for the next request; a busy moment adds lanes, never queues."""

    def __init__(self, make_client: Callable[[], httpx.AsyncClient]) -> None:
        self._make_client = make_client
        self._idle: list[httpx.AsyncClient] = []
        self._every: list[httpx.AsyncClient] = []

    @property
    def opened(self) -> int:
        return len(self._every)

    @asynccontextmanager
    async def lane(self) -> AsyncIterator[httpx.AsyncClient]:
        client = self._idle.pop() if self._idle else self._new()
        try:
            yield client
        finally:
            self._idle.append(client)

    def _new(self) -> httpx.AsyncClient:
        client = self._make_client()
        self._every.append(client)
        return client

    async def aclose(self) -> None:
        clients, self._every, self._idle = self._every, [], []
        for client in clients:
            await client.aclose()
