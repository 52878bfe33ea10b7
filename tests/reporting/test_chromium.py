"""The HTML report in a real headless Chromium: charts render, payloads stay inert,
our own script runs under the CSP, the console is clean and nothing touches the network.

Skipped when Chromium is missing, unless LMBENCH_REQUIRE_CHROMIUM=1 (then it fails).
LMBENCH_CHROMIUM overrides the binary path (default /usr/bin/chromium).
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.records import Report
from pytest_lmbench.reporting.html_report import render_html

CHROMIUM = Path(os.environ.get("LMBENCH_CHROMIUM", "/usr/bin/chromium"))
TIMEOUT_S = 120
HISTORY = {
    "qwen3-4b-instruct": [
        {"run_id": "r0", "started_at": "2025-05-20T10:00:00Z", "decode_tps_median": 49.0},
        {"run_id": "r1", "started_at": "2025-05-25T10:00:00Z", "decode_tps_median": 51.2},
    ]
}
# A browser started by us talks to Google on its own; those requests carry no origin.
BROWSER_INITIATED = "not an origin"


@dataclass(frozen=True)
class Run:
    stdout: str
    stderr: str
    netlog: Path


def _chromium() -> Path:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = f"{CHROMIUM} is not installed (apt-get install chromium, or set LMBENCH_CHROMIUM)"
    if os.environ.get("LMBENCH_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"LMBENCH_REQUIRE_CHROMIUM=1 but {reason}")
    pytest.skip(reason)


def _run(page: Path, work: Path, *extra: str) -> Run:
    """One isolated headless run: fresh profile, no DNS, a net log of every request."""
    netlog = work / "netlog.json"
    command = [
        str(_chromium()),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={work / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--log-net-log={netlog}",
        *extra,
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return Run(done.stdout, done.stderr, netlog)


def _page_requests(netlog: Path) -> list[str]:
    """URLs of requests the page made (anything not started by the browser itself)."""
    text = netlog.read_text(encoding="utf-8")
    try:
        data: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError:  # the log is closed on exit; be lenient if it was cut
        data = json.loads(text.rstrip().rstrip(",") + "]}")
    start_job = data["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in data["events"]:
        params = event.get("params", {})
        if event["type"] != start_job or "url" not in params:  # END events carry no params
            continue
        from_page = params.get("initiator") != BROWSER_INITIATED
        if from_page or "file://" in params.get("network_isolation_key", ""):
            urls.append(str(params.get("url")))
    return urls


def _console_lines(stderr: str) -> list[str]:
    # Chromium logs every console message (errors, CSP refusals, uncaught
    # exceptions) as ":CONSOLE"; our page writes none, so any line is a finding.
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


@pytest.fixture(scope="module")
def report_page(
    report_factory: Callable[..., Report], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    _chromium()
    page = tmp_path_factory.mktemp("page") / "report.html"
    page.write_text(render_html(report_factory(hostile=True), HISTORY), encoding="utf-8")
    return page


@pytest.fixture(scope="module")
def dom_run(report_page: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(report_page, tmp_path_factory.mktemp("dom"), "--dump-dom")


@pytest.fixture(scope="module")
def screenshot(report_page: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    work = tmp_path_factory.mktemp("shot")
    png = work / "report.png"
    run = _run(report_page, work, f"--screenshot={png}", "--window-size=1280,2000")
    return run, png


def test_charts_render_with_data(dom_run: Run) -> None:
    svgs = re.findall(r'<svg class="chart".*?</svg>', dom_run.stdout, flags=re.S)
    assert len(svgs) == 4
    marks = [len(re.findall(r"<(rect|circle|path)\b", svg)) for svg in svgs]
    assert all(count > 0 for count in marks), marks
    decode, quality, ttft, history = svgs
    assert "<rect" in decode
    assert "<path" in decode
    assert "<rect" in quality
    assert ttft.count("<circle") >= 8 * 3  # every request of the three throughput items
    assert "<path" in history
    assert "no history yet" not in history


def test_script_payload_did_not_execute(dom_run: Run) -> None:
    title = re.search(r"<title>(.*?)</title>", dom_run.stdout)
    assert title is not None
    assert title.group(1) == "lmbench report · 3f9c2a71"
    assert "pwned" not in title.group(1)
    # The payload survives as visible text, serialised escaped by the browser.
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom_run.stdout
    assert "<img src" not in dom_run.stdout


def test_own_script_ran_under_the_csp(dom_run: Run) -> None:
    assert 'data-js="ready"' in dom_run.stdout
    count = re.search(r'id="filter-count"[^>]*>([^<]*)<', dom_run.stdout)
    assert count is not None
    assert count.group(1) == "11 of 11 shown"


def test_console_is_clean(dom_run: Run, screenshot: tuple[Run, Path]) -> None:
    assert _console_lines(dom_run.stderr) == []
    assert _console_lines(screenshot[0].stderr) == []


def test_page_makes_no_network_request(dom_run: Run, screenshot: tuple[Run, Path]) -> None:
    assert _page_requests(dom_run.netlog) == []
    assert _page_requests(screenshot[0].netlog) == []


def test_netlog_check_catches_a_leaky_page(tmp_path: Path) -> None:
    """Control: the same check does see requests from a page that makes them."""
    page = tmp_path / "leaky.html"
    page.write_text(
        '<!doctype html><title>t</title><img src="http://example.invalid/x.png">',
        encoding="utf-8",
    )
    urls = _page_requests(_run(page, tmp_path, "--dump-dom").netlog)
    assert urls == ["http://example.invalid/x.png"]


def test_screenshot_is_taken(screenshot: tuple[Run, Path]) -> None:
    _, png = screenshot
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1280, 2000)
    assert png.stat().st_size > 50_000  # a blank page compresses to a few KB


SWEEP = [
    {"concurrency": 1, "aggregate_output_tps": 48.0, "ttft_p95_s": 0.21, "requests": 3},
    {"concurrency": 2, "aggregate_output_tps": 92.0, "ttft_p95_s": 0.24, "requests": 6},
    {"concurrency": 4, "aggregate_output_tps": 170.0, "ttft_p95_s": 0.31, "requests": 12},
    {"concurrency": 8, "aggregate_output_tps": 176.0, "ttft_p95_s": 0.62, "requests": 24},
]


def test_a_sweep_item_shows_its_curve_with_the_knee(
    report_factory: Callable[..., Report], tmp_path: Path
) -> None:
    report = report_factory()
    base = next(r for r in report.results if r.kind == "throughput")
    timing = {**base.timing, "sweep": SWEEP, "knee_concurrency": 4, "concurrency": 4}
    timing["sweep_stop"] = "throughput grew less than 5 %"
    sweep_item = base.model_copy(
        update={"case_id": "pp512-tg128-csweep", "nodeid": base.nodeid + "-sweep", "timing": timing}
    )
    report.results.append(sweep_item)
    page = tmp_path / "report.html"
    page.write_text(render_html(report, HISTORY), encoding="utf-8")
    run = _run(page, tmp_path, "--dump-dom")
    svgs = re.findall(r'<svg class="chart".*?</svg>', run.stdout, flags=re.S)
    assert len(svgs) == 5
    [curve] = [svg for svg in svgs if "Saturation sweep" in svg]
    dots = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="3.5"', curve)
    assert len(dots) == len(SWEEP)  # one point per level
    xs, ys = [float(x) for x, _ in dots], [float(y) for _, y in dots]
    assert xs == sorted(xs)  # TTFT p95 grows with the load here
    assert ys == sorted(ys, reverse=True)  # so does throughput (up is smaller y)
    [ring] = re.findall(r'<circle class="knee" cx="([\d.]+)" cy="([\d.]+)"', curve)
    assert (float(ring[0]), float(ring[1])) == (xs[2], ys[2])  # c=4, the knee
    assert "knee c=4" in curve
    assert "<path" in curve
    assert _console_lines(run.stderr) == []
