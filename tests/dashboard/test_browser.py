"""The dashboard in a real headless Chromium (Playwright driving Debian's ``chromium``).

Start a run from the form, watch its progress bar reach 100 %, open the run, a
model's history and a comparison. Charts must be drawn, the console clean and
nothing fetched from anywhere but the dashboard. Screenshots of each page go to
``lmbench-results/screenshots/`` (a CI artifact).

Skipped when Playwright or Chromium is missing, unless LMBENCH_REQUIRE_CHROMIUM=1.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import capability_suites
from pytest_lmbench.testing import FakeModel, LMStudioTestServer
from pytest_lmbench.testing.oracle import oracle_rules

from .conftest import MODEL, RUN_A, RUN_B, Served, begin_run_elsewhere, fill_store

CHROMIUM = Path(os.environ.get("LMBENCH_CHROMIUM", "/usr/bin/chromium"))


def _need(ok: bool, reason: str) -> None:
    if ok:
        return
    if os.environ.get("LMBENCH_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"LMBENCH_REQUIRE_CHROMIUM=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def browser_page(request: pytest.FixtureRequest) -> Iterator[tuple[Any, list[str]]]:
    """A fresh page whose requests may only go to loopback; yields it and its problems."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "playwright is not installed (pip install playwright; no browser download)")
    _need(CHROMIUM.is_file(), f"{CHROMIUM} is not installed (apt-get install chromium)")
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        def guard(route: Any) -> None:
            host = urlsplit(route.request.url).hostname
            if host not in ("127.0.0.1", "localhost"):
                problems.append(f"request to {route.request.url}")
                route.abort()
            else:
                route.continue_()

        page.route("**/*", guard)
        page.on(
            "console",
            lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        yield page, problems
        browser.close()


@pytest.fixture
def lms() -> Iterator[LMStudioTestServer]:
    with LMStudioTestServer([FakeModel(key=MODEL, tool_use=True)]) as server:
        server.engine.script.ttft_s = 0.002
        server.engine.script.token_interval_s = 0.01  # slow enough to see the bar move
        server.engine.answers[:] = oracle_rules([Path(capability_suites.__file__).parent])
        yield server


def _charts_drawn(page: Any) -> int:
    return int(
        page.eval_on_selector_all(
            "svg", "s => s.filter(e => e.querySelector('circle, rect, path')).length"
        )
    )


def test_the_dashboard_in_a_browser(
    tmp_path: Path,
    serve_dashboard: Callable[..., Served],
    lms: LMStudioTestServer,
    browser_page: tuple[Any, list[str]],
    request: pytest.FixtureRequest,
) -> None:
    page, problems = browser_page
    shots = Path(request.config.rootpath) / "lmbench-results" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{tmp_path / 'results.db'}"
    fill_store(url)
    served = serve_dashboard(url)
    p = page

    p.goto(served.base_url + "/")
    assert p.locator("#runs tbody tr").count() == 3
    # A session elsewhere begins a run on the same store: the list shows it by itself.
    begin_run_elsewhere(url, "ffff0000-0000-4000-8000-000000000009", "2026-05-09T12:00:00+00:00")
    p.wait_for_selector("text=ffff0000", timeout=30_000)
    assert p.locator("#runs tbody tr").count() == 4
    p.screenshot(path=str(shots / "runs.png"), full_page=True)

    p.goto(served.base_url + "/start")
    p.fill("input[name=models]", MODEL)
    p.check("input[value=reasoning]")
    p.fill("input[name=base_url]", lms.base_url)
    p.fill("input[name=lm_max_tests]", "4")
    p.screenshot(path=str(shots / "start.png"), full_page=True)
    p.click("button[type=submit]")
    p.wait_for_url(re.compile(r".*/runs/[0-9a-f-]{36}$"))
    run_id = p.url.rsplit("/", 1)[1]

    # Live: the bar moves over server-sent events, then the page reloads as completed.
    p.wait_for_selector('.progress[data-status="completed"]', timeout=120_000)
    bar = p.locator(".progress progress")
    assert bar.get_attribute("value") == bar.get_attribute("max") == "4"
    assert p.inner_text(".progress .pct").strip() == "100 %"
    assert p.locator("#results tbody tr").count() == 4
    p.screenshot(path=str(shots / "run.png"), full_page=True)

    p.goto(f"{served.base_url}/runs/{run_id}/report")
    assert _charts_drawn(p) >= 1
    p.screenshot(path=str(shots / "report.png"), full_page=True)

    p.goto(f"{served.base_url}/models/{MODEL}")
    assert _charts_drawn(p) == 3  # decode, TTFT, quality (no J/token measured)
    p.screenshot(path=str(shots / "model.png"), full_page=True)

    p.goto(f"{served.base_url}/compare")
    p.select_option("select[name=a]", RUN_A)
    p.select_option("select[name=b]", RUN_B)
    p.click("button[type=submit]")
    p.wait_for_selector("#comparison tr.regression")
    p.screenshot(path=str(shots / "compare.png"), full_page=True)

    assert problems == []


def test_the_api_documentation_page_works_offline(
    tmp_path: Path,
    serve_dashboard: Callable[..., Served],
    browser_page: tuple[Any, list[str]],
    request: pytest.FixtureRequest,
) -> None:
    """/docs: FastAPI's Swagger UI from the copy shipped in the package, under the CSP."""
    page, problems = browser_page
    served = serve_dashboard(f"sqlite:///{tmp_path / 'results.db'}")
    page.goto(served.base_url + "/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    paths = page.eval_on_selector_all(".opblock-summary-path", "es => es.map(e => e.innerText)")
    assert "/api/runs" in [p.replace("\u200b", "") for p in paths]
    shots = Path(request.config.rootpath) / "lmbench-results" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "docs.png"), full_page=True)
    assert problems == []
