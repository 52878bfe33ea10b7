"""What every request of one dashboard process shares: the store, access rules, the launcher."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from pytest_lmbench.dashboard import views
from pytest_lmbench.dashboard.launcher import Launcher
from pytest_lmbench.dashboard.security import Access
from pytest_lmbench.storage import overview
from pytest_lmbench.storage.store import Store, StoreError

__all__ = ["Dashboard", "dashboard"]


@dataclass
class Dashboard:
    store: Store
    access: Access
    launcher: Launcher | None  # None: read-only
    poll_s: float = 0.5  # how often a live page's events look at the store

    def summary(self, run_id: str) -> views.RunSummary:
        with self.store.reading("reading a run") as connection:
            found = overview.select_runs(connection, ids=[run_id])
        if not found:
            raise StoreError(f"no run {run_id!r} in {self.store.url}")
        return views.summaries(self.store, found)[0]


def dashboard(request: Request) -> Dashboard:
    found: Dashboard = request.app.state.dashboard
    return found
