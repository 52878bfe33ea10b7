"""``lmbench serve``: open the store, build the app, run uvicorn until Ctrl-C."""

from __future__ import annotations

import sys
from pathlib import Path

from fastapi import FastAPI

from pytest_lmbench.dashboard.app import create_app
from pytest_lmbench.dashboard.launcher import Launcher
from pytest_lmbench.dashboard.security import Access, is_loopback
from pytest_lmbench.dashboard.state import Dashboard
from pytest_lmbench.storage.store import open_store

__all__ = ["allowed_hosts", "build", "serve"]


def allowed_hosts(host: str) -> frozenset[str] | None:
    """Host header names to answer; None (any) when bound to every address."""
    if host in ("0.0.0.0", "::", ""):
        return None
    names = {host.strip("[]").lower()}
    if is_loopback(host):
        names |= {"127.0.0.1", "localhost", "::1"}
    return frozenset(names)


def build(
    db_url: str,
    access: Access,
    *,
    host: str,
    runs_dir: Path,
    poll_s: float = 0.5,
) -> tuple[Dashboard, FastAPI]:
    """The dashboard state and its ASGI app (the store is opened, created when missing)."""
    store = open_store(db_url)
    launcher = None if access.read_only else Launcher(db_url, runs_dir)
    state = Dashboard(store=store, access=access, launcher=launcher, poll_s=poll_s)
    return state, create_app(state, allowed_hosts(host))


def serve(db_url: str, access: Access, *, host: str, port: int, runs_dir: Path) -> int:
    import uvicorn

    state, app = build(db_url, access, host=host, runs_dir=runs_dir)
    shown = f"[{host}]" if ":" in host else host
    print(f"lmbench: dashboard on http://{shown}:{port}/ reading {state.store.url}", flush=True)
    if access.generated and not access.read_only:
        # Printed once, for the API (Bearer) of this process only; never stored.
        print(f"lmbench: token for POST /api/runs: {access.token}", file=sys.stderr, flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        state.store.close()
    return 0
