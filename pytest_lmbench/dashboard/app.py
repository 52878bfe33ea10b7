"""The dashboard's ASGI app: the JSON API, the pages and their static files."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from pytest_lmbench import __version__
from pytest_lmbench.dashboard import api, pages
from pytest_lmbench.dashboard.security import CSP
from pytest_lmbench.dashboard.state import Dashboard
from pytest_lmbench.storage.store import StoreError

__all__ = ["create_app"]

STATIC = Path(__file__).with_name("static")


def _store_error(request: Request, exc: Exception) -> Response:
    message = str(exc)
    status = 404 if message.startswith("no run") else 400 if "ambiguous" in message else 503
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": message}, status_code=status)
    return PlainTextResponse(message, status_code=status)


def create_app(state: Dashboard, allowed_hosts: frozenset[str] | None) -> FastAPI:
    """``allowed_hosts``: Host header names this server answers (None: any).

    A page on another site cannot reach a loopback dashboard through a DNS name
    that resolves to 127.0.0.1 (rebinding): its Host header is not one of these.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if state.launcher is not None:
            state.launcher.close()

    # FastAPI's /docs and /redoc load Swagger UI from a CDN: pages.py serves /docs
    # with the copy shipped in static/swagger, under the same CSP as every page.
    app = FastAPI(
        title="pytest-lmbench dashboard",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.dashboard = state
    app.add_exception_handler(StoreError, _store_error)

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        host = request.headers.get("host", "").rsplit(":", 1)[0].strip("[]").lower()
        if allowed_hosts is not None and host not in allowed_hosts:
            return PlainTextResponse(f"unknown host {host!r}", status_code=421)
        start_ns = time.perf_counter_ns()
        response = await call_next(request)
        # Server time, for benchmarks/bench_dashboard.py and a browser's network panel.
        elapsed_ms = (time.perf_counter_ns() - start_ns) / 1e6
        response.headers["Server-Timing"] = f"app;dur={elapsed_ms:.2f}"
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
