"""Server-rendered pages: runs, a run, a model's history, a comparison, the start form.

Every value reaches the page through Jinja2 autoescaping (model output is
untrusted); charts are the HTML report's inline SVG. The only script is
``static/live.js``, which follows a running run over server-sent events.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from pytest_lmbench.dashboard import views
from pytest_lmbench.dashboard.launcher import ALLOWED_OPTIONS, LaunchError, RunRequest
from pytest_lmbench.dashboard.state import Dashboard, dashboard
from pytest_lmbench.records import metric_number, timing_figure
from pytest_lmbench.reporting import charts
from pytest_lmbench.reporting.html_report import render_html
from pytest_lmbench.reporting.summary import report_summary
from pytest_lmbench.reporting.timeseries import hardware_charts
from pytest_lmbench.vocabulary import CAPABILITIES

__all__ = ["router"]

router = APIRouter()
App = Annotated[Dashboard, Depends(dashboard)]
_META_CSP = re.compile(r'http-equiv="Content-Security-Policy" content="([^"]+)"')


@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(Path(__file__).with_name("templates"))
    env = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = _num
    env.filters["duration"] = _duration
    return env


def _num(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _page(name: str, **values: Any) -> HTMLResponse:
    return HTMLResponse(_templates().get_template(name).render(**values))


@router.get("/", response_class=HTMLResponse)
def runs_page(
    app: App, model: str = "", status: str = "", host: str = "", limit: int = 200
) -> HTMLResponse:
    # Read before the list: a run starting in between then costs one reload, not a missed one.
    since = views.runs_token(views.runs_state(app.store))
    found = views.list_runs(
        app.store, model=model or None, status=status or None, host=host or None, limit=limit
    )
    filters = {"model": model, "status": status, "host": host}
    return _page("runs.html.j2", runs=found, filters=filters, since=since, title="Runs")


def _result_rows(app: Dashboard, run_id: str) -> tuple[Any, list[dict[str, Any]]]:
    report = app.store.load_report(run_id)
    rows = [
        {
            "item": r.nodeid,
            "model": r.model,
            "outcome": r.outcome,
            "quality": metric_number(r.metrics, "quality_score"),
            "decode_tps": timing_figure(r.timing, "decode_tps"),
            "ttft_s": timing_figure(r.timing, "ttft_s"),
            "error": r.error,
            "output": r.output,
        }
        for r in report.results
    ]
    return report, rows


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(app: App, run_id: str) -> HTMLResponse:
    launcher = app.launcher
    if (
        launcher is not None
        and run_id in launcher.processes
        and not app.store.run_progress([run_id])
    ):
        # Started here: its pytest has not stored the run yet, or stopped before it could.
        ended = None if launcher.starting(run_id) else launcher.last_line(run_id)
        return _page("starting.html.j2", run_id=run_id, ended=ended, title=f"Run {run_id[:8]}")
    report, rows = _result_rows(app, run_id)
    detail = views.run_detail(app.store, report)
    stoppable = app.launcher is not None and report.run.id in app.launcher.processes
    hardware = [Markup(svg) for svg in hardware_charts(report)]  # noqa: S704 - escaped SVG
    return _page(
        "run.html.j2",
        run=detail,
        rows=rows,
        hardware=hardware,
        stoppable=stoppable and not app.access.read_only,
        csrf=app.access.csrf,
        title=f"Run {detail.id[:8]}",
    )


@router.get("/runs/{run_id}/report", response_class=HTMLResponse)
def run_report(app: App, run_id: str) -> HTMLResponse:
    """The run's HTML report, as ``lmbench report`` writes it, under its own policy."""
    report = app.store.load_report(run_id)
    report_summary(report)
    html = render_html(report, app.store.report_history(report))
    found = _META_CSP.search(html)
    response = HTMLResponse(html)
    if found:  # its one inline script is allowed by hash; the page's meta says the same
        response.headers["Content-Security-Policy"] = found.group(1)
    return response


def _model_charts(key: str, history: views.ModelHistory) -> list[str]:
    points, figures, prints = history.points, history.figures, history.fingerprints
    labels = [(p["started_at"] or "")[:10] for p in points]
    # A changed fingerprint (driver, server build, quantization) explains a jump in speed.
    marks = [
        (i, f"fingerprint {prints[i - 1]} → {prints[i]}")
        for i in range(1, len(points))
        if prints[i] != prints[i - 1]
    ]
    band = charts.Series(
        "95 % interval",
        [v for f in figures for v in (f.decode_tps_ci95_low, f.decode_tps_ci95_high)],
    )
    capabilities = sorted({c for f in figures for c in f.quality})
    quality = [
        charts.Series(c, [f.quality.get(c) for f in figures], charts.color_for(i))
        for i, c in enumerate(capabilities)
    ]

    ttft = [f.ttft_s_median for f in figures]
    joules = [f.joules_per_token for f in figures]

    def trend(title: str, unit: str, series: list[charts.Series], **extra: Any) -> str:
        return charts.trend_lines(labels, series, title=f"{key}: {title}", unit=unit, **extra)

    return [
        trend(
            "decode speed per run",
            "tok/s (band: 95 % interval; dashed: fingerprint changed)",
            [charts.Series("decode tok/s", [p["decode_tps_median"] for p in points])],
            band=band,
            marks=marks,
        ),
        trend("TTFT p50 per run", "s", [charts.Series("TTFT p50", ttft)], marks=marks),
        trend("quality per capability", "score", quality, marks=marks),
        trend("energy per token", "J/token", [charts.Series("J/token", joules)], marks=marks),
    ]


