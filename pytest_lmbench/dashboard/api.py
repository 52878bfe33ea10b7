"""The JSON API (FastAPI; its OpenAPI page is at ``/docs``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from pydantic import BaseModel
from sse_starlette import EventSourceResponse, ServerSentEvent

from pytest_lmbench.dashboard import views
from pytest_lmbench.dashboard.launcher import LaunchError, RunRequest
from pytest_lmbench.dashboard.state import Dashboard, dashboard
from pytest_lmbench.records import JSON, ResultEntry

__all__ = ["router"]

router = APIRouter(prefix="/api")
App = Annotated[Dashboard, Depends(dashboard)]


class Started(BaseModel):
    run_id: str


class Compared(BaseModel):
    a: str
    b: str
    rows: list[views.CompareRow]


@router.get("/runs")
def runs(
    app: App,
    status: str | None = None,
    model: str | None = None,
    host: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> list[views.RunSummary]:
    return views.list_runs(app.store, status=status, model=model, host=host, limit=limit)


@router.get("/runs/events")
async def runs_events(
    app: App,
    request: Request,
    since: Annotated[str | None, Query(max_length=64)] = None,
) -> EventSourceResponse:
    """``runs`` whenever a run starts or ends: the runs page reloads on it.

    ``since``: the token the runs page was rendered with (its ``data-since``); a
    change before this stream began is then signalled at once, not missed.
    """

    async def events() -> AsyncIterator[ServerSentEvent]:
        seen = since
        while not await request.is_disconnected():
            now = await anyio.to_thread.run_sync(views.runs_state, app.store)
            token = views.runs_token(now)
            if seen is not None and token != seen:
                yield ServerSentEvent(data=json.dumps(list(now)), event="runs")
            seen = token
            await anyio.sleep(app.poll_s)

    return EventSourceResponse(events(), ping=15)


@router.get("/runs/{run_id}")
def run(app: App, run_id: str) -> views.RunDetail:
    return views.run_detail(app.store, app.store.load_report(run_id))


@router.get("/runs/{run_id}/results")
def run_results(app: App, run_id: str) -> list[ResultEntry]:
    return app.store.load_report(run_id).results


def _changes(summary: views.RunSummary) -> tuple[Any, ...]:
    # What moves when a result lands; the duration and ETA move every second.
    p = summary.progress
    return (summary.status, summary.results, p.items_done, p.updated_at, p.current_item)


@router.get("/runs/{run_id}/events")
async def run_events(app: App, run_id: str, request: Request) -> EventSourceResponse:
    """``progress`` when the run moves, then ``done`` once it has ended."""
    full_id = await anyio.to_thread.run_sync(app.store.resolve_run, run_id)

    async def events() -> AsyncIterator[ServerSentEvent]:
        last: tuple[Any, ...] | None = None
        while not await request.is_disconnected():
            summary = await anyio.to_thread.run_sync(app.summary, full_id)
            if _changes(summary) != last:
                last = _changes(summary)
                yield ServerSentEvent(data=summary.model_dump_json(), event="progress")
            if summary.status != "running":
                yield ServerSentEvent(data=summary.model_dump_json(), event="done")
                return
            await anyio.sleep(app.poll_s)

    return EventSourceResponse(events(), ping=15)


@router.get("/models/{key:path}/history")
def model_history(app: App, key: str) -> views.ModelHistory:
    return views.model_history(app.store, key)


@router.get("/compare")
def compare(app: App, a: str, b: str) -> Compared:
    first, second = app.store.load_report(a), app.store.load_report(b)
    return Compared(a=first.run.id, b=second.run.id, rows=views.compare_runs(first, second))


@router.get("/leaderboard")
def leaderboard(app: App, rank_by: str = "decode_tps") -> list[views.Leader]:
    """Each model's latest completed run, best first by a ``--lm-rank-by`` key."""
    if rank_by not in views.RANK_KEYS:
        raise HTTPException(422, f"rank_by must be one of {', '.join(views.RANK_KEYS)}")
    return views.leaderboard(app.store, rank_by)


@router.get("/results")
def results(app: App, model: str) -> list[JSON]:
    """Every stored result of one model (the seed's ``/admin/benchmark/results?model_id=``)."""
    return app.store.export_rows(model_key=model)


def _authorized(app: Dashboard, authorization: str | None) -> None:
    if not app.access.bearer_ok(authorization):
        raise HTTPException(401, "a Bearer token is needed to start or stop runs")
    if app.access.read_only or app.launcher is None:
        raise HTTPException(403, "this dashboard is read-only (--read-only)")


@router.post("/runs", status_code=201)
def start_run(
    app: App, body: RunRequest, authorization: Annotated[str | None, Header()] = None
) -> Started:
    _authorized(app, authorization)
    assert app.launcher is not None
    try:
        return Started(run_id=app.launcher.start(body))
    except LaunchError as exc:
        raise HTTPException(422, str(exc)) from None


@router.post("/runs/{run_id}/stop", status_code=202)
def stop_run(
    app: App, run_id: str, authorization: Annotated[str | None, Header()] = None
) -> Started:
    _authorized(app, authorization)
    assert app.launcher is not None
    if not app.launcher.stop(run_id):
        reason = "not started by this dashboard, ended, or stopping already"
        raise HTTPException(409, f"run {run_id} cannot be stopped here: {reason}")
    return Started(run_id=run_id)
