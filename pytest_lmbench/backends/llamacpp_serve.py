"""``python -m pytest_lmbench.backends.llamacpp_serve``: llama-cpp-python's server, with
every model call made on the event loop's own thread.

The stock server (``llama_cpp.server.app``) pulls each streamed token through
``iterate_in_threadpool``: the decode of token n+1 starts only after the event loop has
sent token n and handed the next ``next()`` back to a worker thread, and the model is
called from whichever worker is free, each with its own team of spinning OpenMP threads
(llama.cpp's CPU backend). On an idle many-core machine that costs little; with every
core decoding, each of those hand-offs waits for a core, and served decode fell to
0.54-0.95 of a direct llama-cpp-python decode on a 2-core VM (median 0.55-0.67).

Here the event loop's thread runs the generator itself, as a direct decode does, and
writes each token to the socket before decoding the next: no thread hand-off, no wake-up
of another thread, one OpenMP team. Between tokens the loop takes one turn
(``asyncio.sleep(0)``), so a client that leaves is noticed and new requests are read
(they wait for the model, as they do in the stock server). While the model computes,
the server answers nothing else; llama-cpp-python serves one request at a time anyway.
The engine, its settings, the routes and the events on the wire are unchanged
(:class:`EventStream` sends no keep-alive pings: a token arrives every few ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from typing import Any, TypeVar

import anyio
import llama_cpp.server.app as app
from llama_cpp.server.__main__ import main
from starlette.responses import Response

T = TypeVar("T")


async def on_loop(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Stands in for ``run_in_threadpool`` on the model calls: on this thread."""
    return func(*args, **kwargs)


async def get_event_publisher(
    request: Any,
    inner_send_chan: Any,
    body: Any,
    body_model: str | None,
    llama_call: Callable[..., Iterator[Any]],
    kwargs: dict[str, Any],
) -> None:
    """Stands in for the stock publisher (same signature, same events); ``inner_send_chan``
    is :class:`EventStream`'s emitter, not the stock memory channel."""
    async with contextlib.asynccontextmanager(app.get_llama_proxy)() as llama_proxy:
        llama = app.prepare_request_resources(body, llama_proxy, body_model, kwargs)
        chunks = llama_call(llama, **kwargs)
        try:
            for chunk in chunks:
                await inner_send_chan.send(json.dumps(chunk))
                await asyncio.sleep(0)
            await inner_send_chan.send("[DONE]")
        finally:
            # A client that left stops the decode here (stock handlers return
            # generators; a plain iterator has nothing to close).
            close = getattr(chunks, "close", None)
            if close is not None:
                close()


class _Emitter:
    """What the publisher sends each event's data to: straight to the ASGI ``send``
    (the stock publisher gets a memory channel and sends ``{"data": ...}`` dicts)."""

    def __init__(self, send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self._send = send

    async def send(self, data: str) -> None:
        body = b"data: " + data.encode() + b"\n\n"
        await self._send({"type": "http.response.body", "body": body, "more_body": True})


class EventStream(Response):
    """Stands in for sse-starlette's ``EventSourceResponse`` on the streaming routes.

    The same headers and ``data: ...`` events, each written by the publisher in one
    call, where sse-starlette passes it through a memory channel to another task.
    """

    def __init__(self, content: Any, *, data_sender_callable: Any, **_: Any) -> None:
        self._unused = (content, data_sender_callable.keywords["inner_send_chan"])
        self._publisher = data_sender_callable
        self.background = None  # FastAPI attaches its background tasks here (none)
        self.status_code = 200
        self.raw_headers = list(SSE_HEADERS)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        for stream in self._unused:
            stream.close()
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        publish = partial(self._publisher, inner_send_chan=_Emitter(send))
        async with anyio.create_task_group() as group:
            group.start_soon(_cancel_on_disconnect, receive, group.cancel_scope)
            await publish()
            group.cancel_scope.cancel()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
]


async def _cancel_on_disconnect(receive: Any, scope: anyio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


def run() -> None:
    app.get_event_publisher = get_event_publisher
    app.EventSourceResponse = EventStream
    app.run_in_threadpool = on_loop
    main()


if __name__ == "__main__":
    run()