@router.get("/models/{key:path}", response_class=HTMLResponse)
def model_page(app: App, key: str) -> HTMLResponse:
    history = views.model_history(app.store, key)
    prints = history.fingerprints
    changes = [i > 0 and prints[i] != prints[i - 1] for i in range(len(prints))]
    return _page(
        "model.html.j2",
        key=key,
        points=list(zip(history.points, prints, changes, strict=True)),
        charts=[Markup(svg) for svg in _model_charts(key, history)],  # noqa: S704 - escaped
        title=key,
    )


@router.get("/compare", response_class=HTMLResponse)
def compare_page(app: App, a: str = "", b: str = "") -> HTMLResponse:
    rows: list[views.CompareRow] = []
    pair = None
    if a and b:
        first, second = app.store.load_report(a), app.store.load_report(b)
        rows, pair = views.compare_runs(first, second), (first.run.id, second.run.id)
    runs = views.list_runs(app.store, limit=100)
    return _page("compare.html.j2", rows=rows, pair=pair, runs=runs, a=a, b=b, title="Compare")


@router.get("/leaderboard", response_class=HTMLResponse)
def leaderboard_page(app: App, rank_by: str = "decode_tps") -> HTMLResponse:
    if rank_by not in views.RANK_KEYS:
        raise HTTPException(422, f"rank_by must be one of {', '.join(views.RANK_KEYS)}")
    leaders = views.leaderboard(app.store, rank_by)
    columns = views.leaderboard_columns(leaders)
    return _page(
        "leaderboard.html.j2",
        leaders=leaders,
        columns=columns,
        rank_by=rank_by,
        title="Leaderboard",
    )


# The API's documentation: Swagger UI shipped in static/swagger, no CDN, no inline script.
DOCS_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pytest-lmbench dashboard API</title>
<link rel="stylesheet" href="/static/swagger/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script src="/static/swagger/init.js"></script></body></html>
"""


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def docs_page() -> HTMLResponse:
    return HTMLResponse(DOCS_PAGE)


@router.get("/start", response_class=HTMLResponse)
def start_page(app: App) -> HTMLResponse:
    if app.launcher is None or app.access.read_only:
        raise HTTPException(403, "this dashboard is read-only (--read-only)")
    return _start_page(app, None)


def _start_page(app: Dashboard, error: str | None) -> HTMLResponse:
    return _page(
        "start.html.j2",
        csrf=app.access.csrf,
        capabilities=CAPABILITIES,
        options=ALLOWED_OPTIONS,
        title="Start a run",
        error=error,
    )


def _same_origin(request: Request, csrf: str, app: Dashboard) -> None:
    origin = request.headers.get("origin")
    expected = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if (origin is not None and origin != expected) or not app.access.csrf_ok(csrf):
        raise HTTPException(403, "the form's CSRF token does not match this dashboard")
    if app.launcher is None or app.access.read_only:
        raise HTTPException(403, "this dashboard is read-only (--read-only)")


@router.post("/start")
async def start_form(request: Request, app: App, csrf: Annotated[str, Form()] = "") -> Response:
    _same_origin(request, csrf, app)
    assert app.launcher is not None
    form = await request.form()
    options: dict[str, str | int | float | bool] = {
        name: str(form[name]) for name in ALLOWED_OPTIONS if form.get(name)
    }
    try:
        body = RunRequest(
            models=[k.strip() for k in str(form.get("models", "")).split(",") if k.strip()],
            capabilities=[str(c) for c in form.getlist("capabilities")],
            backend=str(form.get("backend") or "") or None,
            base_url=str(form.get("base_url") or "") or None,
            options=options,
        )
        run_id = app.launcher.start(body)
    except (LaunchError, ValueError) as exc:
        return _start_page(app, " ".join(str(exc).split())[:300])
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.post("/runs/{run_id}/stop")
def stop_form(
    request: Request, app: App, run_id: str, csrf: Annotated[str, Form()] = ""
) -> Response:
    _same_origin(request, csrf, app)
    assert app.launcher is not None
    app.launcher.stop(run_id)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)
